"""ai_model and ai_model_info against the simulator: create, idempotence, check and diff modes, delete, errors.

Playbooks for --check/--diff from the command line, the diff printed and a registered id templated; the delete
path, errors and wait=false are module logic and run in process."""
import pytest

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
GATED = "meta-llama/Llama-3.1-8B-Instruct"


def model_task(task, **options):
    return {"name": task, "inferops.exoscale.ai_model": options, "register": task.replace(" ", "_")}


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def status(result):
    return "failed" if result.get("failed") else "changed" if result.get("changed") else "ok"


def models_in_sim(sim, zone="ch-gva-2"):
    return sorted(m["name"] for m in sim.control.state()["zones"][zone]["models"].values())


def test_model_check_mode_predicts_and_sends_no_write(play, sim):
    run = play([model_task("upload", name=QWEN),
                model_task("delete missing", name="Qwen/Qwen3-8B", state="absent")], "--check", "--diff")
    assert run.rc == 0, run.output
    result = run.result("upload")
    assert run.status("upload") == "changed"
    assert result["model"]["name"] == QWEN
    assert result["model"]["state"] in ("creating", "ready")
    assert result["diff"] == {"before": {"state": "absent"}, "after": {"name": QWEN, "state": result["model"]["state"]}}
    assert '+    "name": "%s"' % QWEN in run.stdout
    assert run.status("delete missing") == "ok"
    requests = sim.control.requests()
    assert requests, "the check run should look the model up"
    assert writes(requests) == []
    assert models_in_sim(sim) == []


@pytest.mark.core_subset
def test_model_create_idempotent_info_and_delete(play, sim):
    run = play([
        model_task("upload", name=QWEN),
        model_task("upload again", name=QWEN),
        model_task("by id", id="{{ upload.model.id }}"),
        {"name": "info all", "inferops.exoscale.ai_model_info": {}},
        {"name": "info by name", "inferops.exoscale.ai_model_info": {"name": QWEN}},
        {"name": "info by id", "inferops.exoscale.ai_model_info": {"id": "{{ upload.model.id }}"}},
        {"name": "info unknown name", "inferops.exoscale.ai_model_info": {"name": "nobody/nothing"}},
    ], "--diff")
    assert run.rc == 0, run.output
    created = run.result("upload")
    assert run.status("upload") == "changed"
    model = created["model"]
    assert model["name"] == QWEN and model["state"] == "ready"
    assert model["model_size"] == 988_097_824
    assert {"id", "created_at", "updated_at"} <= set(model)
    assert not [key for key in model if "-" in key]
    assert created["diff"]["before"] == {"state": "absent"}
    assert created["diff"]["after"] == {"name": QWEN, "state": "ready"}
    assert '-    "state": "absent"' in run.stdout and '+    "state": "ready"' in run.stdout

    assert run.status("upload again") == "ok"
    assert run.result("upload again")["changed"] is False
    assert run.result("upload again")["model"]["id"] == model["id"]
    assert run.status("by id") == "ok"

    for task in ("info all", "info by name", "info by id"):
        models = run.result(task)["models"]
        assert isinstance(models, list) and len(models) == 1, task
        assert models[0]["id"] == model["id"] and models[0]["model_size"] == 988_097_824
        assert "model-size" not in models[0]
        assert run.status(task) == "ok"
    assert run.result("info unknown name")["models"] == []

    # A real run (this test is in the version matrix's core subset: modules on Python 3.9 there).
    sim.control.clear_requests()
    delete = play([dict(model_task("delete in check mode", name=QWEN, state="absent"), check_mode=True),
                   model_task("delete", name=QWEN, state="absent"),
                   model_task("delete again", name=QWEN, state="absent"),
                   {"name": "info after", "inferops.exoscale.ai_model_info": {}}], "--diff")
    assert delete.rc == 0, delete.output
    assert delete.status("delete in check mode") == "changed", delete.output
    assert delete.result("delete in check mode")["diff"]["after"] == {"state": "absent"}
    # The check-mode task looked the model up; the one write of the play is the real delete (the rerun sent none).
    requests = sim.control.requests()
    assert requests[0]["method"] == "GET" and writes(requests) == [("DELETE", "/v2/ai/model/%s" % model["id"])]
    assert delete.status("delete") == "changed"
    assert delete.result("delete")["diff"] == {"before": {"name": QWEN, "state": "ready"}, "after": {"state": "absent"}}
    assert delete.result("delete")["model"]["id"] == model["id"]
    assert delete.status("delete again") == "ok"
    assert delete.result("delete again")["model"] == {}
    assert delete.result("info after")["models"] == []
    assert models_in_sim(sim) == []


def test_model_in_use_cannot_be_deleted(sim, run_module):
    assert status(run_module("ai_model", {"name": QWEN})) == "changed"
    deployed = run_module("ai_deployment", {"name": "in-use", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1})
    assert status(deployed) == "changed", deployed
    result = run_module("ai_model", dict(name=QWEN, state="absent"))
    assert status(result) == "failed"
    assert "in-use" in result["msg"], result["msg"]
    assert "state=absent" in result["msg"]
    assert result["api_error"]["status"] == 412
    assert models_in_sim(sim) == [QWEN]


def test_gated_model_without_token_fails_and_recreate_with_token_recovers(sim, run_module):
    """The API's own path (the Hugging Face preflight check skipped): the download fails, the model is in error."""
    token = "hf_integrationtesttoken0123456789"
    failure = run_module("ai_model", dict(name=GATED, preflight_skip=["huggingface"]))
    again = run_module("ai_model", dict(name=GATED, preflight_skip=["huggingface"]))
    fixed = run_module("ai_model", dict(name=GATED, recreate=True, huggingface_token=token))
    converged = run_module("ai_model", dict(name=GATED, recreate=True, huggingface_token=token))
    assert status(failure) == "failed", failure
    assert "state error" in failure["msg"] and GATED in failure["msg"]
    assert "huggingface_token" in failure["msg"] and "recreate" in failure["msg"]
    assert failure["model"]["state"] == "error"
    # A model left in error is reported again, never taken as usable.
    assert status(again) == "failed"
    assert "state error" in again["msg"]

    assert status(fixed) == "changed", fixed
    assert fixed["model"]["state"] == "ready"
    assert fixed["model"]["id"] != failure["model"]["id"]
    assert status(converged) == "ok"
    assert all(token not in str(result) for result in (failure, again, fixed, converged))
    assert models_in_sim(sim) == [GATED]


def test_model_without_wait_returns_before_ready(sim, run_module):
    start = run_module("ai_model", dict(name="openai/gpt-oss-120b", wait=False))
    finish = run_module("ai_model", dict(name="openai/gpt-oss-120b"))
    assert status(start) == "changed", start
    assert start["model"]["state"] in ("creating", "downloading")
    assert status(finish) == "ok", finish
    assert finish["model"]["state"] == "ready"
    assert finish["model"]["id"] == start["model"]["id"]
    assert len(sim.control.state()["zones"]["ch-gva-2"]["models"]) == 1
