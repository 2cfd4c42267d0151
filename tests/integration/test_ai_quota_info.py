"""ai_quota_info against the simulator: GPU quota per family follows the deployments; the AI consumption quota."""

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def quota_task(task, **options):
    return {"name": task, "inferops.exoscale.ai_quota_info": options}


def test_gpu_quota_follows_deployments_and_limits(play, sim, markers):
    sim.control.limits(gpua5000=6, gpu3=-1)
    run = play([quota_task("before"),
                {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                {"name": "deploy", "check_mode": True, "inferops.exoscale.ai_deployment": dict(
                    name="q", model=QWEN, gpu_type="gpua5000", gpu_count=2, replicas=2)},
                markers.task("one"),
                dict(quota_task("after", family="gpua5000", include_ai_quota=False), check_mode=True),
                markers.task("done")])
    assert run.rc == 0, run.output
    before = run.result("before")
    assert before["gpu_quota"]["gpua5000"] == {"limit": 6, "usage": 0, "free": 6, "unlimited": False}
    assert before["gpu_quota"]["gpu3"]["unlimited"] is True and before["gpu_quota"]["gpu3"]["free"] == -1
    assert all(family.startswith("gpu") for family in before["gpu_quota"])
    assert "quota_uom_per_minute" in before["ai_quota"]
    # check mode writes nothing, so the usage is still 0 after the (predicted) deployment
    assert run.result("after")["gpu_quota"] == {"gpua5000": {"limit": 6, "usage": 0, "free": 6, "unlimited": False}}
    assert [r["path"] for r in markers.split()["one"]] == ["/v2/quota/gpua5000"]

    run = play([{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                {"name": "deploy", "inferops.exoscale.ai_deployment": dict(
                    name="q", model=QWEN, gpu_type="gpua5000", gpu_count=2, replicas=2)},
                quota_task("after", family="gpua5000")])
    assert run.rc == 0, run.output
    assert run.status("after") == "ok"
    assert run.result("after")["gpu_quota"]["gpua5000"] == {"limit": 6, "usage": 4, "free": 2, "unlimited": False}


def test_unknown_family_fails_with_the_api_error(run_module):
    # module logic only (the API's 404 into the result): in process, no ansible-playbook run needed
    result = run_module("ai_quota_info", family="gpu9000")
    assert result["failed"] is True
    assert result["api_error"]["status"] == 404 and "gpu9000" in result["msg"]
