"""The info modules (lists under plural keys, snake_case, filters, check mode) and API requests per converged task.

Module logic: the modules run in process (``run_module``) in check mode, as ``--check`` runs them; the playbook
wiring of the info modules is in test_examples.py and the docs playbooks."""
import json

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
DEPLOYMENT = {"name": "small", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1,
              "inference_engine_parameters": ["--max-model-len=4096"]}


def setup(run_module):
    """The model and a ready deployment, built in process; the deployment's id."""
    assert not run_module("ai_model", {"name": QWEN}).get("failed")
    result = run_module("ai_deployment", DEPLOYMENT)
    assert result["changed"] and not result.get("failed"), result
    return result["deployment"]["id"]


def info(task, module, **options):
    return (task, module, options)


class Results:
    """The results of module runs by task name, with a playbook run's ``result``/``changed_tasks``."""

    def __init__(self, run_module, tasks, check_mode=True):
        self.results = dict((task, run_module(module, options, check_mode=check_mode)) for task, module, options in tasks)

    def result(self, task):
        return self.results[task]

    def changed_tasks(self):
        return [task for task, result in self.results.items() if result.get("changed") or result.get("failed")]


def test_info_modules_return_lists_with_snake_case_keys(sim, run_module):
    dep_id = setup(run_module)
    sim.control.inventory(gpu3080ti={"authorized": False}, gpurtx6000pro={"authorized": False})

    sim.control.clear_requests()
    run = Results(run_module, [
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
    ])
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


def test_requests_per_converged_task(sim, run_module):
    """Every converged task reads as little as it can: these numbers are the budget."""
    setup(run_module)
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
        "ai_model": ("ai_model", {"name": QWEN}),
        "ai_model_info": ("ai_model_info", {}),
        "ai_deployment": ("ai_deployment", DEPLOYMENT),
        "ai_deployment_info_list": ("ai_deployment_info", {}),
        "ai_deployment_info_name": ("ai_deployment_info", {"name": "small"}),
        "ai_instance_type_info": ("ai_instance_type_info", {}),
        "ai_engine_parameter_info": ("ai_engine_parameter_info", {}),
    }
    groups = {}
    for label, (module, options) in tasks.items():
        sim.control.clear_requests()
        result = run_module(module, options)
        assert not result.get("changed") and not result.get("failed"), (label, result)
        groups[label] = sim.control.requests()
    counts = dict((label, len(groups[label])) for label in tasks)
    print("API requests per converged task: " + json.dumps(counts))
    for label, requests in groups.items():
        if label:
            assert all(r["method"] == "GET" and r["status"] == 200 for r in requests), (label, requests)
    assert counts == budget, "\n".join("%s: %s" % (label, [(r["method"], r["path"]) for r in groups[label]]) for label in tasks)
