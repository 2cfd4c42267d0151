"""Organisation quotas: GET /v2/quota and /v2/quota/{entity} (core API), GPU usage from deployments, limits enforced."""
import pytest
from exoscale.api import v2
from exoscale.api.exceptions import ExoscaleAPIClientException

from exoscale_ai_simulator.control import SimulatorControl

GPU_FAMILIES = {"gpu", "gpu2", "gpu3", "gpua30", "gpu3080ti", "gpua5000", "gpurtx6000pro"}


def _quotas(api, zone=None):
    return {entry["resource"]: entry for entry in api.ok("GET", "/quota", zone=zone)["quotas"]}


def _create(api, model, zone=None, **fields):
    body = {"name": "q", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1, **fields}
    return api.post("/ai/deployment", body, zone=zone)


def _scale(api, deployment, replicas, zone=None):
    return api.post(f"/ai/deployment/{deployment['id']}/scale", {"replicas": replicas}, zone=zone)


def test_list_and_get_quota_shape(api):
    quotas = _quotas(api)
    assert GPU_FAMILIES <= set(quotas) and "instance" in quotas
    assert all(set(entry) == {"resource", "usage", "limit"} for entry in quotas.values())
    assert quotas["gpua5000"] == {"resource": "gpua5000", "usage": 0, "limit": 32}
    assert api.ok("GET", "/quota/gpua5000") == quotas["gpua5000"]
    missing = api.get("/quota/gpuh100")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    assert "gpuh100" in missing.json()["detail"]


def test_usage_is_gpu_count_times_replicas_over_all_zones(api):
    """Quotas belong to the organisation: a deployment in de-fra-1 shows in /quota of every zone; public ones do not count."""
    model = api.ready_model(zone="de-fra-1")
    deployment = api.ready_deployment(model, zone="de-fra-1", **{"gpu-count": 2, "replicas": 2})
    for zone in (None, "de-fra-1", "at-vie-1"):
        assert _quotas(api, zone)["gpua5000"]["usage"] == 4
    assert _quotas(api)["gpurtx6000pro"]["usage"] == 0  # gpt-oss-120b (public, Exoscale's) runs on it
    other = api.ready_model()
    api.ready_deployment(other, **{"gpu-count": 1, "replicas": 3})
    assert api.ok("GET", "/quota/gpua5000")["usage"] == 7
    api.wait_operation(api.ok("POST", f"/ai/deployment/{deployment['id']}/scale", {"replicas": 0}, zone="de-fra-1"), zone="de-fra-1")
    assert api.ok("GET", "/quota/gpua5000")["usage"] == 3
    api.ok("DELETE", f"/ai/deployment/{deployment['id']}", zone="de-fra-1")
    assert api.ok("GET", "/quota/gpua5000")["usage"] == 3


def test_create_and_scale_up_beyond_the_limit_are_refused_with_403(server, api):
    control = SimulatorControl(server.url)
    assert control.limits(gpua5000=3)["gpua5000"] == 3
    model = api.ready_model()
    refused = _create(api, model, replicas=4)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/json"
    assert refused.json()["detail"].startswith("gpu-type: quota exceeded for gpua5000: 4 GPU(s) requested, 0 of 3 in use")
    assert api.ok("GET", "/ai/deployment", query="visibility=private")["deployments"] == []
    deployment = api.ready_deployment(model, replicas=2)
    assert _scale(api, deployment, 4).status_code == 403
    assert _scale(api, deployment, 3).status_code == 200
    api.wait_state("deployment", deployment["id"], ("ready",))
    other_zone = _create(api, api.ready_model(zone="ch-dk-2"), zone="ch-dk-2")
    assert other_zone.status_code == 403 and "3 of 3 in use" in other_zone.json()["detail"]
    # A lowered limit does not block scaling down, even while still above it.
    control.limits(gpua5000=1)
    assert _scale(api, deployment, 2).status_code == 200
    api.wait_state("deployment", deployment["id"], ("ready",))
    control.config(limits={"gpua5000": -1})
    assert api.ok("GET", "/quota/gpua5000") == {"resource": "gpua5000", "usage": 2, "limit": -1}
    assert _create(api, model, **{"gpu-count": 8, "replicas": 1}).status_code == 200


def test_capacity_and_authorization_still_answer_412(server, api):
    control = SimulatorControl(server.url)
    control.inventory(gpua5000={"free": 1})
    model = api.ready_model()
    short = _create(api, model, replicas=2)
    assert short.status_code == 412 and "not enough gpua5000" in short.json()["detail"]
    assert _create(api, model, **{"gpu-type": "gpu3"}).status_code == 412


def test_limits_control_validation_and_reset(server):
    control = SimulatorControl(server.url)
    for bad in ({"gpua5000": -2}, {"gpua5000": "8"}, {"gpua5000": True}):
        with pytest.raises(RuntimeError, match="limits.gpua5000"):
            control.limits(bad)
        with pytest.raises(RuntimeError, match="limits.gpua5000"):
            control.config(limits=bad)
    control.limits(gpuh100=4)
    assert control.config()["limits"]["gpuh100"] == 4
    control.reset()
    assert "gpuh100" not in control.limits() and control.limits()["gpua5000"] == 32


def test_official_client_reads_quotas(server, api):
    client = v2.Client(server.key, server.secret, url=server.url)
    api.ready_deployment(api.ready_model(), **{"gpu-type": "gpu3080ti", "gpu-count": 2})
    listed = {entry["resource"]: entry for entry in client.list_quotas()["quotas"]}
    assert listed["gpu3080ti"] == {"resource": "gpu3080ti", "usage": 2, "limit": 16}
    assert client.get_quota(entity="gpu3080ti") == listed["gpu3080ti"]
    with pytest.raises(ExoscaleAPIClientException, match="404"):
        client.get_quota(entity="nope")
