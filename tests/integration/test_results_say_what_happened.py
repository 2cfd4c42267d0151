"""Results say what happened (issue: trust, item 4): changed after a write that then failed, api_error only for
API errors, a check-mode replacement that says it is one, every state seen recorded in order."""

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def model_task():
    return {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}}


def deploy(task, **options):
    spec = dict(name="small", model=QWEN, gpu_type="gpua5000", gpu_count=1)
    spec.update(options)
    return {"name": task, "inferops.exoscale.ai_deployment": spec}


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def test_a_create_that_then_fails_reports_changed_and_no_api_error(play, sim):
    sim.control.force_failure("out_of_memory", deployment="doomed")
    run = play([model_task(), dict(deploy("doomed", name="doomed"), ignore_errors=True)])
    assert run.status("doomed") == "failed"
    result = run.result("doomed")
    assert result["changed"] is True, "the deployment was created: the task wrote"
    assert "api_error" not in result, "no API request failed: the deployment went to error"
    assert result["deployment"]["state"] == "error"
    assert [h["state"] for h in result["state_history"]][-1] == "error"


def test_an_api_error_carries_api_error(play, sim):
    run = play([model_task(), dict(deploy("too many", gpu_count=8, replicas=3, preflight_skip=["quota"]),
                                   ignore_errors=True)])
    result = run.result("too many")
    assert run.status("too many") == "failed"
    assert result["api_error"]["status"] in (403, 412) and result["changed"] is False


def test_check_mode_replacement_says_it_is_one(play, sim, markers):
    run = play([model_task(), dict(deploy("deploy"), register="first"),
                markers.task("check"),
                dict(deploy("replace", gpu_count=2, recreate=True), check_mode=True)], "--diff")
    assert run.rc == 0, run.output
    result = run.result("replace")
    old_id = run.result("deploy")["deployment"]["id"]
    assert result["changed"] is True and writes(markers.split()["check"]) == []
    assert result["diff"]["before"]["id"] == old_id and result["diff"]["after"]["id"] != old_id
    assert result["diff"]["before"]["gpu_count"] == 1 and result["diff"]["after"]["gpu_count"] == 2
    warning = " ".join(result.get("warnings", []))
    assert "would be deleted and replaced" in warning and "new URL" in warning and "API key" in warning
    assert old_id in warning


def test_state_history_keeps_every_state_of_an_update_and_a_scale(play, sim):
    # Long enough (3 s at speed 50) that the waits after the PATCH and after the scale see both busy states.
    sim.control.config(timings={"deployment_updating": 150, "deployment_scaling": 150})
    run = play([model_task(), deploy("deploy"),
                deploy("patch and scale", replicas=2, inference_engine_parameters=["--enforce-eager"])])
    assert run.rc == 0, run.output
    states = [h["state"] for h in run.result("patch and scale")["state_history"]]
    assert "updating" in states and "scaling" in states, states
    assert states.index("updating") < states.index("scaling") and states[-1] == "ready"
    seconds = [h["seconds"] for h in run.result("patch and scale")["state_history"]]
    assert seconds == sorted(seconds)
