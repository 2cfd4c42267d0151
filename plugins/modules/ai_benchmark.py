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
  - Sends chat completion requests to a deployment's OpenAI-compatible endpoint and returns what `vllm bench serve`
    returns, under the same definitions, time to first token (TTFT), time per output token (TPOT), inter-token
    latency (ITL), end-to-end latency (E2EL), tokens, with the percentiles you choose, mean and standard deviation,
    goodput under an SLO, and errors by kind.
  - "Closed loop (the default): O(concurrency) clients, each sending its next request when its last one ended,
    until O(requests) were sent or O(duration) passed."
  - "Open loop: requests started at O(rate) requests per second, with constant gaps or gaps drawn from a Poisson
    process or a gamma distribution (O(burstiness), as in vLLM), optionally capped by O(concurrency); or a list of
    O(stages); or a O(sweep) of rates from low to saturation that reports the knee, the highest rate the deployment
    sustains (within the goodput SLO when O(sweep.goodput_min_percent) is set). The generator checks itself and warns
    when it could not start requests as fast as asked."
  - Use the figures to size O(inferops.exoscale.ai_deployment#module:gpu_type),
    O(inferops.exoscale.ai_deployment#module:gpu_count) and O(inferops.exoscale.ai_deployment#module:replicas)
    (the role R(inferops.exoscale.size_model,ansible_collections.inferops.exoscale.size_model_role) does it),
    and O(thresholds) to stop a rollout whose deployment does not meet them.
  - "Streams the answers (server-sent events) by default, so the first token is timed when it arrives. Requests are
    not retried; every failure is that request's error, also an answer of status 200 without generated text, a
    stream that does not end with C(data: [DONE]), and any chunk that is not a completion chunk."
  - The load is bounded whatever is asked, at most 10000 requests, 900 seconds, 500 requests per second and 128
    requests in flight. One deadline bounds the run, its duration plus O(timeout), also against an endpoint that
    keeps the connection open with keep-alives; the task fails when a request did not finish or none succeeded.
  - Read-only, so it never reports a change (O(save_result) writes a local file only). It sends nothing in check mode
    and returns the plan of the load instead.
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
      - Closed loop, how many requests are in flight at once (1 to 128), default 4.
      - With O(rate), O(stages) or O(sweep), the most requests in flight at once (default 128); a request due when
        that many are in flight starts late, and the generator then warns that it could not keep up, as vLLM's
        C(--max-concurrency) does.
    type: int
  requests:
    description:
      - How many requests to send in total (1 to 10000). Defaults to 20 when O(duration) is not set either.
      - With O(duration) too, the run stops at whichever comes first. With O(rate), the count of a run without
        O(duration).
    type: int
  duration:
    description:
      - Seconds during which requests are started (at most 900). Requests in flight then finish, each within
        O(timeout). With O(rate), the run starts O(rate) x O(duration) requests.
    type: float
  rate:
    description:
      - Open loop, requests started per second (more than 0, at most 500), whatever the answers take.
    type: float
  arrival:
    description:
      - How the gaps between open-loop requests are drawn. V(constant) is 1 / O(rate) each; V(poisson) gaps are
        exponential (a Poisson process, vLLM's default); V(gamma) gaps follow a gamma distribution of shape
        O(burstiness) and mean 1 / O(rate). The gaps are rescaled so that the run lasts O(requests) / O(rate), as
        vLLM does, and drawn from O(seed).
    type: str
    choices: [constant, poisson, gamma]
    default: poisson
  burstiness:
    description:
      - With O(arrival=gamma), the shape of the gamma distribution, as vLLM's C(--burstiness). V(1) is a Poisson
        process; lower values are burstier, higher ones more even. More than 0, at most 100.
    type: float
  stages:
    description:
      - Open-loop stages run one after the other, each with its own figures in RV(stages).
    type: list
    elements: dict
    suboptions:
      rate:
        description: Requests per second of the stage.
        type: float
      duration:
        description: Seconds of the stage.
        type: float
  sweep:
    description:
      - Open-loop stages at increasing rates, to find the knee, the highest rate a stage completes at
        (93 % of the rate or more, no error, and the goodput SLO met when O(sweep.goodput_min_percent) is set).
      - Without O(sweep.rates) or O(sweep.max_rate), a first closed-loop stage at O(concurrency) (default 16)
        measures the saturation throughput, and the rates then go up to 1.2 times it (GuideLLM's sweep).
    type: dict
    suboptions:
      rates:
        description: The rates to run (requests per second).
        type: list
        elements: float
      min_rate:
        description: Lowest rate; default O(sweep.max_rate) / O(sweep.steps).
        type: float
      max_rate:
        description: Highest rate.
        type: float
      steps:
        description: How many rates from O(sweep.min_rate) to O(sweep.max_rate) (2 to 20, default 6).
        type: int
      spacing:
        description: V(linear) steps, or V(geometric) (each rate a constant factor above the last).
        type: str
        choices: [linear, geometric]
      stage_duration:
        description: Seconds of each stage (default 5).
        type: float
      goodput_min_percent:
        description: A stage holds only when at least this share of its requests meets every O(goodput) SLO.
        type: float
      stop_after_knee:
        description: Stop after two stages in a row that do not hold.
        type: bool
        default: true
  warmup_requests:
    description:
      - Requests sent first and left out of the figures (0 to 100), each within O(timeout).
    type: int
    default: 0
  seed:
    description:
      - Seed of the arrival gaps and of the synthetic prompts and lengths, so a run can be repeated.
    type: int
    default: 0
  prompts:
    description:
      - User messages sent in turn, one per request. Mutually exclusive with O(input_tokens).
      - Defaults to one paragraph-long question.
    type: list
    elements: str
  input_tokens:
    description:
      - Synthetic prompts of this many words (about one token each), a number or C({min, max}) for a range drawn
        per request from O(seed).
    type: raw
  output_tokens:
    description:
      - Answer lengths, a number or C({min, max}), sent as C(max_tokens) with vLLM's C(ignore_eos) so that each
        answer has that many tokens. Without it, every request asks for O(max_tokens).
    type: raw
  max_tokens:
    description:
      - Maximum number of tokens each answer may have (1 to 32768).
    type: int
    default: 64
  temperature:
    description:
      - Sampling temperature (0 to 2).
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
      - Seconds to wait for one answer (more than 0, at most 600); a request that takes longer counts as an error
        C(timeout). The whole run ends at its duration plus this.
    type: float
    default: 60
  percentiles:
    description:
      - Percentiles returned for TTFT, TPOT, ITL and E2EL (as vLLM's C(--metric-percentiles)), each between 0 and 100.
    type: list
    elements: float
    default: [50, 95, 99]
  goodput:
    description:
      - Service level objectives in milliseconds (vLLM's C(--goodput)); a request is good when it meets every one
        that is set. Returns RV(goodput).
    type: dict
    suboptions:
      ttft_ms:
        description: Most milliseconds to the first token.
        type: float
      tpot_ms:
        description: Most milliseconds per output token after the first.
        type: float
      e2el_ms:
        description: Most milliseconds from sending to the end of the answer.
        type: float
  save_result:
    description:
      - Path of a JSON file to write with the figures under the field names of C(vllm bench serve --save-result
        --save-detailed) (see docs/benchmark.md), and the module's own result under C(inferops).
    type: path
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
      goodput_min_percent:
        description: Smallest share of requests, in percent, that must meet every O(goodput) SLO.
        type: float
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.action
attributes:
  check_mode:
    details: Sends no request; returns the plan of the load.
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

- name: Open-loop Poisson load with a goodput SLO, saved as vllm bench serve saves it
  inferops.exoscale.ai_benchmark:
    deployment: qwen-small
    rate: 4
    duration: 5
    input_tokens: {min: 16, max: 32}
    output_tokens: 16
    goodput: {ttft_ms: 2000, e2el_ms: 10000}
    thresholds: {goodput_min_percent: 90}
    save_result: /tmp/qwen-small-bench.json

- name: Find the knee
  inferops.exoscale.ai_benchmark:
    deployment: qwen-small
    sweep: {rates: [2, 4, 8], stage_duration: 2}
    output_tokens: 8
  register: sweep

- name: Show the knee
  ansible.builtin.debug:
    msg: "Sustains {{ sweep.sweep.knee.rate }} req/s ({{ sweep.sweep.knee.limited_by }})"
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
  description: Closed loop, requests in flight at once; open loop, the cap given in O(concurrency) (null without).
  returned: success
  type: int
  sample: 4
plan:
  description: In check mode, the load the run would send (mode, stages or rates, concurrency).
  returned: check mode
  type: dict
load:
  description: The load pattern (C(mode) concurrency, rate, stages or sweep; C(arrival), C(burstiness), C(seed),
    C(warmup_requests), C(concurrency)).
  returned: success
  type: dict
rate:
  description: With O(rate), the generator's check on itself, C(requested) and C(achieved) starts per second,
    C(kept_up) (achieved at least 95 % of requested), C(start_lag_ms) (how late requests started), C(waited_for_cap)
    (starts that waited for the O(concurrency) cap).
  returned: with O(rate)
  type: dict
  sample: {"requested": 4.0, "achieved": 3.98, "kept_up": true, "start_lag_ms": {"p50": 0.3, "p95": 1.1}}
stages:
  description: With O(stages), each stage's C(rate), C(requests), C(errors), C(completion_rate) (requests
    completed per second), C(ttft_ms), C(tpot_ms), C(e2el_ms), C(goodput).
  returned: with O(stages)
  type: list
  elements: dict
sweep:
  description: With O(sweep), C(rates) run, C(stages) (as RV(stages)), C(knee) (C(rate), the highest rate that held,
    C(completed_per_second), C(goodput_percent), C(limited_by), why the next rate did not hold) and
    C(saturation_rps), the highest completion rate of any stage.
  returned: with O(sweep)
  type: dict
  sample: {"knee": {"rate": 8.0, "completed_per_second": 7.9, "limited_by": "10 req/s: completed only 8.4 req/s"}}
goodput:
  description: With O(goodput), the SLOs, the C(requests) that met all of them, their C(percent) of the requests
    sent, and C(requests_per_second) (vLLM's request goodput).
  returned: with O(goodput)
  type: dict
  sample: {"slo": {"ttft_ms": 500}, "requests": 19, "percent": 95.0, "requests_per_second": 3.8}
save_result:
  description: The file written by O(save_result).
  returned: with O(save_result)
  type: str
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
unfinished:
  description: Requests still running at the deadline (they count as failed, and the task fails).
  returned: success
  type: int
errors:
  description: Failed requests by HTTP status (as text), or C(timeout), C(connection) (no answer), C(invalid answer)
    (not a JSON object), C(invalid chunk), C(incomplete stream) (no C([DONE])), C(no tokens), C(exception),
    C(unfinished).
  returned: success
  type: dict
  sample: {"503": 2}
error_details:
  description: One example message per kind of error.
  returned: success
  type: dict
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
  description: Time to first token in milliseconds (C(p50), C(p95), each of O(percentiles), C(mean), C(median),
    C(std), C(max)); null values without O(stream).
  returned: success
  type: dict
  sample: {"p50": 84.1, "p95": 97.3, "p99": 99.0, "mean": 85.0, "median": 84.1, "std": 4.2, "max": 99.2}
tpot_ms:
  description: Time per output token after the first, per request, in milliseconds (as RV(ttft_ms)).
  returned: success
  type: dict
itl_ms:
  description: Every gap between two chunks with text, in milliseconds (as RV(ttft_ms)).
  returned: success
  type: dict
e2el_ms:
  description: End-to-end latency, from sending to the end of the answer, in milliseconds (as RV(ttft_ms)).
  returned: success
  type: dict
input_tokens:
  description: Prompt tokens of the successful requests (the server's usage count).
  returned: success
  type: int
completed_per_second:
  description: Successful requests per second of wall time (vLLM's request throughput).
  returned: success
  type: float
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

import json
import os
import tempfile

from ansible_collections.inferops.exoscale.plugins.module_utils import benchmark
from ansible_collections.inferops.exoscale.plugins.module_utils.client import HAS_HTTPX, ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName
from ansible_collections.inferops.exoscale.plugins.module_utils.inference import HINTS, InferenceClient, endpoint_from_module
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import (
    client_from_module,
    exoscale_module,
    fail_from_error,
)

DEFAULT_PROMPT = "Explain in one paragraph what a GPU does when it serves a language model."
FLOAT = dict(type="float")
OPTIONS = dict(
    deployment=dict(type="str"), url=dict(type="str"), inference_api_key=dict(type="str", no_log=True),
    model=dict(type="str"), concurrency=dict(type="int"), requests=dict(type="int"), duration=FLOAT,
    rate=FLOAT, arrival=dict(type="str", default="poisson", choices=["constant", "poisson", "gamma"]),
    burstiness=FLOAT, stages=dict(type="list", elements="dict", options=dict(rate=FLOAT, duration=FLOAT)),
    sweep=dict(type="dict", options=dict(
        rates=dict(type="list", elements="float"), min_rate=FLOAT, max_rate=FLOAT, steps=dict(type="int"),
        spacing=dict(type="str", choices=["linear", "geometric"]), stage_duration=FLOAT,
        goodput_min_percent=FLOAT, stop_after_knee=dict(type="bool", default=True))),
    warmup_requests=dict(type="int", default=0), seed=dict(type="int", default=0),
    prompts=dict(type="list", elements="str"), input_tokens=dict(type="raw", no_log=False), output_tokens=dict(type="raw", no_log=False),
    max_tokens=dict(type="int", default=64, no_log=False), temperature=dict(type="float", default=0.0),
    stream=dict(type="bool", default=True), timeout=dict(type="float", default=60),
    percentiles=dict(type="list", elements="float", default=[50, 95, 99]),
    goodput=dict(type="dict", options=dict(ttft_ms=FLOAT, tpot_ms=FLOAT, e2el_ms=FLOAT)),
    thresholds=dict(type="dict", options=dict((name, dict(type="float", no_log=False)) for name in benchmark.THRESHOLDS)),
    save_result=dict(type="path"),
)


def save(path, document):
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".ai_benchmark-")
    with os.fdopen(handle, "w") as stream:
        json.dump(document, stream, indent=1)
    os.rename(temporary, path)


def main():
    module = exoscale_module(OPTIONS, mutually_exclusive=[("deployment", "url"), ("prompts", "input_tokens")],
                             required_one_of=[("deployment", "url")], required_together=[("url", "inference_api_key")])
    params = dict(module.params, prompts_given=module.params["prompts"] is not None)
    params["prompts"] = params["prompts"] or [DEFAULT_PROMPT]
    problems = benchmark.input_problems(params)
    if problems:
        module.fail_json(msg=" ".join(problems))
    if module.check_mode:
        module.exit_json(changed=False, msg="Check mode: no request was sent.", plan=benchmark.plan(params))
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

    layout = benchmark.plan(params)
    http = benchmark.http_client(url, layout.get("max_concurrency") or layout.get("concurrency"), params["timeout"])
    chat_url = inference.base_url + "/chat/completions"
    headers = inference.auth_headers("POST", "/chat/completions", b"", [])
    shapes = benchmark.request_shapes(
        1000, benchmark.random.Random(params["seed"]), params["prompts"], benchmark.token_range(params["input_tokens"], "")[0],
        benchmark.token_range(params["output_tokens"], "")[0], params["max_tokens"])

    def send(index, sample, deadline):
        prompt, max_tokens = shapes[index % len(shapes)]
        body = benchmark.chat_body(model, prompt, max_tokens, params["stream"], params["temperature"],
                                   ignore_eos=params["output_tokens"] is not None)
        return benchmark.send_one(http, chat_url, headers, body, timeout=params["timeout"], deadline=deadline,
                                  sample=sample)

    try:
        result, warnings, samples = benchmark.run_benchmark(params, send, name=params["deployment"] or url)
    finally:
        http.close()
    for warning in warnings:
        module.warn(warning)
    result.update(changed=False, url=url, model=model, concurrency=result["load"]["concurrency"],
                  stream=params["stream"])
    if params["save_result"]:
        try:
            save(params["save_result"], benchmark.vllm_result(result, samples, model, params))
        except (IOError, OSError) as exc:
            module.fail_json(msg="Cannot write save_result %s: %s" % (params["save_result"], exc), **result)
        result["save_result"] = params["save_result"]
    counts = result["requests"]
    if not counts["sent"] or result["unfinished"] or not counts["succeeded"]:
        status = max(result["errors"], key=result["errors"].get) if result["errors"] else ""
        module.fail_json(msg="%s (errors: %s).%s" % (
            "No request was started against %s" % url if not counts["sent"] else
            "%d of the %d requests to %s did not finish" % (result["unfinished"], counts["sent"], url)
            if result["unfinished"] else "None of the %d requests to %s succeeded" % (counts["sent"], url),
            ", ".join("%s x %d" % item for item in sorted(result["errors"].items())) or "none",
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
