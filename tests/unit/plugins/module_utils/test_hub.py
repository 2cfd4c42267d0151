# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Hugging Face Hub client: requests as huggingface_hub sends them, error kinds, weights, token handling."""

import httpx
import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils import hub
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from tests.unit.plugins.module_utils.exo_fakes import FakeServer, json_response

TOKEN = "hf_secretTOKEN0123456789"


@pytest.fixture
def make_hub():
    clients = []

    def factory(script=None, route=None, token=None, endpoint="https://hub.example/mirror/"):
        client = hub.HubClient(endpoint, token=token, validate_certs=False, sleep=lambda seconds: None)
        server = FakeServer(script, route)
        original = client.http
        original.close()
        # The fake transport keeps the client's own headers and redirect setting.
        client.http = httpx.Client(transport=httpx.MockTransport(server), headers=original.headers,
                                   follow_redirects=original.follow_redirects)
        clients.append(client)
        return client, server

    yield factory
    for client in clients:
        client.close()


def test_model_info_request_matches_huggingface_hub(make_hub):
    client, server = make_hub([json_response(200, {"id": "Qwen/Qwen3-8B"})], token=TOKEN)
    assert client.model_info("Qwen/Qwen3-8B") == {"id": "Qwen/Qwen3-8B"}
    request = server.requests[0]
    assert str(request.url) == "https://hub.example/mirror/api/models/Qwen/Qwen3-8B?blobs=true"
    assert request.headers["authorization"] == "Bearer " + TOKEN


def test_no_token_no_authorization_header(make_hub):
    client, server = make_hub([json_response(200, {"num_hidden_layers": 2})])
    assert client.config("org/model") == {"num_hidden_layers": 2}
    assert server.requests[0].url.path == "/mirror/org/model/resolve/main/config.json"
    assert "authorization" not in server.requests[0].headers


def test_revision_is_quoted(make_hub):
    client, server = make_hub([json_response(200, {})])
    client.model_info("org/model", revision="refs/pr/1")
    assert server.requests[0].url.raw_path.startswith(b"/mirror/api/models/org/model/revision/refs%2Fpr%2F1")


def test_default_endpoint_is_huggingface():
    client = hub.HubClient(validate_certs=False)
    assert client.base_url == "https://huggingface.co"
    client.close()


@pytest.mark.parametrize("status, headers, kind", [
    (404, {"X-Error-Code": "RepoNotFound"}, "not_found"),
    (401, {"X-Error-Code": "RepoNotFound"}, "not_found"),
    (401, {}, "not_found"),  # the Hub says 401 for a missing or private repository without a token
    (401, {"X-Error-Message": "Invalid credentials in Authorization header"}, "invalid_token"),
    (403, {"X-Error-Code": "GatedRepo"}, "gated"),
    (401, {"X-Error-Code": "GatedRepo"}, "gated"),
    (403, {}, "forbidden"),
    (500, {}, "unreachable"),
    (503, {}, "unreachable"),
])
def test_error_kind(make_hub, status, headers, kind):
    client, dummy = make_hub(route=lambda request: json_response(status, {"error": "nope"}, headers=headers),
                             token=TOKEN)
    with pytest.raises(ExoscaleError) as caught:
        client.model_info("org/model")
    assert hub.error_kind(caught.value) == kind
    assert TOKEN not in str(caught.value)


def test_unreachable_hub_is_retried_once_then_reported(make_hub):
    client, server = make_hub(route=lambda request: httpx.ConnectError("no route", request=request), token=TOKEN)
    with pytest.raises(ExoscaleError) as caught:
        client.model_info("org/model")
    assert len(server.requests) == hub.HUB_RETRY.attempts == 2
    assert hub.error_kind(caught.value) == "unreachable" and TOKEN not in str(caught.value)


def test_redirects_are_followed(make_hub):
    def route(request):
        if request.url.path.endswith("/resolve/main/config.json"):
            return httpx.Response(302, headers={"Location": "https://cdn.example/blob/config.json"})
        return json_response(200, {"model_type": "llama"})
    client, server = make_hub(route=route)
    assert client.config("org/model") == {"model_type": "llama"}
    assert [r.url.host for r in server.requests] == ["hub.example", "cdn.example"]


def test_weights_sum_the_safetensors_files():
    info = {"siblings": [{"rfilename": "model-00001-of-00002.safetensors", "size": 4000},
                         {"rfilename": "model-00002-of-00002.safetensors", "size": 1000},
                         {"rfilename": "pytorch_model.bin", "size": 9000}, {"rfilename": "config.json", "size": 1}],
            "safetensors": {"parameters": {"BF16": 2500}, "total": 2500}}
    assert hub.weights(info)["size"] == 5000 and hub.weights(info)["safetensors"]


def test_weights_from_the_parameter_count_when_sizes_are_missing():
    info = {"siblings": [{"rfilename": "model.safetensors"}], "safetensors": {"parameters": {"BF16": 100, "F32": 10}}}
    assert hub.weights(info) == dict(safetensors=True, size=240, files=["model.safetensors"])


def test_weights_of_a_gguf_repo():
    info = {"siblings": [{"rfilename": "gpt-oss-20b-mxfp4.gguf", "size": 12}], "gguf": {"total": 20}}
    assert hub.weights(info) == dict(safetensors=False, size=None, files=["gpt-oss-20b-mxfp4.gguf"])
