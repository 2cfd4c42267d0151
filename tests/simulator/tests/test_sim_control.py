"""The /_sim/ control API through SimulatorControl: fault injection, request log, errors, config, inventory, reset."""
import time

import httpx
import pytest

from exoscale_ai_simulator.control import SimulatorControl

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.fixture
def control(server):
    return SimulatorControl(server.url)


def test_url_forms(server):
    assert SimulatorControl(server.url).base == SimulatorControl(server.base + "/").base == server.base


def test_status_fault_answers_without_processing(api, control):
    control.inject("POST", "/v2/ai/model", status=503, count=2, retry_after=2)
    assert control.faults()[0]["count"] == 2
    for _unused in range(2):
        response = api.post("/ai/model", {"name": QWEN}, check=False)
        assert response.status_code == 503 and response.headers["Retry-After"] == "2"
        assert response.json()["status"] == 503 and response.json()["detail"]
    assert api.ok("GET", "/ai/model")["models"] == []
    assert control.faults() == []
    assert api.post("/ai/model", {"name": QWEN}).status_code == 200


def test_status_fault_with_body_method_filter_and_glob(api, control):
    control.inject("DELETE", "/v2/ai/*", status=429, body={"message": "slow down"})
    assert api.get("/ai/model").status_code == 200
    control.inject("*", "*/deployment*", status=500, count=1)
    assert api.get("/ai/deployment", check=False).status_code == 500
    assert api.get("/ai/model/00000000-0000-4000-8000-000000000000").status_code == 404
    response = api.delete("/ai/model/00000000-0000-4000-8000-000000000000", check=False)
    assert response.status_code == 429 and response.json() == {"message": "slow down"}
    control.inject("*", "*")
    assert control.state()["faults"]
    control.clear_faults()
    assert control.faults() == []


def test_drop_closes_before_processing(api, control):
    control.inject("POST", "/v2/ai/model", action="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/ai/model", {"name": QWEN}, check=False)
    assert api.ok("GET", "/ai/model")["models"] == []
    assert control.requests()[0]["status"] is None


def test_drop_after_processes_then_loses_the_response(api, control):
    control.inject("POST", "/v2/ai/model", action="drop_after")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/ai/model", {"name": QWEN}, check=False)
    assert len(api.ok("GET", "/ai/model")["models"]) == 1
    assert control.requests()[0]["status"] == 200


def test_delay_causes_client_read_timeouts(api, control):
    control.inject("GET", "/v2/ai/model", action="delay", delay=0.5)
    api.http.timeout = httpx.Timeout(0.1)
    with pytest.raises(httpx.ReadTimeout):
        api.get("/ai/model")
    api.http.timeout = httpx.Timeout(5)
    started = time.monotonic()
    control.inject("GET", "/v2/ai/model", action="delay", delay=0.2)
    assert api.get("/ai/model").status_code == 200 and time.monotonic() - started >= 0.2


def test_faults_apply_to_inference_routes(server, api, control):
    control.inject("POST", "/inference/*/chat/completions", status=503)
    response = api.http.post(f"{server.base}/inference/ch-gva-2/x/v1/chat/completions", json={})
    assert response.status_code == 503 and "error" in response.json()


def test_invalid_fault_is_rejected(control):
    with pytest.raises(RuntimeError, match="action"):
        control.inject("GET", "*", action="explode")


def test_request_log(api, control, server):
    api.get("/ai/model")
    api.get("/ai/deployment", query="visibility=public", zone="de-fra-1")
    api.get("/ai/model", secret="wrong")
    api.http.get(f"{server.base}/inference/ch-gva-2/x/v1/models")
    entries = control.requests()
    assert [(e["method"], e["path"], e["status"], e["zone"]) for e in entries] == [
        ("GET", "/v2/ai/model", 200, "ch-gva-2"), ("GET", "/de-fra-1/v2/ai/deployment", 200, "de-fra-1"),
        ("GET", "/v2/ai/model", 403, "ch-gva-2")]
    assert entries[1]["query"] == {"visibility": "public"} and entries[0]["time"].endswith("Z")
    assert [e["kind"] for e in control.requests(kind=None)] == ["api"] * 3 + ["inference"]
    assert control.requests(kind="inference")[0]["status"] == 404
    control.clear_requests()
    assert control.requests(kind=None) == []


def test_error_injection_on_resources(api, control):
    model = api.ready_model()
    deployment = api.ready_deployment(model)
    control.error_deployment(deployment["id"], "GPU fell off the bus")
    errored = api.ok("GET", f"/ai/deployment/{deployment['id']}")
    assert errored["state"] == "error" and errored["state-details"] == "GPU fell off the bus"
    assert "GPU fell off the bus" in api.ok("GET", f"/ai/deployment/{deployment['id']}/logs")["logs"][-2]["message"]
    control.error_model(model["id"], "storage corrupted")
    assert api.ok("GET", f"/ai/model/{model['id']}")["state"] == "error"
    with pytest.raises(RuntimeError, match="404"):
        control.error_model("00000000-0000-4000-8000-000000000000")


def test_fail_next_operation(api, control):
    control.fail_next_operation(count=1, reason="fault", message="boom")
    operation = api.wait_operation(api.ok("POST", "/ai/model", {"name": QWEN}))
    assert (operation["state"], operation["reason"], operation["message"]) == ("failure", "fault", "boom")
    assert api.wait_operation(api.ok("POST", "/ai/model", {"name": QWEN}))["state"] == "success"


def test_config_inventory_state_and_reset(api, control):
    assert control.config()["speed"] == 1000
    changed = control.config(speed=2, inference_warmup=1, timings={"operation": 4}, quota=1000)
    assert changed["speed"] == 2.0 and changed["timings"]["operation"] == 4 and changed["inference_warmup"] == 1
    assert api.ok("GET", "/ai/quota") == {"quota-uom-per-minute": 1000}
    with pytest.raises(RuntimeError, match="unknown config"):
        control.config(colour="red")
    control.inventory(gpua5000={"free": 0}, gpu3={"free": 4, "authorized": True})
    families = {t["family"]: t["authorized"] for t in api.ok("GET", "/ai/instance-type")["instance-types"]}
    assert families["gpu3"] is True
    assert control.inventory()["gpua5000"] == {"free": 0, "authorized": True}
    model = control.state()
    assert set(model) >= {"config", "inventory", "zones", "faults"}
    api.ok("POST", "/ai/model", {"name": QWEN})
    control.inject("*", "/nothing")
    control.reset()
    assert control.config()["speed"] == 1000 and control.faults() == [] and control.inventory()["gpua5000"]["free"] == 16
    assert api.ok("GET", "/ai/model")["models"] == []
