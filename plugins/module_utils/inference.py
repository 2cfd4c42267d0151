# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Client of a deployment's OpenAI-compatible inference endpoint (vLLM)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils.client import HttpClient

HINTS = {
    401: " The endpoint refused the API key: use the deployment's key (ai_deployment_info include_api_key=true).",
    404: " Check the URL (the deployment's deployment_url) and the model name (GET /v1/models lists it).",
    503: " The deployment is not serving yet (starting, scaled to zero, or warming up).",
}


def api_root(deployment_url):
    """The URL under which ``/models`` and ``/chat/completions`` live, whether or not it ends in ``/v1``."""
    base = deployment_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


class InferenceClient(HttpClient):
    """Bearer-authenticated requests; POSTs are safe to repeat (inference has no side effects)."""

    def __init__(self, deployment_url, api_key, **kwargs):
        super(InferenceClient, self).__init__(api_root(deployment_url), **kwargs)
        self._api_key = api_key

    def auth_headers(self, method, path, content, query):
        return {"Authorization": "Bearer %s" % self._api_key}

    def hint(self, response):
        return HINTS.get(response.status_code, "")

    def served_models(self):
        return [entry.get("id") for entry in (self.get("/models") or {}).get("data", [])]

    def chat(self, body):
        return self.request("POST", "/chat/completions", body=body, retry_writes=True)
