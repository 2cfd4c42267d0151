"""Results say what happened (issue: trust, item 4): changed after a write that then failed, api_error only for
API errors, a check-mode replacement that says it is one, every state seen recorded in order.

What a result holds is module logic: the module runs in process (``run_module``), as ``--check --diff`` runs it."""
from tests.integration.conftest import warnings_of

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def upload(run_module):
    assert not run_module("ai_model", {"name": QWEN}).get("failed")


def spec(**options):
    return dict(dict(name="small", model=QWEN, gpu_type="gpua5000", gpu_count=1), **options)


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def test_a_create_that_then_fails_reports_changed_and_no_api_error(sim, run_module):
    sim.control.force_failure("out_of_memory", deployment="doomed")
    upload(run_module)
    result = run_module("ai_deployment", spec(name="doomed"))
    assert result.get("failed"), result
    assert result["changed"] is True, "the deployment was created: the task wrote"
    assert "api_error" not in result, "no API request failed: the deployment went to error"
    assert result["deployment"]["state"] == "error"
    assert [h["state"] for h in result["state_history"]][-1] == "error"


def test_an_api_error_carries_api_error(sim, run_module):
    upload(run_module)
    result = run_module("ai_deployment", spec(gpu_count=8, replicas=3, preflight_skip=["quota"]))
    assert result.get("failed"), result
    assert result["api_error"]["status"] in (403, 412) and result["changed"] is False


def test_check_mode_replacement_says_it_is_one(sim, run_module):
    upload(run_module)
    first = run_module("ai_deployment", spec())
    assert first["changed"] and not first.get("failed"), first
    sim.control.clear_requests()
    result = run_module("ai_deployment", spec(gpu_count=2, recreate=True), check_mode=True, diff=True)
    old_id = first["deployment"]["id"]
    assert result["changed"] is True and not result.get("failed") and writes(sim.control.requests()) == [], result
    assert result["diff"]["before"]["id"] == old_id and result["diff"]["after"]["id"] != old_id
    assert result["diff"]["before"]["gpu_count"] == 1 and result["diff"]["after"]["gpu_count"] == 2
    warning = " ".join(warnings_of(result))
    assert "would be deleted and replaced" in warning and "new URL" in warning and "API key" in warning
    assert old_id in warning


def test_state_history_keeps_every_state_of_an_update_and_a_scale(sim, run_module):
    # Long enough (3 s at speed 50) that the waits after the PATCH and after the scale see both busy states.
    sim.control.config(timings={"deployment_updating": 150, "deployment_scaling": 150})
    upload(run_module)
    assert run_module("ai_deployment", spec())["changed"]
    result = run_module("ai_deployment", spec(replicas=2, inference_engine_parameters=["--enforce-eager"]))
    assert result["changed"] and not result.get("failed"), result
    states = [h["state"] for h in result["state_history"]]
    assert "updating" in states and "scaling" in states, states
    assert states.index("updating") < states.index("scaling") and states[-1] == "ready"
    seconds = [h["seconds"] for h in result["state_history"]]
    assert seconds == sorted(seconds)
