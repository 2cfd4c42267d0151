"""A converged ai_deployment task does only what it needs (issue 20): one list and one GET, no preflight read,
``state_history: []``; a module run does not import what a converged run never uses."""
import json
import subprocess
import sys

from tests.integration.conftest import COLLECTIONS_PATH

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
DEPLOYMENT = dict(name="converged", model=QWEN, gpu_type="gpua5000", gpu_count=1, replicas=1,
                  inference_engine_parameters=["--max-model-len=4096"])


def test_a_converged_deployment_lists_once_gets_once_and_reports_an_empty_history(run_module, sim):
    assert run_module("ai_model", name=QWEN)["changed"] is True
    created = run_module("ai_deployment", **DEPLOYMENT)
    assert created["changed"] is True and [h["state"] for h in created["state_history"]][-1] == "ready"
    sim.control.clear_requests()
    converged = run_module("ai_deployment", **DEPLOYMENT)
    assert converged["changed"] is False and converged["action"] == "none"
    assert converged["state_history"] == []
    sent = [(r["method"], r["path"].split("?")[0]) for r in sim.control.requests()]
    deployment_id = created["deployment"]["id"]
    assert sent == [("GET", "/v2/ai/deployment"), ("GET", "/v2/ai/deployment/%s" % deployment_id)], sent


def test_a_check_run_that_changes_nothing_reports_an_empty_history_too(run_module, sim):
    run_module("ai_model", name=QWEN)
    run_module("ai_deployment", **DEPLOYMENT)
    checked = run_module("ai_deployment", check_mode=True, **DEPLOYMENT)
    assert checked["changed"] is False and checked["state_history"] == []


# What a converged module run never needs: the preflight and its readers (only a plan that writes imports them),
# placement and cost (only with those options), the failure diagnosis, httpx's command-line client and tomllib
# (only with a profile file).
NOT_IMPORTED = ["preflight", "fit", "hub", "placement", "cost", "diagnosis", "fleet", "rollout", "benchmark"]


def test_importing_the_deployment_module_loads_only_what_a_converged_run_uses():
    code = ("import sys, json; import ansible_collections.inferops.exoscale.plugins.modules.ai_deployment;"
            "print(json.dumps(sorted(name for name, module in sys.modules.items() if module is not None)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       env={"PYTHONPATH": str(COLLECTIONS_PATH)}).stdout)
    utils = "ansible_collections.inferops.exoscale.plugins.module_utils."
    assert "httpx" in loaded and utils + "client" in loaded
    unexpected = [name for name in loaded if name in ["httpx._main", "rich", "click", "pygments", "tomllib"]
                  or name in [utils + topic for topic in NOT_IMPORTED]]
    assert unexpected == []
