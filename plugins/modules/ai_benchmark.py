#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_benchmark
short_description: Measure what an Exoscale AI deployment serves under a bounded load
version_added: 0.2.0
description:
  - Sends chat completion requests to a deployment's OpenAI-compatible endpoint from O(concurrency) clients at once,
    until O(requests) were sent or O(duration) passed, and returns time to first token, inter-token latency, output
    tokens per second (in total and per request), request latency percentiles and errors by HTTP status.
  - Use the figures to size O(inferops.exoscale.ai_deployment#module:gpu_type),
    O(inferops.exoscale.ai_deployment#module:gpu_count) and O(inferops.exoscale.ai_deployment#module:replicas),
    and O(thresholds) to stop a rollout whose deployment does not meet them.
  - Streams the answers (server-sent events) by default, so the first token is timed when it arrives. Definitions
    follow vLLM's serving benchmark. Requests are not retried; errors are counted.
  - The load is bounded whatever is asked, at most 10000 requests, 900 seconds and 128 concurrent clients.
  - Read-only, so it never reports a change. It sends nothing in check mode.
  - The target is a deployment by name or id (the module looks up its URL and API key) or a URL and key given directly.
author:
  - inferops contributors (@inferops)
options:
  deployment:
    description:
      - Name or id of the deployment to load. Needs the Exoscale API credentials (shared options) to look up its URL
        and key. Mutually exclusive with O(url).
    type: str
  url:
    description:
      - The inference endpoint, as in the deployment's C(deployment_url). With or without a trailing C(/v1).
      - Needs O(inference_api_key). Mutually exclusive with O(deployment).
    type: str
  inference_api_key:
    description:
      - API key of the inference endpoint given in O(url). Never logged.
    type: str
  model:
    description:
      - Model name to request. Defaults to the first model the endpoint serves (C(GET /v1/models)).
    type: str
  concurrency:
    description:
      - How many requests are in flight at once (1 to 128).
    type: int
    default: 4
  requests:
    description:
      - How many requests to send in total (1 to 10000). Defaults to 20 when O(duration) is not set either.
      - With O(duration) too, the run stops at whichever comes first.
    type: int
  duration:
    description:
      - Seconds during which requests are started (at most 900). Requests in flight then finish, each within
        O(timeout).
    type: float
  prompts:
    description:
      - User messages sent in turn, one per request.
    type: list
    elements: str
    default: [Explain in one paragraph what a GPU does when it serves a language model.]
  max_tokens:
    description:
      - Maximum number of tokens each answer may have.
    type: int
    default: 64
  temperature:
    description:
      - Sampling temperature.
    type: float
    default: 0.0
  stream:
    description:
      - Stream the answers, so that time to first token and inter-token latency can be measured. Without it only
        request latency and tokens per second are measured.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for one answer; a request that takes longer counts as an error C(timeout).
    type: float
    default: 60
  thresholds:
    description:
      - Figures the deployment must reach; the task fails when one is not met, saying what was measured against what
        was wanted. All figures of the run are returned either way.
    type: dict
    suboptions:
      ttft_p50_ms:
        description: Most milliseconds allowed for the median time to first token. Needs O(stream).
        type: float
      ttft_p95_ms:
        description: Most milliseconds allowed for the 95th percentile of time to first token. Needs O(stream).
        type: float
      inter_token_latency_ms_max:
        description: Most milliseconds allowed between two tokens (mean of all requests). Needs O(stream).
        type: float
      latency_p50_ms:
        description: Most milliseconds allowed for the median request latency.
        type: float
      latency_p95_ms:
        description: Most milliseconds allowed for the 95th percentile of request latency.
        type: float
      latency_p99_ms:
        description: Most milliseconds allowed for the 99th percentile of request latency.
        type: float
      tokens_per_second_min:
        description: Fewest output tokens per second, all requests together.
        type: float
      tokens_per_second_per_request_min:
        description: Fewest output tokens per second of the median request.
        type: float
      requests_per_second_min:
        description: Fewest requests per second.
        type: float
      error_rate_max:
        description: Largest share of failed requests allowed, from V(0) (none) to V(1).
        type: float
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Sends no request.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - While it runs (over a local connection) a progress line shows the requests sent every 5 seconds;
    E(INFEROPS_PROGRESS=0) or the variable C(inferops_progress=false) turns it off.
seealso:
  - module: inferops.exoscale.ai_inference
'''

EXAMPLES = r'''
- name: Measure a deployment with 4 concurrent clients
  inferops.exoscale.ai_benchmark:
    deployment: qwen-small
    requests: 20
    concurrency: 4
    max_tokens: 32
  register: bench

- name: Show the figures
  ansible.builtin.debug:
    msg: >-
      TTFT p95 {{ bench.ttft_ms.p95 }} ms, {{ bench.tokens_per_second.total }} tokens/s,
      latency p99 {{ bench.latency_ms.p99 }} ms, error rate {{ bench.error_rate }}

- name: Gate a rollout on what the deployment serves
  inferops.exoscale.ai_benchmark:
    deployment: qwen-small
    duration: 10
    concurrency: 8
    prompts:
      - Summarise the plot of Hamlet in two sentences.
      - Write a haiku about Geneva.
    thresholds:
      ttft_p95_ms: 2000
      tokens_per_second_min: 10
      error_rate_max: 0.01
'''

RETURN = r'''
url:
  description: The endpoint loaded (without any key).
  returned: when the endpoint is known
  type: str
model:
  description: The model requested.
  returned: success
  type: str
  sample: Qwen/Qwen2.5-0.5B-Instruct
concurrency:
  description: Requests in flight at once.
  returned: success
  type: int
  sample: 4
stream:
  description: Whether the answers were streamed.
  returned: success
  type: bool
requests:
  description: How many requests were sent, succeeded and failed.
  returned: success
  type: dict
  contains:
    sent:
      description: Requests sent.
      type: int
    succeeded:
      description: Requests answered with a 2xx status and read to the end.
      type: int
    failed:
      description: The others.
      type: int
errors:
  description: Failed requests by HTTP status (as text), or C(timeout), C(connection) when there was no answer.
  returned: success
  type: dict
  sample: {"503": 2}
error_rate:
  description: Share of failed requests, from 0 to 1.
  returned: success
  type: float
  sample: 0.0
duration_s:
  description: Wall time of the run in seconds.
  returned: success
  type: float
requests_per_second:
  description: Requests sent per second of wall time.
  returned: success
  type: float
output_tokens:
  description: Tokens generated by all successful requests (the server's usage count when it sends one).
  returned: success
  type: int
ttft_ms:
  description: Time to first token in milliseconds (C(p50), C(p95), C(mean), C(max)); null values without O(stream).
  returned: success
  type: dict
  sample: {"p50": 84.1, "p95": 97.3, "mean": 85.0, "max": 99.2}
inter_token_latency_ms:
  description: Mean gap between two tokens of a request in milliseconds, over the requests (C(p50), C(p95), C(mean),
    C(max)); null values without O(stream).
  returned: success
  type: dict
latency_ms:
  description: Request latency in milliseconds, from sending to the last byte (C(p50), C(p95), C(p99), C(mean),
    C(max)).
  returned: success
  type: dict
tokens_per_second:
  description: Output tokens per second, C(total) over the run's wall time and per request (C(per_request_p50),
    C(per_request_mean)); a request's figure is its decode speed, one over its inter-token latency.
  returned: success
  type: dict
  sample: {"total": 412.5, "per_request_p50": 110.2, "per_request_mean": 109.8}
thresholds:
  description: Each threshold that was set, with C(wanted), C(measured) and C(passed).
  returned: success, and when a threshold is not met
  type: dict
  sample: {"ttft_p95_ms": {"wanted": 500, "measured": 97.3, "passed": true}}
'''

from ansible_collections.inferops.exoscale.plugins.module_utils import benchmark
from ansible_collections.inferops.exoscale.plugins.module_utils.client import HAS_HTTPX, ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName
from ansible_collections.inferops.exoscale.plugins.module_utils.inference import HINTS, InferenceClient, endpoint_from_module
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import (
    client_from_module,
    exoscale_module,
    fail_from_error,
)

THRESHOLD_OPTIONS = dict((name, dict(type="float", no_log=False)) for name in benchmark.THRESHOLDS)


def input_problems(params):
    """What cannot work, each naming the option and what is allowed; said before any request."""
    problems = []
    if not 1 <= params["concurrency"] <= benchmark.MAX_CONCURRENCY:
        problems.append("concurrency must be 1 to %d, got %d." % (benchmark.MAX_CONCURRENCY, params["concurrency"]))
    if params["requests"] is not None and not 1 <= params["requests"] <= benchmark.MAX_REQUESTS:
        problems.append("requests must be 1 to %d, got %d." % (benchmark.MAX_REQUESTS, params["requests"]))
    if params["duration"] is not None and not 0 < params["duration"] <= benchmark.MAX_DURATION:
        problems.append("duration must be more than 0 and at most %g seconds, got %g."
                        % (benchmark.MAX_DURATION, params["duration"]))
    if params["max_tokens"] < 1:
        problems.append("max_tokens must be at least 1, got %d." % params["max_tokens"])
    if params["timeout"] <= 0:
        problems.append("timeout must be a positive number of seconds, got %g." % params["timeout"])
    if not params["prompts"] or not all(isinstance(p, str) and p.strip() for p in params["prompts"]):
        problems.append("prompts must be a non-empty list of non-empty strings.")
    if params["url"] and not params["url"].startswith(("http://", "https://")):
        problems.append("url must be an http(s) URL such as the deployment's deployment_url.")
    thresholds = params["thresholds"] or {}
    if thresholds.get("error_rate_max") is not None and not 0 <= thresholds["error_rate_max"] <= 1:
        problems.append("thresholds.error_rate_max must be 0 to 1, got %g." % thresholds["error_rate_max"])
    return problems + benchmark.threshold_problems(thresholds, params["stream"])


def main():
    module = exoscale_module(
        dict(
            deployment=dict(type="str"),
            url=dict(type="str"),
            inference_api_key=dict(type="str", no_log=True),
            model=dict(type="str"),
            concurrency=dict(type="int", default=4),
            requests=dict(type="int"),
            duration=dict(type="float"),
            prompts=dict(type="list", elements="str",
                         default=["Explain in one paragraph what a GPU does when it serves a language model."]),
            max_tokens=dict(type="int", default=64, no_log=False),
            temperature=dict(type="float", default=0.0),
            stream=dict(type="bool", default=True),
            timeout=dict(type="float", default=60),
            thresholds=dict(type="dict", options=THRESHOLD_OPTIONS),
        ),
        mutually_exclusive=[("deployment", "url")],
        required_one_of=[("deployment", "url")],
        required_together=[("url", "inference_api_key")],
    )
    params = module.params
    problems = input_problems(params)
    if problems:
        module.fail_json(msg=" ".join(problems))
    if module.check_mode:
        module.exit_json(changed=False, msg="Check mode: no request was sent.")
    if not HAS_HTTPX:
        client_from_module(module)  # fails with missing_required_lib

    url = None
    try:
        url, key = endpoint_from_module(module)
        inference = InferenceClient(url, key, timeout=params["timeout"])
        model = params["model"] or (inference.served_models() or [None])[0]
    except AmbiguousName as exc:
        module.fail_json(msg=str(exc))
    except ExoscaleError as exc:
        fail_from_error(module, exc, **(dict(url=url) if url else {}))
    if not model:
        module.fail_json(msg="The endpoint %s serves no model (GET /v1/models is empty)." % url, url=url)

    requests = params["requests"] or (benchmark.MAX_REQUESTS if params["duration"] else benchmark.DEFAULT_REQUESTS)
    chat_url = inference.base_url + "/chat/completions"
    headers = inference.auth_headers("POST", "/chat/completions", b"", [])
    prompts = params["prompts"]

    def send(index):
        body = benchmark.chat_body(model, prompts[index % len(prompts)], params["max_tokens"], params["stream"],
                                   params["temperature"])
        return benchmark.send_one(inference.http, chat_url, headers, body)

    samples, wall = benchmark.run_load(send, params["concurrency"], requests,
                                       params["duration"] or benchmark.MAX_DURATION,
                                       name=params["deployment"] or url)
    result = dict(changed=False, url=url, model=model, concurrency=params["concurrency"], stream=params["stream"],
                  **benchmark.summarize(samples, wall))
    if samples and not result["requests"]["succeeded"]:
        status = max(result["errors"], key=result["errors"].get)
        module.fail_json(msg="None of the %d requests to %s succeeded (errors: %s).%s" % (
            len(samples), url, ", ".join("%s x %d" % item for item in sorted(result["errors"].items())),
            HINTS.get(int(status), "") if status.isdigit() else ""), **result)
    verdicts, failures = benchmark.check_thresholds(result, params["thresholds"])
    if params["thresholds"]:
        result["thresholds"] = verdicts
    if failures:
        target = "Deployment %s" % params["deployment"] if params["deployment"] else url
        module.fail_json(msg="%s does not meet the thresholds: %s." % (target, "; ".join(failures)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
