"""ai_deployment against the simulator: create, idempotence, check/diff, every update path, replace, delete, failures."""
import threading
import time

from exoscale.api.v2 import Client

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN_15 = "Qwen/Qwen2.5-1.5B-Instruct"


def model_task(task, name=QWEN):
    return {"name": task, "inferops.exoscale.ai_model": {"name": name}}


def dep_task(task, register=None, **options):
    task_dict = {"name": task, "inferops.exoscale.ai_deployment": options}
    if register:
        task_dict["register"] = register
    return task_dict


def failing(task_dict):
    return dict(task_dict, ignore_errors=True)


def small(task, name="small", **options):
    """A deployment of the small Qwen model on one A5000 (options override)."""
    spec = dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1)
    spec.update(options)
    return dep_task(task, **spec)


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def private_deployments(sim, zone="ch-gva-2"):
    return [d for d in sim.control.state()["zones"][zone]["deployments"].values() if d["visibility"] == "private"]


def test_create_check_diff_and_idempotence(play, sim, markers):
    spec = dict(replicas=2, inference_engine_parameters=["--max-model-len=4096"])
    run = play([model_task("model"),
                markers.task("check"),
                dict(small("deploy in check mode", **spec), check_mode=True),
                markers.task("create"),
                small("deploy", register="created", **spec),
                small("deploy again", **spec),
                dep_task("by name only", name="small"),
                dep_task("by id only", id="{{ created.deployment.id }}")], "--diff")
    assert run.status("deploy in check mode") == "changed", run.output
    predicted = run.result("deploy in check mode")["deployment"]
    assert predicted["name"] == "small" and predicted["gpu_type"] == "gpua5000" and predicted["gpu_count"] == 1
    assert predicted["replicas"] == 2 and predicted["model"]["name"] == QWEN
    assert predicted["inference_engine_parameters"] == ["--max-model-len=4096"]
    assert run.result("deploy in check mode")["diff"]["before"] == {"state": "absent"}
    assert run.result("deploy in check mode")["diff"]["after"]["replicas"] == 2
    groups = markers.split()
    assert groups["check"] and writes(groups["check"]) == []
    assert writes(groups["create"])[0] == ("POST", "/v2/ai/deployment")

    assert run.rc == 0, run.output
    assert run.status("deploy") == "changed"
    deployment = run.result("deploy")["deployment"]
    assert deployment["state"] == "ready" and deployment["replicas"] == 2
    assert deployment["deployment_url"].startswith("http")
    assert deployment["gpu_type"] == "gpua5000" and deployment["inference_engine_version"]
    assert "api_key" not in deployment and not [key for key in deployment if "-" in key]
    diff = run.result("deploy")["diff"]
    assert diff["before"] == {"state": "absent"}
    assert diff["after"]["name"] == "small" and diff["after"]["model"] == QWEN and diff["after"]["state"] == "ready"
    assert '-    "state": "absent"' in run.stdout and '+    "replicas": 2' in run.stdout
    for task in ("deploy again", "by name only", "by id only"):
        assert run.status(task) == "ok", task
        assert run.result(task)["deployment"]["id"] == deployment["id"]
        assert run.result(task)["diff"]["before"] == run.result(task)["diff"]["after"]
    assert len(private_deployments(sim)) == 1

    sim.control.clear_requests()
    check = play([small("scale", replicas=3),
                  dep_task("patch", name="small", inference_engine_parameters=["--max-model-len=8192"]),
                  dep_task("delete", name="small", state="absent")], "--check", "--diff")
    assert check.rc == 0, check.output
    assert check.status("scale") == "changed" and check.result("scale")["deployment"]["replicas"] == 3
    assert check.result("scale")["diff"]["before"]["replicas"] == 2
    assert check.result("scale")["diff"]["after"]["replicas"] == 3
    assert check.status("patch") == "changed"
    assert check.result("patch")["deployment"]["inference_engine_parameters"] == ["--max-model-len=8192"]
    assert check.status("delete") == "changed"
    assert check.result("delete")["diff"]["after"] == {"state": "absent"}
    assert writes(sim.control.requests()) == []
    [unchanged] = private_deployments(sim)
    assert unchanged["replicas"] == 2 and unchanged["inference-engine-parameters"] == ["--max-model-len=4096"]


def test_update_paths_scale_patch_and_rename(play, sim):
    params = ["--max-model-len=4096"]
    run = play([
        model_task("model"),
        small("create", register="created"),
        small("scale up", replicas=2),
        small("scale down", replicas=1),
        small("scale to zero", replicas=0),
        small("zero again", replicas=0),
        small("back to one", replicas=1),
        dep_task("patch parameters", name="small", inference_engine_parameters=params),
        dep_task("parameters again", name="small", inference_engine_parameters=params),
        dep_task("patch version", name="small", inference_engine_version="0.27.1"),
        dep_task("version again", name="small", inference_engine_version="0.27.1"),
        dep_task("patch and scale", name="small", inference_engine_parameters=params + ["--enforce-eager", "-tp=1"],
                 replicas=2),
        dep_task("rename by id", id="{{ created.deployment.id }}", name="renamed"),
        dep_task("rename again", id="{{ created.deployment.id }}", name="renamed"),
        dep_task("clear parameters", name="renamed", inference_engine_parameters=[]),
        {"name": "old name", "inferops.exoscale.ai_deployment_info": {"name": "small"}},
        {"name": "new name", "inferops.exoscale.ai_deployment_info": {"name": "renamed"}},
    ], "--diff")
    assert run.rc == 0, run.output
    dep_id = run.result("create")["deployment"]["id"]
    expected = [("scale up", "changed", 2), ("scale down", "changed", 1), ("scale to zero", "changed", 0),
                ("zero again", "ok", 0), ("back to one", "changed", 1)]
    for task, status, replicas in expected:
        assert run.status(task) == status, task
        result = run.result(task)
        assert result["deployment"]["replicas"] == replicas, task
        assert result["deployment"]["state"] == "ready", task
        assert result["deployment"]["id"] == dep_id, task
        assert result["diff"]["after"]["replicas"] == replicas, task
    assert run.result("scale to zero")["diff"]["before"]["replicas"] == 1

    assert run.status("patch parameters") == "changed"
    assert run.result("patch parameters")["deployment"]["inference_engine_parameters"] == params
    assert run.result("patch parameters")["diff"]["before"]["inference_engine_parameters"] == []
    assert run.status("parameters again") == "ok"
    assert run.status("patch version") == "changed"
    assert run.result("patch version")["diff"]["before"]["inference_engine_version"] == "0.28.0"
    assert run.result("patch version")["deployment"]["inference_engine_version"] == "0.27.1"
    assert run.result("patch version")["deployment"]["inference_engine_parameters"] == params
    assert run.status("version again") == "ok"
    both = run.result("patch and scale")["deployment"]
    assert run.status("patch and scale") == "changed"
    assert both["replicas"] == 2 and both["inference_engine_parameters"] == params + ["--enforce-eager", "-tp=1"]
    assert both["state"] == "ready"

    assert run.status("rename by id") == "changed"
    assert run.result("rename by id")["deployment"]["name"] == "renamed"
    assert run.result("rename by id")["deployment"]["id"] == dep_id
    assert run.result("rename by id")["diff"]["before"]["name"] == "small"
    assert run.status("rename again") == "ok"
    assert run.status("clear parameters") == "changed"
    assert run.result("clear parameters")["deployment"]["inference_engine_parameters"] == []
    assert run.result("old name")["deployments"] == []
    assert [d["id"] for d in run.result("new name")["deployments"]] == [dep_id]

    methods = [(r["method"], r["path"].replace(dep_id, "ID")) for r in sim.control.requests() if r["method"] != "GET"]
    assert methods.count(("POST", "/v2/ai/deployment/ID/scale")) == 5
    assert methods.count(("PATCH", "/v2/ai/deployment/ID")) == 5
    assert methods.count(("POST", "/v2/ai/deployment")) == 1
    assert ("DELETE", "/v2/ai/deployment/ID") not in methods


def test_immutable_change_is_refused_then_recreate_replaces(play, sim, markers):
    run = play([
        model_task("model"),
        model_task("other model", name=QWEN_15),
        small("create", replicas=2, inference_engine_parameters=["--max-model-len=4096"]),
        markers.task("refused"),
        failing(small("more gpus", gpu_count=2, model=QWEN_15)),
        failing(small("other family", gpu_type="gpu3080ti")),
        markers.task("recreate"),
        small("recreate", gpu_count=2, recreate=True),
        small("recreate converged", gpu_count=2, recreate=True),
        {"name": "info", "inferops.exoscale.ai_deployment_info": {"name": "small"}},
        markers.task("delete"),
        dep_task("delete", name="small", state="absent"),
        dep_task("delete again", name="small", state="absent"),
    ], "--diff")
    assert run.status("create") == "changed", run.output
    old = run.result("create")["deployment"]

    for task, fields in (("more gpus", ("gpu_count", "model")), ("other family", ("gpu_type",))):
        assert run.status(task) == "failed", task
        message = run.result(task)["msg"]
        for field in fields:
            assert field in message, message
        assert "recreate=true" in message
    assert "gpu_count: 1 -> 2" in run.result("more gpus")["msg"]
    assert "gpu_type: gpua5000 -> gpu3080ti" in run.result("other family")["msg"]
    groups = markers.split()
    assert writes(groups["refused"]) == []

    assert run.status("recreate") == "changed"
    new = run.result("recreate")["deployment"]
    assert new["id"] != old["id"]
    assert new["gpu_count"] == 2 and new["state"] == "ready" and new["name"] == "small"
    # What the task did not mention is carried over from the replaced deployment.
    assert new["replicas"] == 2 and new["inference_engine_parameters"] == ["--max-model-len=4096"]
    assert run.result("recreate")["diff"]["before"]["gpu_count"] == 1
    assert run.result("recreate")["diff"]["after"]["gpu_count"] == 2
    assert run.status("recreate converged") == "ok"
    assert [d["id"] for d in run.result("info")["deployments"]] == [new["id"]]
    recreate_writes = writes(groups["recreate"])
    assert recreate_writes == [("DELETE", "/v2/ai/deployment/%s" % old["id"]), ("POST", "/v2/ai/deployment")]

    assert run.status("delete") == "changed"
    assert run.result("delete")["deployment"]["id"] == new["id"]
    assert run.result("delete")["diff"]["after"] == {"state": "absent"}
    assert run.status("delete again") == "ok"
    assert run.result("delete again")["changed"] is False
    assert run.result("delete again")["deployment"] == {}
    assert private_deployments(sim) == []
    assert run.rc == 0 or set(run.failed_tasks()) == {"more gpus", "other family"}


def test_recreate_checks_the_new_settings_before_deleting(play, sim):
    run = play([
        model_task("model"),
        small("create"),
        failing(small("recreate on unauthorized family", gpu_type="gpu3", recreate=True)),
    ])
    assert run.status("create") == "changed", run.output
    assert run.status("recreate on unauthorized family") == "failed"
    assert "gpu3" in run.result("recreate on unauthorized family")["msg"]
    [kept] = private_deployments(sim)
    assert kept["id"] == run.result("create")["deployment"]["id"]


def test_ambiguous_name_requires_id(play, sim):
    setup = play([model_task("model", name=QWEN), small("first", name="twin", register="first")])
    assert setup.rc == 0, setup.output
    model_id = setup.result("first")["deployment"]["model"]["id"]
    client = Client(sim.key, sim.secret, url=sim.url)
    operation = client.create_deployment(name="twin", model={"id": model_id}, gpu_type="gpua5000", gpu_count=1, replicas=1)
    second_id = operation["reference"]["id"]
    first_id = setup.result("first")["deployment"]["id"]

    sim.control.clear_requests()
    run = play([
        failing(small("ambiguous", name="twin", replicas=2)),
        failing(dep_task("ambiguous delete", name="twin", state="absent")),
        {"name": "both", "inferops.exoscale.ai_deployment_info": {"name": "twin"}},
        dep_task("by id", id=second_id, name="twin", replicas=2),
        dep_task("delete by id", id=first_id, state="absent"),
        small("now unique", name="twin", replicas=2),
    ])
    for task in ("ambiguous", "ambiguous delete"):
        assert run.status(task) == "failed", run.output
        message = run.result(task)["msg"]
        assert "twin" in message and "id" in message
        assert first_id in message and second_id in message
    assert sorted(d["id"] for d in run.result("both")["deployments"]) == sorted([first_id, second_id])
    assert run.status("by id") == "changed"
    assert run.result("by id")["deployment"]["id"] == second_id
    assert run.result("by id")["deployment"]["replicas"] == 2
    assert run.status("delete by id") == "changed"
    assert run.status("now unique") == "ok"
    assert [d["id"] for d in private_deployments(sim)] == [second_id]
    first_writes = writes(sim.control.requests())
    assert first_writes[0] == ("POST", "/v2/ai/deployment/%s/scale" % second_id)


def _error_when_created(sim, details, stop, after=0.5):
    """Background: once a private deployment exists, let it run ``after`` seconds, then put it in error."""
    while not stop.is_set():
        deployments = private_deployments(sim)
        if deployments:
            time.sleep(after)
            sim.control.error_deployment(deployments[0]["id"], details)
            return
        time.sleep(0.05)


def test_deployment_error_while_waiting_reports_details_and_logs(play, sim):
    setup = play([model_task("model")])
    assert setup.rc == 0, setup.output
    sim.control.config(speed=10)
    details = "CUDA error: an illegal memory access was encountered"
    stop = threading.Event()
    watcher = threading.Thread(target=_error_when_created, args=(sim, details, stop), daemon=True)
    watcher.start()
    try:
        run = play([failing(small("deploy")),
                    failing(small("deploy again")),
                    small("recreate", recreate=True)])
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert run.status("deploy") == "failed", run.output
    failure = run.result("deploy")
    assert "state error" in failure["msg"] and details in failure["msg"]
    assert "Last log lines" in failure["msg"] and "EngineCore failed to start" in failure["msg"]
    assert failure["deployment"]["state"] == "error"
    assert failure["deployment"]["state_details"] == details
    assert failure["duration"] > 0
    # Without recreate, an existing deployment in error is reported again, with its details.
    assert run.status("deploy again") == "failed"
    assert details in run.result("deploy again")["msg"]
    assert run.status("recreate") == "changed"
    recovered = run.result("recreate")["deployment"]
    assert recovered["state"] == "ready" and recovered["id"] != failure["deployment"]["id"]
    assert len(private_deployments(sim)) == 1


def test_wait_timeout_reports_last_seen_deployment(play, sim):
    setup = play([model_task("model")])
    assert setup.rc == 0, setup.output
    sim.control.config(speed=1)
    run = play([failing(small("deploy", wait_timeout=4))])
    assert run.status("deploy") == "failed", run.output
    failure = run.result("deploy")
    assert "timed out" in failure["msg"]
    assert "wait_timeout" in failure["msg"]
    assert failure["deployment"]["name"] == "small"
    assert failure["deployment"]["state"] in ("creating", "preparing")
    assert failure["deployment"]["id"] == private_deployments(sim)[0]["id"]
    assert 3.5 <= failure["duration"] < 15


def test_invalid_input_is_refused_with_the_field_and_allowed_values(play, sim):
    cases = [
        ("gpu_count 9", small("gpu_count 9", gpu_count=9), ["gpu_count", "1 and 8", "9"], True),
        ("replicas -1", small("replicas -1", replicas=-1), ["replicas", "0 or more", "-1"], True),
        ("bad version", small("bad version", inference_engine_version="latest"), ["inference_engine_version", "0.28.0"], True),
        ("not a flag", small("not a flag", inference_engine_parameters=["max-model-len=1"]),
         ["inference_engine_parameters", "--max-model-len"], True),
        ("replicas 0 on create", small("replicas 0 on create", replicas=0), ["replicas", "at least 1", "scale to 0"], False),
        ("unknown gpu_type", small("unknown gpu_type", gpu_type="gpuh100"),
         ["gpu_type", "gpuh100", "gpu3080ti", "gpua5000", "gpurtx6000pro"], False),
        ("unauthorized family", small("unauthorized family", gpu_type="gpu3"),
         ["gpu_type", "gpu3", "not authorized", "gpu3080ti, gpua5000, gpurtx6000pro"], False),
        ("unknown engine flag", small("unknown engine flag", inference_engine_parameters=["--max-model-length=4096"]),
         ["inference_engine_parameters", "--max-model-length=4096", "--max-model-len", "--dtype"], False),
        ("unknown engine version", small("unknown engine version", inference_engine_version="9.9.9"),
         ["inference_engine_version", "9.9.9", "0.27.1, 0.28.0"], False),
        ("missing model", small("missing model", model="nobody/nothing"), ["model", "nobody/nothing", "ai_model"], False),
        ("missing options", dep_task("missing options", name="new"), ["gpu_count", "gpu_type", "model"], False),
    ]
    # Checks that need no API request run first, alone, so the request log shows they sent none at all.
    local = play([failing(task) for dummy, task, dummy, is_local in cases if is_local])
    assert sim.control.requests() == []
    remote = play([failing(task) for dummy, task, dummy, is_local in cases if not is_local])
    for label, dummy, words, is_local in cases:
        run = local if is_local else remote
        assert run.status(label) == "failed", (label, run.output)
        message = run.result(label)["msg"]
        for word in words:
            assert word in message, (label, word, message)
    requests = sim.control.requests()
    assert requests and writes(requests) == []
    assert private_deployments(sim) == []
