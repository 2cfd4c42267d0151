"""The OpenAI-compatible endpoint at each deployment's deployment-url."""
import pytest

from tests.simulator.tests.conftest import FAST, SignedClient
from exoscale_ai_simulator.server import start_in_thread

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.fixture
def serving(api):
    model = api.ready_model()
    deployment = api.ready_deployment(model)
    key = api.ok("GET", f"/ai/deployment/{deployment['id']}/api-key")["api-key"]
    return deployment, {"Authorization": f"Bearer {key}"}


def test_models_chat_and_completions(api, serving):
    deployment, headers = serving
    url = deployment["deployment-url"]
    models = api.http.get(f"{url}/models", headers=headers).json()
    assert models["object"] == "list" and models["data"][0]["id"] == QWEN
    chat = api.http.post(f"{url}/chat/completions", headers=headers,
                         json={"model": QWEN, "messages": [{"role": "user", "content": "What is the capital of Switzerland?"}]})
    assert chat.status_code == 200
    answer = chat.json()
    assert answer["object"] == "chat.completion" and answer["model"] == QWEN and answer["id"].startswith("chatcmpl-")
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert QWEN in choice["message"]["content"] and "Switzerland" in choice["message"]["content"]
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    again = api.http.post(f"{url}/chat/completions", headers=headers,
                          json={"model": QWEN, "messages": [{"role": "user", "content": "What is the capital of Switzerland?"}]})
    assert again.json()["choices"] == answer["choices"]
    completion = api.http.post(f"{url}/completions", headers=headers, json={"model": QWEN, "prompt": "Once upon a time", "max_tokens": 3})
    text = completion.json()
    assert text["object"] == "text_completion" and text["choices"][0]["finish_reason"] == "length"
    assert len(text["choices"][0]["text"].split()) == 3 and text["usage"]["completion_tokens"] == 3


def test_auth_model_and_route_errors(api, serving):
    deployment, headers = serving
    url = deployment["deployment-url"]
    for bad in ({}, {"Authorization": "Bearer wrong"}):
        response = api.http.get(f"{url}/models", headers=bad)
        assert response.status_code == 401 and set(response.json()["error"]) == {"message", "type", "code"}
    unknown = api.http.post(f"{url}/chat/completions", headers=headers, json={"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]})
    assert unknown.status_code == 404 and "gpt-4" in unknown.json()["error"]["message"]
    assert api.http.post(f"{url}/chat/completions", headers=headers, json={"model": QWEN}).status_code == 400
    assert api.http.get(f"{url}/embeddings", headers=headers).status_code == 404
    assert api.http.get(url.replace(deployment["id"], "00000000-0000-4000-8000-000000000000") + "/models", headers=headers).status_code == 404


def test_org_api_key_with_public_scope_is_accepted(api, serving):
    deployment, _unused = serving
    key = api.ok("POST", "/ai/api-key", {"name": "org", "scope": "public"})["value"]
    assert api.http.get(f"{deployment['deployment-url']}/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_503_when_scaled_to_zero_and_during_warmup(server, api, serving):
    deployment, headers = serving
    url = deployment["deployment-url"]
    server.store.config["inference_warmup"] = 2
    scale = api.ok("POST", f"/ai/deployment/{deployment['id']}/scale", {"replicas": 0})
    api.wait_operation(scale)
    api.wait_state("deployment", deployment["id"], ("ready",))
    response = api.http.get(f"{url}/models", headers=headers)
    assert response.status_code == 503 and "0 replicas" in response.json()["error"]["message"]
    api.wait_operation(api.ok("POST", f"/ai/deployment/{deployment['id']}/scale", {"replicas": 1}))
    api.wait_state("deployment", deployment["id"], ("ready",))
    statuses = [api.http.get(f"{url}/models", headers=headers).status_code for _unused in range(3)]
    assert statuses == [503, 503, 200]


def test_503_before_ready(server, api):
    model = api.ready_model()
    server.store.config["speed"] = 1.0
    operation = api.ok("POST", "/ai/deployment", {"name": "d", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1,
                                                  "replicas": 1})
    dep_id = operation["reference"]["id"]
    dep = server.store.zones["ch-gva-2"]["deployments"][dep_id]
    url = f"{server.base}/inference/ch-gva-2/{dep_id}/v1/models"
    response = api.http.get(url, headers={"Authorization": f"Bearer {dep['api-key']}"})
    assert response.status_code == 503 and "creating" in response.json()["error"]["message"]


def test_bare_url_style():
    handle = start_in_thread(speed=FAST, url_style="bare")
    client = SignedClient(handle.base, handle.key, handle.secret)
    try:
        deployment = client.ready_deployment(client.ready_model())
        assert deployment["deployment-url"].endswith(deployment["id"])
        key = client.ok("GET", f"/ai/deployment/{deployment['id']}/api-key")["api-key"]
        response = client.http.get(deployment["deployment-url"] + "/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
    finally:
        client.http.close()
        handle.stop()
