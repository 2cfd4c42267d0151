"""Every AI operation's happy path (answers validated against the spec by the `api` client) and the 4xx answers."""
import uuid

import pytest

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def test_model_lifecycle(api):
    operation = api.ok("POST", "/ai/model", {"name": QWEN})
    assert operation["state"] == "pending"
    assert operation["reference"]["link"] == f"/v2/ai/model/{operation['reference']['id']}"
    assert operation["reference"]["command"] == "get-model"
    assert uuid.UUID(operation["reference"]["id"]).version == 4
    assert api.wait_operation(operation)["state"] == "success"
    model = api.wait_state("model", operation["reference"]["id"], ("ready",))
    assert model["model-size"] == 988_097_824 and model["created-at"].endswith("Z")
    assert [m["id"] for m in api.ok("GET", "/ai/model")["models"]] == [model["id"]]
    deletion = api.ok("DELETE", f"/ai/model/{model['id']}")
    assert api.wait_operation(deletion)["state"] == "success"
    assert api.get(f"/ai/model/{model['id']}").status_code == 404


def test_deployment_lifecycle(server, api):
    server.store.config["timings"]["deployment_updating"] = 500.0  # 0.5 s at FAST: long enough to be seen on a loaded machine
    model = api.ready_model()
    deployment = api.ready_deployment(model, name="chat", **{"inference-engine-parameters": ["--max-model-len=4096"]})
    assert deployment["state"] == "ready" and deployment["deployment-url"].endswith(f"/inference/ch-gva-2/{deployment['id']}/v1")
    assert deployment["inference-engine-version"] == "0.28.0" and deployment["model"] == {"id": model["id"], "name": QWEN}
    path = f"/ai/deployment/{deployment['id']}"
    listed = api.ok("GET", "/ai/deployment", query="visibility=private")["deployments"]
    assert [d["id"] for d in listed] == [deployment["id"]]
    assert api.ok("GET", path + "/api-key")["api-key"].startswith("sk-")
    logs = api.ok("GET", path + "/logs")["logs"]
    assert any("Application startup complete" in line["message"] for line in logs)
    assert len(api.ok("GET", path + "/logs", query="tail=2")["logs"]) == 2

    update = api.ok("PATCH", path, {"name": "chat2", "inference-engine-parameters": ["--max-num-seqs=8"]})
    assert update["reference"]["command"] == "get-deployment"
    assert api.ok("GET", path)["state"] == "updating"
    api.wait_operation(update)
    updated = api.wait_state("deployment", deployment["id"], ("ready",))
    assert updated["name"] == "chat2" and updated["inference-engine-parameters"] == ["--max-num-seqs=8"]

    scale = api.ok("POST", path + "/scale", {"replicas": 0})
    api.wait_operation(scale)
    scaled = api.wait_state("deployment", deployment["id"], ("ready",))
    assert scaled["replicas"] == 0

    deletion = api.ok("DELETE", path)
    assert api.wait_operation(deletion)["state"] == "success"
    assert api.get(path).status_code == 404
    assert api.ok("DELETE", f"/ai/model/{model['id']}")["state"] == "pending"


def test_public_deployments_and_visibility_filter(api):
    everything = api.ok("GET", "/ai/deployment")["deployments"]
    public = api.ok("GET", "/ai/deployment", query="visibility=public")["deployments"]
    assert {d["name"] for d in public} >= {"gpt-oss-120b"} and all(d["visibility"] == "public" for d in public)
    assert len(everything) == len(public)
    assert api.ok("GET", "/ai/deployment", query="visibility=private")["deployments"] == []
    assert api.get("/ai/deployment", query="visibility=secret").status_code == 400
    assert api.delete(f"/ai/deployment/{public[0]['id']}").status_code == 403


def test_instance_types_help_quota(api):
    families = {t["family"]: t["authorized"] for t in api.ok("GET", "/ai/instance-type")["instance-types"]}
    assert families == {"gpua5000": True, "gpu3080ti": True, "gpurtx6000pro": True, "gpu3": False}
    parameters = api.ok("GET", "/ai/help/inference-engine-parameters", query="version=0.28.0")["parameters"]
    flags = {flag for entry in parameters for flag in entry["flags"]}
    assert {"--max-model-len", "--gpu-memory-utilization", "--enable-prefix-caching", "--dtype", "--kv-cache-dtype"} <= flags
    dtype = next(entry for entry in parameters if entry["name"] == "dtype")
    assert "bfloat16" in dtype["allowed-values"]
    old = api.ok("GET", "/ai/help/inference-engine-parameters", query="version=0.12.0")["parameters"]
    assert len(old) < len(parameters)
    assert api.ok("GET", "/ai/help/inference-engine-parameters")["parameters"] == parameters
    unknown = api.get("/ai/help/inference-engine-parameters", query="version=9.9.9")
    assert unknown.status_code == 400 and "0.28.0" in unknown.json()["detail"]
    assert api.ok("GET", "/ai/quota") == {"quota-uom-per-minute": None}


def test_org_ai_api_keys(api):
    created = api.ok("POST", "/ai/api-key", {"name": "ci key", "scope": "public"})
    assert created["value"] and created["scope"] == "public"
    listed = api.ok("GET", "/ai/api-key")["ai-api-keys"]
    assert [k["id"] for k in listed] == [created["id"]] and "value" not in listed[0]
    assert api.ok("GET", f"/ai/api-key/{created['id']}")["name"] == "ci key"
    deletion = api.ok("DELETE", f"/ai/api-key/{created['id']}")
    assert deletion["reference"]["command"] == "get-ai-api-key"
    assert api.wait_operation(deletion)["state"] == "success"
    assert api.get(f"/ai/api-key/{created['id']}").status_code == 404
    assert api.post("/ai/api-key", {"name": "-bad name", "scope": "public"}).status_code == 400
    assert api.post("/ai/api-key", {"name": "k", "scope": str(uuid.uuid4())}).status_code == 404
    assert api.post("/ai/api-key", {"name": "k", "scope": "everything"}).status_code == 400


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": 42}, "name"),
    ({"name": QWEN, "colour": "red"}, "colour"),
])
def test_create_model_body_validation(api, body, field):
    response = api.post("/ai/model", body)
    problem = response.json()
    assert response.status_code == 400 and problem["detail"].startswith(field), problem
    assert set(problem) == {"type", "title", "status", "detail"} and problem["status"] == 400


def test_invalid_json_and_missing_body(api):
    assert api.request("POST", "/ai/model", raw=b"{not json").status_code == 400
    assert api.request("POST", "/ai/model", raw=b"").status_code == 400


@pytest.mark.parametrize("change, status, words", [
    ({"gpu-count": 0}, 400, "gpu-count"),
    ({"gpu-count": 9}, 400, "gpu-count"),
    ({"replicas": 0}, 400, "replicas"),
    ({"gpu-type": "tpu"}, 400, "gpua5000"),
    ({"gpu-type": "gpu3"}, 412, "not authorized"),
    ({"gpu-count": 4, "replicas": 5}, 412, "not enough gpua5000"),
    ({"model": {}}, 400, "model"),
    ({"model": {"id": "nope"}}, 400, "model.id"),
    ({"model": {"id": "00000000-0000-4000-8000-000000000000"}}, 400, "no model"),
    ({"name": ""}, 400, "name"),
    ({"inference-engine-version": "1.0"}, 400, "allowed values: 0.12.0"),
    ({"inference-engine-parameters": ["--no-such-flag=1"]}, 400, "--no-such-flag"),
    ({"inference-engine-parameters": ["--dtype=int3"]}, 400, "bfloat16"),
    ({"inference-engine-parameters": ["--async-scheduling"], "inference-engine-version": "0.12.0"}, 400, "--async-scheduling"),
    ({"gpus": 1}, 400, "gpus"),
])
def test_create_deployment_errors(api, change, status, words):
    model = api.ready_model()
    body = {"name": "dep", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1, **change}
    response = api.post("/ai/deployment", body)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_deployment_needs_a_ready_model_by_id_or_name(api):
    operation = api.ok("POST", "/ai/model", {"name": "openai/gpt-oss-120b"})
    api.wait_operation(operation)
    body = {"name": "big", "model": {"name": "openai/gpt-oss-120b"}, "gpu-type": "gpurtx6000pro", "gpu-count": 1, "replicas": 1}
    response = api.post("/ai/deployment", body)
    assert response.status_code == 412 and "not ready" in response.json()["detail"]
    api.ready_model()
    by_name = api.ok("POST", "/ai/deployment", {**body, "model": {"name": QWEN}})
    assert by_name["state"] == "pending"


def test_gpu_inventory_is_counted_and_freed(api):
    model = api.ready_model()
    api.ready_deployment(model, **{"gpu-type": "gpu3080ti", "gpu-count": 4, "replicas": 2})
    response = api.post("/ai/deployment", {"name": "more", "model": {"id": model["id"]}, "gpu-type": "gpu3080ti", "gpu-count": 1, "replicas": 1})
    assert response.status_code == 412 and "0 free" in response.json()["detail"]
    other_zone = api.ready_model(zone="de-fra-1")
    assert api.ready_deployment(other_zone, zone="de-fra-1", **{"gpu-type": "gpu3080ti"})["state"] == "ready"


def test_scale_and_patch_errors(api):
    model = api.ready_model()
    operation = api.ok("POST", "/ai/deployment", {"name": "d", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 8,
                                                  "replicas": 1})
    path = f"/ai/deployment/{operation['reference']['id']}"
    api.wait_operation(operation)
    assert api.post(path + "/scale", {"replicas": 2}).status_code in (409, 200)
    api.wait_state("deployment", operation["reference"]["id"], ("ready",))
    assert api.post(path + "/scale", {"replicas": -1}).status_code == 400
    assert api.post(path + "/scale", {}).status_code == 400
    too_many = api.post(path + "/scale", {"replicas": 3})
    assert too_many.status_code == 412 and "gpua5000" in too_many.json()["detail"]
    for field, value in (("gpu-count", 2), ("model", {"name": QWEN}), ("replicas", 2), ("gpu-type", "gpu3080ti")):
        response = api.patch(path, {field: value})
        assert response.status_code == 400 and response.json()["detail"].startswith(field)
    assert api.patch(path, {"inference-engine-parameters": ["--bogus"]}).status_code == 400
    assert api.patch(path, {}).status_code == 400
    assert api.ok("POST", path + "/scale", {"replicas": 2})["state"] == "pending"


def test_conflict_while_another_operation_runs(server, api):
    model = api.ready_model()
    server.store.config["speed"] = 1.0
    operation = api.ok("POST", "/ai/deployment", {"name": "d", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1,
                                                  "replicas": 1})
    path = f"/ai/deployment/{operation['reference']['id']}"
    for method, sub, body in (("POST", "/scale", {"replicas": 2}), ("PATCH", "", {"name": "x"})):
        response = api.request(method, path + sub, body=body)
        assert response.status_code == 409 and "creating" in response.json()["detail"]
    assert api.ok("DELETE", path)["state"] == "pending"


def test_delete_model_in_use_is_412_with_deployments(api):
    model = api.ready_model()
    api.ready_deployment(model, name="user-one")
    response = api.delete(f"/ai/model/{model['id']}")
    assert response.status_code == 412 and response.json() == {"deployments": ["user-one"]}


@pytest.mark.parametrize("path", ["/ai/model/not-a-uuid", "/ai/deployment/123", "/operation/xyz", "/ai/api-key/abc",
                                  "/ai/model/6f1d1a0e-0000-4000-8000-000000000001", "/ai/deployment/6f1d1a0e-0000-4000-8000-000000000002",
                                  "/operation/6f1d1a0e-0000-4000-8000-000000000003", "/ai/deployment/6f1d1a0e-0000-4000-8000-000000000004/logs",
                                  "/ai/deployment/6f1d1a0e-0000-4000-8000-000000000005/api-key"])
def test_unknown_ids_are_404(api, path):
    response = api.get(path)
    assert response.status_code == 404 and response.json()["status"] == 404


def test_unknown_ids_on_mutations_are_404(api):
    missing = uuid.uuid4()
    assert api.delete(f"/ai/deployment/{missing}").status_code == 404
    assert api.post(f"/ai/deployment/{missing}/scale", {"replicas": 1}).status_code == 404
    assert api.patch(f"/ai/deployment/{missing}", {"name": "x"}).status_code == 404
    assert api.delete(f"/ai/model/{missing}").status_code == 404
    assert api.delete(f"/ai/api-key/{missing}").status_code == 404


def test_zones_are_separate_and_unknown_zone_is_404(api):
    model = api.ready_model(zone="at-vie-1")
    assert api.ok("GET", "/ai/model")["models"] == []
    assert api.get(f"/ai/model/{model['id']}").status_code == 404
    assert api.ok("GET", f"/ai/model/{model['id']}", zone="at-vie-1")["state"] == "ready"
    response = api.get("/ai/model", zone="mars-1", check=False)
    assert response.status_code == 404 and "unknown zone" in response.json()["detail"]


def test_unknown_route_and_method(api):
    assert api.http.get("/nothing").status_code == 404
    assert api.request("PUT", "/ai/model", check=False).status_code == 405


def test_names_are_not_unique(api):
    model = api.ready_model()
    for _unused in range(2):
        api.ok("POST", "/ai/deployment", {"name": "same", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1})
    names = [d["name"] for d in api.ok("GET", "/ai/deployment", query="visibility=private")["deployments"]]
    assert names == ["same", "same"]


def test_logs_tail_validation(api):
    model = api.ready_model()
    deployment = api.ready_deployment(model)
    assert api.get(f"/ai/deployment/{deployment['id']}/logs", query="tail=abc").status_code == 400
    assert api.ok("GET", f"/ai/deployment/{deployment['id']}/logs", query="tail=0")["logs"] == []
