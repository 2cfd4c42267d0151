# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Client of a deployment's OpenAI-compatible inference endpoint (vLLM)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

from ansible_collections.inferops.exoscale.plugins.module_utils import ai, progress
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError, HttpClient
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import client_from_module
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

HINTS = {
    401: " The endpoint refused the API key: use the deployment's key (ai_deployment_info include_api_key=true).",
    404: " Check the URL (the deployment's deployment_url) and the model name (GET /v1/models lists it).",
    503: " The deployment is not serving yet (starting, scaled to zero, or warming up).",
}


# inference_api_key may be an organization AI API key: then the deployment's own key is not the advice.
GIVEN_KEY_REFUSED = (" The endpoint refused inference_api_key. If it is an organization AI API key, it was deleted or its"
                     " scope is another deployment (a key opens only the deployment of its scope, or with scope public"
                     " every deployment of its zone): inferops.exoscale.ai_api_key_info lists the keys and their"
                     " scopes. Otherwise use the deployment's own key (ai_deployment_info include_api_key=true).")


def serving_endpoint(client, wanted, api_key=None):
    """(url, API key) of deployment ``wanted`` (name or id); Refused when it does not serve (``details`` has its url).

    With ``api_key`` (an organization AI API key, say) that key is used and the deployment's own is not revealed.
    """
    deployment = ai.DEPLOYMENT.resolve(client, wanted)
    if deployment is None:
        raise Refused("Deployment %r does not exist; create it with inferops.exoscale.ai_deployment." % wanted)
    # A deployment that scales keeps serving with the replicas it keeps (as the rollout's shrink_then_grow relies on);
    # scaling up from 0 has none, and the endpoint's 503 then says so.
    if not deployment.get("deployment-url") or deployment.get("state") not in ("ready", "scaling"):
        raise Refused("Deployment %r is %s and has no serving endpoint yet (state details: %s)."
                      % (wanted, deployment.get("state"), deployment.get("state-details") or "none"))
    if deployment.get("replicas") == 0:
        raise Refused("Deployment %r is scaled to 0 replicas, so nothing serves its endpoint. Scale it up first"
                      " (inferops.exoscale.ai_deployment with replicas: 1 or more)." % wanted,
                      details=dict(url=deployment["deployment-url"]))
    return deployment["deployment-url"], api_key or ai.reveal_api_key(client, deployment["id"])


def endpoint_from_module(module):
    """(url, key) of a module's target: its ``url`` and ``inference_api_key``, or its ``deployment`` looked up."""
    params = module.params
    if params["url"]:
        return params["url"], params["inference_api_key"]
    try:
        url, key = serving_endpoint(client_from_module(module), params["deployment"], params["inference_api_key"])
    except Refused as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.no_log_values.add(key)
    return url, key


def api_root(deployment_url):
    """The URL under which ``/models`` and ``/chat/completions`` live, whether or not it ends in ``/v1``."""
    base = deployment_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


class InferenceClient(HttpClient):
    """Bearer-authenticated requests; POSTs are safe to repeat (inference has no side effects).

    Each retry while the endpoint is not serving yet (warm-up) is reported as progress.
    """

    def __init__(self, deployment_url, api_key, key_source="deployment", **kwargs):
        super(InferenceClient, self).__init__(api_root(deployment_url), **kwargs)
        self._api_key = api_key
        self.key_source = key_source  # "deployment": its own key, looked up; "given": inference_api_key
        self.started = time.monotonic()
        self.retries = 0
        self.last_status = None
        self.http.event_hooks = {"request": [self._sent], "response": [self._answered]}
        self._pause = self.sleep
        self.sleep = self._retry_pause

    def _sent(self, request):  # pylint: disable=unused-argument
        self.last_status = None

    def _answered(self, response):
        self.last_status = response.status_code

    def _retry_pause(self, seconds):
        self.retries += 1
        progress.report("inference", None, "HTTP %d" % self.last_status if self.last_status else "no answer",
                        time.monotonic() - self.started, "retry %d/%d" % (self.retries, self.retry.attempts - 1))
        self._pause(seconds)

    def auth_headers(self, method, path, content, query):
        return {"Authorization": "Bearer %s" % self._api_key}

    def hint(self, response):
        if response.status_code == 401 and self.key_source == "given":
            return GIVEN_KEY_REFUSED
        return HINTS.get(response.status_code, "")

    def served_models(self):
        listing = self.get("/models")
        entries = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise ExoscaleError("GET %s/models answered %s, not a model list ({\"data\": [{\"id\": ...}]}): is %s"
                                " an OpenAI-compatible endpoint?" % (self.base_url, describe_body(listing), self.base_url),
                                method="GET", path="/models")
        return [entry.get("id") for entry in entries]

    def chat(self, body):
        answer = self.request("POST", "/chat/completions", body=body, retry_writes=True)
        if self.retries:
            progress.report("inference", None, "answered", time.monotonic() - self.started)
        problem = chat_answer_problem(answer)
        if problem:
            raise ExoscaleError("POST %s/chat/completions answered %s: %s, so there is no answer to return."
                                % (self.base_url, describe_body(answer), problem),
                                method="POST", path="/chat/completions")
        return answer


def describe_body(body, limit=120):
    """What an endpoint sent back, for a message: ``an empty body``, ``a JSON list: []``..."""
    if body is None:
        return "an empty body"
    kind = {dict: "object", list: "list", str: "string", bool: "boolean"}.get(type(body), "number")
    text = json.dumps(body)
    return "a JSON %s: %s" % (kind, text if len(text) <= limit else text[:limit] + " ...")


def chat_answer_problem(answer):
    """Why ``answer`` is not an OpenAI chat completion, or None."""
    if not isinstance(answer, dict):
        return "a chat completion is a JSON object"
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        return "it has no choices list"
    if not isinstance(choices[0], dict) or not isinstance(choices[0].get("message") or {}, dict):
        return "its first choice has no message object"
    if not isinstance(answer.get("usage") or {}, dict):
        return "its usage is not an object"
    return None
