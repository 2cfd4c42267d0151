# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Hugging Face Hub, as far as preflight needs it: model info (``HfApi.model_info``'s request) and config.json.

Requests and error codes follow the ``huggingface_hub`` package: ``GET {endpoint}/api/models/{repo_id}``
(``?blobs=true`` adds file sizes), files at ``{endpoint}/{repo_id}/resolve/{revision}/{path}``, the endpoint
from ``HF_ENDPOINT``, the token as ``Authorization: Bearer``, and the ``X-Error-Code`` header
(``RepoNotFound``, ``GatedRepo``) to tell a missing repository from a gated one. The token is never put in
a message, a warning or a result.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from urllib.parse import quote

from ansible_collections.inferops.exoscale.plugins.module_utils.client import HttpClient, RetryPolicy

DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "HF_ENDPOINT"
# One retry only: an unreachable Hub must cost seconds, not the API client's full backoff, since the task goes on.
HUB_RETRY = RetryPolicy(attempts=2, base=0.5, cap=2.0)
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
# Bytes per parameter of the dtypes the Hub reports in ``safetensors.parameters``.
DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "BF16": 2, "F16": 2, "I16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
               "I8": 1, "U8": 1, "BOOL": 1}


class HubClient(HttpClient):
    """GETs against one Hub endpoint; errors are ExoscaleError with ``error_code`` and ``error_message`` set."""

    def __init__(self, endpoint=None, token=None, **kwargs):
        kwargs.setdefault("retry", HUB_RETRY)
        super(HubClient, self).__init__((endpoint or DEFAULT_ENDPOINT).rstrip("/"), **kwargs)
        self.http.follow_redirects = True  # resolve/ answers with redirects to the file store
        self._token = token

    def auth_headers(self, method, path, content, query):
        return {"Authorization": "Bearer %s" % self._token} if self._token else {}

    def _error(self, method, path, response, uncertain=False):
        error = super(HubClient, self)._error(method, path, response, uncertain=uncertain)
        error.error_code = response.headers.get("x-error-code")
        error.error_message = response.headers.get("x-error-message")
        return error

    def model_info(self, repo_id, revision=None):
        """The repository's info with file sizes (``siblings[].size``), as ``HfApi.model_info(files_metadata=True)``."""
        path = "/api/models/%s" % quote(repo_id, safe="/")
        if revision:
            path += "/revision/%s" % quote(revision, safe="")
        return self.get(path, query={"blobs": True}) or {}

    def config(self, repo_id, revision="main"):
        """The repository's config.json (layers, heads, max_position_embeddings...)."""
        return self.get("/%s/resolve/%s/config.json" % (quote(repo_id, safe="/"), quote(revision, safe=""))) or {}


def client_from_params(params, timeout=None):
    """The Hub client of a module's ``huggingface_api_url``, ``huggingface_token`` and ``validate_certs``."""
    return HubClient(params["huggingface_api_url"], token=params["huggingface_token"],
                     timeout=timeout or params["api_timeout"], validate_certs=params["validate_certs"])


def error_kind(error):
    """What a failed Hub request means: not_found, gated, invalid_token, forbidden or unreachable."""
    status = error.status
    code = getattr(error, "error_code", None)
    if code == "GatedRepo":
        return "gated"
    if code == "RepoNotFound" or status == 404:
        return "not_found"
    if status == 401:
        # The Hub answers 401 for a missing or private repo too; only this message means a bad token.
        message = getattr(error, "error_message", None) or error.api_message or ""
        return "invalid_token" if INVALID_CREDENTIALS.lower() in message.lower() else "not_found"
    if status == 403:
        return "forbidden"
    return "unreachable"


def weights(info):
    """``{safetensors, size, files}`` of a model info: whether it has safetensors weights and their size in bytes.

    The size is the sum of the ``.safetensors`` files' sizes, else the parameter count x dtype size from the
    ``safetensors`` summary, else None.
    """
    files = [sibling.get("rfilename", "") for sibling in info.get("siblings") or []]
    tensors = [sibling for sibling in info.get("siblings") or [] if sibling.get("rfilename", "").endswith(".safetensors")]
    summary = info.get("safetensors") or {}
    size = sum(sibling.get("size") or 0 for sibling in tensors) or None
    if size is None and summary.get("parameters"):
        size = sum(count * DTYPE_BYTES.get(dtype, 2) for dtype, count in summary["parameters"].items()) or None
    return dict(safetensors=bool(tensors or summary), size=size, files=files)
