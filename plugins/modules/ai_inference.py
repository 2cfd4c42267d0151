#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_inference
short_description: Send a chat request to an Exoscale AI deployment's OpenAI-compatible endpoint
version_added: 0.1.0
description:
  - Sends one chat completion request to a deployment and returns the answer, token usage and latency.
    Use it as a smoke test that a deployment really serves, not just that the API says V(ready).
  - The target is a deployment by name or id (the module looks up its URL and API key) or a URL and key given directly.
  - Retries while the endpoint answers HTTP 502, 503, 504, 429 or does not answer (a deployment can answer 503 for a
    while after it became V(ready)).
  - Read-only, so it never reports a change. In check mode it checks its options and looks the deployment up, sends
    no chat request, and returns the keys of an answer with V(null) values (the answer is not known before it is
    asked), unless the task sets C(check_mode=false).
  - An answer that is not an OpenAI chat completion (not a JSON object, an empty body, no C(choices)) fails the task
    with what came back.
author:
  - inferops contributors (@inferops)
options:
  deployment:
    description:
      - Name or id of the deployment to ask. Needs the Exoscale API credentials (shared options) to look up its URL and key.
      - Mutually exclusive with O(url).
    type: str
  url:
    description:
      - The inference endpoint, as in the deployment's C(deployment_url). With or without a trailing C(/v1).
      - Needs O(inference_api_key). Mutually exclusive with O(deployment).
    type: str
  inference_api_key:
    description:
      - API key of the inference endpoint. Required with O(url).
      - With O(deployment), this key is sent instead of the deployment's own, for example an organization AI API key
        from M(inferops.exoscale.ai_api_key), to prove that an application's key opens the deployment. Never logged.
    type: str
  prompt:
    description:
      - A user message. Mutually exclusive with O(messages).
    type: str
  messages:
    description:
      - Chat messages, each a dict with C(role) (V(system), V(user) or V(assistant)) and C(content).
    type: list
    elements: dict
  model:
    description:
      - Model name to request. Defaults to the first model the endpoint serves (C(GET /v1/models)).
    type: str
  max_tokens:
    description:
      - Maximum number of tokens to generate.
    type: int
    default: 64
  temperature:
    description:
      - Sampling temperature, a finite number V(0) or more. V(0) gives the most repeatable answers.
    type: float
    default: 0.0
  timeout:
    description:
      - Seconds to wait for one answer, from V(0.1) to V(3600).
    type: float
    default: 60
  retries:
    description:
      - How many times to retry while the endpoint is not serving yet (HTTP 429, 502, 503, 504, no answer).
    type: int
    default: 12
  retry_delay:
    description:
      - Seconds between retries (a C(Retry-After) header from the endpoint wins), from V(0) to V(3600).
    type: float
    default: 5
  expect:
    description:
      - A regular expression (a plain substring works too) that the answer must contain; the task fails otherwise.
    type: str
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.action
attributes:
  check_mode:
    details: Sends no chat request; the answer's keys are V(null).
'''

EXAMPLES = r'''
- name: Smoke-test a deployment by name
  inferops.exoscale.ai_inference:
    deployment: qwen-small
    prompt: Say hello in one word.
    max_tokens: 16
  register: answer

- name: Ask with a system message and check the answer
  inferops.exoscale.ai_inference:
    deployment: qwen-small
    messages:
      - role: system
        content: You are terse.
      - role: user
        content: What is the capital of Switzerland?
    expect: "(?i)bern|capital"

- name: Ask an endpoint directly with its URL and key
  inferops.exoscale.ai_inference:
    url: "{{ answer_url }}"
    inference_api_key: "{{ answer_key }}"
    prompt: ping
  vars:
    answer_url: "{{ lookup('ansible.builtin.env', 'DEPLOYMENT_URL') }}"
    answer_key: "{{ lookup('ansible.builtin.env', 'DEPLOYMENT_API_KEY') }}"
  when: lookup('ansible.builtin.env', 'DEPLOYMENT_URL') | length > 0
'''

RETURN = r'''
content:
  description: The answer's text (V(null) in check mode).
  returned: success
  type: str
  sample: Hello!
finish_reason:
  description: Why generation stopped, V(stop) or V(length) (O(max_tokens) reached).
  returned: success
  type: str
  sample: stop
usage:
  description: Token counts.
  returned: success
  type: dict
  contains:
    prompt_tokens:
      description: Tokens in the request.
      type: int
    completion_tokens:
      description: Tokens generated.
      type: int
    total_tokens:
      description: Both.
      type: int
latency_ms:
  description: Time of the successful request in milliseconds (V(null) in check mode).
  returned: success
  type: float
  sample: 412.7
model:
  description: The model that answered.
  returned: success
  type: str
  sample: Qwen/Qwen2.5-0.5B-Instruct
attempts:
  description: Requests sent for the answer, retries included.
  returned: success, and on failure once the endpoint was asked
  type: int
  sample: 1
url:
  description: The endpoint asked (without any key); in check mode V(null) when the deployment does not exist yet.
  returned: always
  type: str
'''

import math
import re

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.client import (
    ExoscaleError,
    HAS_HTTPX,
    TRANSIENT_STATUSES,
    RetryPolicy,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import (
    client_from_module,
    exoscale_module,
    fail_from_error,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.inference import (
    InferenceClient,
    endpoint_from_module,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import ConfigError, check_timeout


def check_messages(messages):
    for index, message in enumerate(messages):
        if not isinstance(message.get("content"), str) or message.get("role") not in ("system", "user", "assistant"):
            return ("messages[%d] must have role (system, user or assistant) and content (a string), got %r."
                    % (index, sorted(message)))
    return None


def number_problems(params):
    """Refusals of the numeric options: NaN, infinity and out-of-range values (NaN is not even valid JSON)."""
    problems = []
    if not math.isfinite(params["temperature"]) or params["temperature"] < 0:
        problems.append("temperature must be a finite number 0 or more, got %s." % params["temperature"])
    try:
        check_timeout(params["timeout"], option="timeout")
    except ConfigError as exc:
        problems.append(str(exc))
    if not (math.isfinite(params["retry_delay"]) and 0 <= params["retry_delay"] <= 3600):
        problems.append("retry_delay must be a number of seconds from 0 to 3600, got %s." % params["retry_delay"])
    return problems


def check_mode_result(module, messages):
    """What the task would do: the deployment it would ask (looked up, read-only), no chat request sent."""
    params = module.params
    url = params["url"]
    target = url
    if params["deployment"]:
        wanted = params["deployment"]
        try:
            found = ai.DEPLOYMENT.resolve(client_from_module(module), wanted)
        except AmbiguousName as exc:
            module.fail_json(msg=str(exc))
        except ExoscaleError as exc:
            fail_from_error(module, exc)
        url = (found or {}).get("deployment-url") or None
        target = "deployment %r (%s)" % (wanted, "%s, %s" % (found.get("state"), url) if found else
                                         "it does not exist yet: an earlier task of the run may create it")
    module.exit_json(changed=False, url=url, model=params["model"], content=None, finish_reason=None, usage={},
                     latency_ms=None, attempts=0,
                     msg="Check mode: would send %d message(s) to %s; sent nothing." % (len(messages), target))


def fail_inference(module, error, url, attempts):
    """fail_json for an inference request, saying what the retry and timeout options can change."""
    params = module.params
    message = str(error)
    if error.status is None and "Timeout" in message:
        message += (" No answer within timeout=%g s%s: raise timeout for long answers or a model that is still loading."
                    % (params["timeout"], "" if params["retries"] else " and retries=0"))
    elif error.status in TRANSIENT_STATUSES and params["retries"]:
        message += (" Gave up after %d attempts (retries=%d, retry_delay=%g s): raise them to wait longer."
                    % (attempts, params["retries"], params["retry_delay"]))
    # a request without an answer (timeout, connection lost) is not counted: its message says how many were sent
    extra = dict(attempts=attempts) if error.status is not None else {}
    module.fail_json(msg=message, api_error=error.details(), url=url, **extra)


def main():
    module = exoscale_module(
        dict(
            deployment=dict(type="str"),
            url=dict(type="str"),
            inference_api_key=dict(type="str", no_log=True),
            prompt=dict(type="str"),
            messages=dict(type="list", elements="dict"),
            model=dict(type="str"),
            max_tokens=dict(type="int", default=64, no_log=False),
            temperature=dict(type="float", default=0.0),
            timeout=dict(type="float", default=60),
            retries=dict(type="int", default=12),
            retry_delay=dict(type="float", default=5),
            expect=dict(type="str"),
        ),
        mutually_exclusive=[("deployment", "url"), ("prompt", "messages")],
        required_one_of=[("deployment", "url"), ("prompt", "messages")],
        required_by={"url": "inference_api_key"},
    )
    params = module.params
    if not HAS_HTTPX:
        client_from_module(module)  # fails with missing_required_lib
    problems = [
        "max_tokens must be at least 1." if params["max_tokens"] < 1 else None,
        "retries must be 0 or more." if params["retries"] < 0 else None,
        "timeout must be a positive number of seconds." if params["timeout"] <= 0 else None,
        "url must be an http(s) URL such as the deployment's deployment_url." if params["url"] and not re.match(r"^https?://", params["url"]) else None,
        check_messages(params["messages"]) if params["messages"] else None,
    ] + number_problems(params)
    if params["expect"]:
        try:
            expected = re.compile(params["expect"])
        except re.error as exc:
            problems.append("expect is not a valid regular expression: %s." % exc)
    if any(problems):
        module.fail_json(msg=" ".join(p for p in problems if p))

    messages = params["messages"] or [{"role": "user", "content": params["prompt"]}]
    if module.check_mode:
        check_mode_result(module, messages)
    url = inference = None
    sent_before = 0
    try:
        url, key = endpoint_from_module(module)
        retry = RetryPolicy(attempts=params["retries"] + 1, base=params["retry_delay"], cap=params["retry_delay"],
                            rand=lambda low, high: high)
        inference = InferenceClient(url, key, timeout=params["timeout"], retry=retry,
                                    key_source="given" if params["inference_api_key"] else "deployment")
        model = params["model"] or (inference.served_models() or [None])[0]
        if not model:
            module.fail_json(msg="The endpoint %s serves no model (GET /v1/models is empty)." % url, url=url)
        sent_before = inference.request_count
        answer = inference.chat(dict(model=model, messages=messages, max_tokens=params["max_tokens"],
                                     temperature=params["temperature"]))
    except AmbiguousName as exc:
        module.fail_json(msg=str(exc))
    except ExoscaleError as exc:
        if inference is None:
            fail_from_error(module, exc)
        fail_inference(module, exc, url, inference.request_count - sent_before)

    choice = (answer.get("choices") or [{}])[0]
    content = (choice.get("message") or {}).get("content") or ""
    result = dict(changed=False, url=url, model=answer.get("model", model), content=content,
                  finish_reason=choice.get("finish_reason"), usage=answer.get("usage", {}),
                  latency_ms=round(inference.last_elapsed * 1000, 1),
                  attempts=inference.request_count - sent_before)
    if params["expect"] and not expected.search(content):
        module.fail_json(msg="The answer does not match expect %r: %r" % (params["expect"], content), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
