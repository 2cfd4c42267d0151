"""ai_quota_info against the simulator: GPU quota per family follows the deployments; the AI consumption quota.

Module logic: in process (``run_module``); check mode as ``--check`` passes it."""

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def test_gpu_quota_follows_deployments_and_limits(sim, run_module):
    sim.control.limits(gpua5000=6, gpu3=-1)
    before = run_module("ai_quota_info", {})
    assert not run_module("ai_model", {"name": QWEN}).get("failed")
    deployment = dict(name="q", model=QWEN, gpu_type="gpua5000", gpu_count=2, replicas=2)
    predicted = run_module("ai_deployment", deployment, check_mode=True)
    assert predicted["changed"] and not predicted.get("failed"), predicted
    sim.control.clear_requests()
    after_check = run_module("ai_quota_info", dict(family="gpua5000", include_ai_quota=False), check_mode=True)
    assert [r["path"] for r in sim.control.requests()] == ["/v2/quota/gpua5000"]
    assert before["gpu_quota"]["gpua5000"] == {"limit": 6, "usage": 0, "free": 6, "unlimited": False}
    assert before["gpu_quota"]["gpu3"]["unlimited"] is True and before["gpu_quota"]["gpu3"]["free"] == -1
    assert all(family.startswith("gpu") for family in before["gpu_quota"])
    assert "quota_uom_per_minute" in before["ai_quota"]
    # check mode writes nothing, so the usage is still 0 after the (predicted) deployment
    assert after_check["gpu_quota"] == {"gpua5000": {"limit": 6, "usage": 0, "free": 6, "unlimited": False}}

    assert run_module("ai_deployment", deployment)["changed"]
    after = run_module("ai_quota_info", dict(family="gpua5000"))
    assert not after["changed"] and not after.get("failed"), after
    assert after["gpu_quota"]["gpua5000"] == {"limit": 6, "usage": 4, "free": 2, "unlimited": False}


def test_unknown_family_fails_with_the_api_error(run_module):
    # module logic only (the API's 404 into the result): in process, no ansible-playbook run needed
    result = run_module("ai_quota_info", family="gpu9000")
    assert result["failed"] is True
    assert result["api_error"]["status"] == 404 and "gpu9000" in result["msg"]
