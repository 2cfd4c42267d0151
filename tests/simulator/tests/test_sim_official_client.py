"""Interoperability with the official Python client (exoscale 0.16.4, signing by requests-exoscale-auth)."""
import time

import pytest
from exoscale.api import v2
from exoscale.api.exceptions import ExoscaleAPIAuthException, ExoscaleAPIClientException, ExoscaleAPIServerException

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.fixture
def client(server, monkeypatch):
    monkeypatch.setattr(v2, "_poll_interval", lambda run_time: 0.01)
    return v2.Client(server.key, server.secret, url=server.url)


def _wait_ready(get, resource_id, timeout=5):
    deadline = time.monotonic() + timeout
    while (resource := get(id=resource_id))["state"] not in ("ready", "error") and time.monotonic() < deadline:
        time.sleep(0.01)
    return resource


def test_full_round_trip(client):
    assert client.list_models() == {"models": []}
    operation = client.wait(client.create_model(name=QWEN)["id"])
    assert operation["state"] == "success" and operation["reference"]["command"] == "get-model"
    model = _wait_ready(client.get_model, operation["reference"]["id"])
    assert model["state"] == "ready"

    created = client.wait(client.create_deployment(name="chat", model={"id": model["id"]}, gpu_type="gpua5000", gpu_count=1, replicas=1,
                                                   inference_engine_parameters=["--max-model-len=8192"])["id"])
    dep_id = created["reference"]["id"]
    assert _wait_ready(client.get_deployment, dep_id)["deployment-url"]
    assert client.reveal_deployment_api_key(id=dep_id)["api-key"]
    assert client.get_deployment_logs(id=dep_id, tail=3)["logs"]
    assert {d["visibility"] for d in client.list_deployments(visibility="public")["deployments"]} == {"public"}
    client.wait(client.scale_deployment(id=dep_id, replicas=0)["id"])
    assert _wait_ready(client.get_deployment, dep_id)["replicas"] == 0
    client.wait(client.update_deployment(id=dep_id, name="chat-2")["id"])
    assert client.get_deployment(id=dep_id)["name"] == "chat-2"

    assert client.list_ai_instance_types()["instance-types"]
    assert client.get_inference_engine_help(version="0.28.0")["parameters"]
    assert client.get_user_org_consumption_quota() == {"quota-uom-per-minute": None}
    key = client.create_ai_api_key(name="ci", scope="public")
    assert client.get_ai_api_key(id=key["id"])["name"] == "ci"
    assert client.list_ai_api_keys()["ai-api-keys"][0]["id"] == key["id"]
    client.wait(client.delete_ai_api_key(id=key["id"])["id"])

    with pytest.raises(ExoscaleAPIClientException, match="412"):
        client.delete_model(id=model["id"])
    client.wait(client.delete_deployment(id=dep_id)["id"])
    client.wait(client.delete_model(id=model["id"])["id"])
    assert client.list_models() == {"models": []}


def test_zone_prefixed_url_and_errors(server, client):
    zoned = v2.Client(server.key, server.secret, url=f"{server.base}/de-fra-1/v2")
    zoned.wait(zoned.create_model(name=QWEN)["id"])
    assert len(zoned.list_models()["models"]) == 1 and client.list_models() == {"models": []}
    with pytest.raises(ExoscaleAPIAuthException):
        v2.Client(server.key, "wrong", url=server.url).list_models()
    with pytest.raises(ExoscaleAPIClientException, match="gpu-count"):
        client.create_deployment(name="x", model={"name": QWEN}, gpu_type="gpua5000", gpu_count=12, replicas=1)


def test_wait_raises_on_failed_operation(server, client):
    server.store.fail_next = {"count": 1, "reason": "fault", "message": "injected"}
    with pytest.raises(ExoscaleAPIServerException, match="failure"):
        client.wait(client.create_model(name=QWEN)["id"])
