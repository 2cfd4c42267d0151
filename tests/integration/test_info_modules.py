"""The info modules (lists under plural keys, snake_case, filters, check mode) and API requests per converged task."""
import json

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"

SETUP = [
    {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
    {"name": "deployment", "inferops.exoscale.ai_deployment": {
        "name": "small", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1,
        "inference_engine_parameters": ["--max-model-len=4096"]}, "register": "deployment"},
]


def info(task, module, **options):
    return {"name": task, "inferops.exoscale.%s" % module: options}


def test_info_modules_return_lists_with_snake_case_keys(play, sim):
    setup = play(SETUP)
    assert setup.rc == 0, setup.output
    dep_id = setup.result("deployment")["deployment"]["id"]
    sim.control.inventory(gpu3080ti={"authorized": False}, gpurtx6000pro={"authorized": False})

    sim.control.clear_requests()
    run = play([
        info("models", "ai_model_info"),
        info("model by name", "ai_model_info", name=QWEN),
        info("deployments", "ai_deployment_info"),
        info("deployment by name", "ai_deployment_info", name="small", include_api_key=True, log_lines=3),
        info("deployment by id", "ai_deployment_info", id=dep_id),
        info("public deployments", "ai_deployment_info", visibility="public"),
        info("all deployments", "ai_deployment_info", visibility="all"),
        info("no such deployment", "ai_deployment_info", name="nothing"),
        info("instance types", "ai_instance_type_info"),
        info("authorized instance types", "ai_instance_type_info", authorized_only=True),
        info("parameters", "ai_engine_parameter_info"),
        info("old parameters", "ai_engine_parameter_info", version="0.17.0"),
    ], "--check")
    assert run.rc == 0, run.output
    assert run.changed_tasks() == []
    assert all(r["method"] == "GET" for r in sim.control.requests())

    for task in ("models", "model by name"):
        [model] = run.result(task)["models"]
        assert model["name"] == QWEN and model["state"] == "ready" and model["model_size"] > 0

    [listed] = run.result("deployments")["deployments"]
    assert listed["id"] == dep_id
    for key in ("gpu_type", "gpu_count", "deployment_url", "replicas", "model", "created_at"):
        assert key in listed, key
    for task in ("deployment by name", "deployment by id"):
        [full] = run.result(task)["deployments"]
        assert full["id"] == dep_id and full["gpu_type"] == "gpua5000"
        assert full["deployment_url"].startswith("http")
        assert full["inference_engine_parameters"] == ["--max-model-len=4096"]
        assert full["inference_engine_version"] == "0.28.0"
        assert not [key for key in full if "-" in key]
    detailed = run.result("deployment by name")["deployments"][0]
    assert detailed["api_key"].startswith("sk-")
    assert len(detailed["logs"]) == 3 and all(isinstance(line, str) for line in detailed["logs"])
    assert "api_key" not in run.result("deployment by id")["deployments"][0]
    assert sorted(d["name"] for d in run.result("public deployments")["deployments"]) == ["gpt-oss-120b", "qwen3-8b"]
    assert sorted(d["name"] for d in run.result("all deployments")["deployments"]) == ["gpt-oss-120b", "qwen3-8b", "small"]
    assert run.result("no such deployment")["deployments"] == []

    types = run.result("instance types")["instance_types"]
    assert sorted(t["family"] for t in types) == ["gpu3", "gpu3080ti", "gpua5000", "gpurtx6000pro"]
    assert run.result("authorized instance types")["instance_types"] == [{"family": "gpua5000", "authorized": True}]

    parameters = run.result("parameters")["parameters"]
    by_name = dict((p["name"], p) for p in parameters)
    assert by_name["max_model_len"]["flags"] == ["--max-model-len"]
    assert "allowed_values" in by_name["dtype"] and "bfloat16" in by_name["dtype"]["allowed_values"]
    assert not [key for p in parameters for key in p if "-" in key]
    old_names = [p["name"] for p in run.result("old parameters")["parameters"]]
    assert "async_scheduling" in by_name and "async_scheduling" not in old_names
    assert [r["query"] for r in sim.control.requests() if r["path"].endswith("inference-engine-parameters")] == [{}, {"version": "0.17.0"}]


def test_requests_per_converged_task(play, sim, markers):
    """Every converged task reads as little as it can: these numbers are the budget."""
    setup = play(SETUP)
    assert setup.rc == 0, setup.output
    budget = {
        "ai_model": 1,                  # GET /ai/model (find by name)
        "ai_model_info": 1,             # GET /ai/model
        "ai_deployment": 2,             # GET /ai/deployment, GET /ai/deployment/{id}
        "ai_deployment_info_list": 1,   # GET /ai/deployment
        "ai_deployment_info_name": 2,   # GET /ai/deployment, GET /ai/deployment/{id}
        "ai_instance_type_info": 1,     # GET /ai/instance-type
        "ai_engine_parameter_info": 1,  # GET /ai/help/inference-engine-parameters
    }
    tasks = {
        "ai_model": {"inferops.exoscale.ai_model": {"name": QWEN}},
        "ai_model_info": {"inferops.exoscale.ai_model_info": {}},
        "ai_deployment": SETUP[1]["inferops.exoscale.ai_deployment"],
        "ai_deployment_info_list": {"inferops.exoscale.ai_deployment_info": {}},
        "ai_deployment_info_name": {"inferops.exoscale.ai_deployment_info": {"name": "small"}},
        "ai_instance_type_info": {"inferops.exoscale.ai_instance_type_info": {}},
        "ai_engine_parameter_info": {"inferops.exoscale.ai_engine_parameter_info": {}},
    }
    playbook = []
    for label, task in tasks.items():
        if label == "ai_deployment":
            task = {"inferops.exoscale.ai_deployment": task}
        playbook += [markers.task(label), dict(task, name=label)]
    sim.control.clear_requests()
    run = play(playbook)
    assert run.rc == 0, run.output
    assert run.changed_tasks() == []
    groups = markers.split()
    counts = dict((label, len(groups[label])) for label in tasks)
    print("API requests per converged task: " + json.dumps(counts))
    for label, requests in groups.items():
        if label:
            assert all(r["method"] == "GET" and r["status"] == 200 for r in requests), (label, requests)
    assert counts == budget, "\n".join("%s: %s" % (label, [(r["method"], r["path"]) for r in groups[label]]) for label in tasks)
