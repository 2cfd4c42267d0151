"""Defects the plan-parity property (tests/property/test_plan_parity.py) found: check mode said one thing, the run did
another. One focused test each, with the modules run in process against the session's simulator."""
from tests.property.test_plan_parity import FAST, SignedApi, WRITES

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def writes(sim):
    return [(r["method"], r["path"]) for r in sim.control.requests() if r["method"] in WRITES]


def test_new_engine_parameters_that_vllm_refuses_are_refused_on_update_in_check_mode_too(sim, run_module):
    """An update of a ready deployment to --max-model-len above the model's maximum: check mode said changed, the
    run sent the PATCH and the deployment ended in error. Both now refuse with the fit check's message."""
    sim.control.config(timings=FAST)
    spec = dict(name="long-context", model=QWEN, gpu_type="gpua5000", gpu_count=1, wait_timeout=60)
    assert run_module("ai_model", name=QWEN, wait_timeout=60).get("failed") is None
    created = run_module("ai_deployment", **spec)
    assert not created.get("failed"), created.get("msg")
    too_long = dict(spec, inference_engine_parameters=["--max-model-len=1048576"])
    sim.control.clear_requests()
    checked = run_module("ai_deployment", check_mode=True, **too_long)
    executed = run_module("ai_deployment", **too_long)
    for result in (checked, executed):
        assert result["failed"] and result["changed"] is False, result
        assert "--max-model-len=1048576 is more than the max_position_embeddings" in result["msg"], result["msg"]
        assert result["plan"]["refusal"] == result["msg"]
    assert checked["msg"] == executed["msg"]
    assert writes(sim) == []
    valid = run_module("ai_deployment", **dict(spec, inference_engine_parameters=["--max-model-len=8192"]))
    assert not valid.get("failed") and valid["action"] == "update", valid.get("msg")
    assert valid["plan"]["fit"]["max_model_len"] == 8192, valid["plan"]
    skipped = run_module("ai_deployment", check_mode=True, preflight_skip=["fit"], **too_long)
    assert not skipped.get("failed") and skipped["action"] == "update", skipped.get("msg")


def test_a_busy_model_with_wait_false_is_not_waited_for(sim, run_module):
    """A model still downloading, a task with wait=false and nothing to change: check mode answered at once with the
    model downloading, the run waited for the download anyway (and failed when it ended in error)."""
    sim.control.config(timings=dict(FAST, model_download_base=3600.0))
    api = SignedApi(sim)
    operation = api.call("POST", "/ai/model", {"name": QWEN})
    model_id = operation["reference"]["id"]
    checked = run_module("ai_model", check_mode=True, name=QWEN, wait=False)
    sim.control.clear_requests()
    executed = run_module("ai_model", name=QWEN, wait=False, wait_timeout=5)
    for result in (checked, executed):
        assert not result.get("failed"), result.get("msg")
        assert result["changed"] is False and result["action"] == "none", result
        assert result["model"]["id"] == model_id and result["model"]["state"] != "ready", result["model"]
    assert [r["path"] for r in sim.control.requests() if r["path"].endswith(model_id)] == []  # no poll
    assert writes(sim) == []
