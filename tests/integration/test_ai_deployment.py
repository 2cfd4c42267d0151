"""ai_deployment against the simulator: create, idempotence, check/diff, every update path, replace, delete, failures.

One real playbook run (and its --check --diff rerun) proves the wiring: --check/--diff from the command line, the
diff printed, templating of a registered id, not changed on rerun. The update paths, refusals, errors and timeouts
are module logic: they run in process (``run_module``), from models built in process.
"""
import threading
import time

from exoscale.api.v2 import Client

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN_15 = "Qwen/Qwen2.5-1.5B-Instruct"


def dep_task(task, register=None, **options):
    task_dict = {"name": task, "inferops.exoscale.ai_deployment": options}
    if register:
        task_dict["register"] = register
    return task_dict


def small(task, name="small", **options):
    """A deployment of the small Qwen model on one A5000 (options override)."""
    spec = dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1)
    spec.update(options)
    return dep_task(task, **spec)


def small_spec(name="small", **options):
    return dict(dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1), **options)


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def private_deployments(sim, zone="ch-gva-2"):
    return [d for d in sim.control.state()["zones"][zone]["deployments"].values() if d["visibility"] == "private"]


def status(result):
    """A result's status as a playbook shows it."""
    return "failed" if result.get("failed") else "changed" if result.get("changed") else "ok"


def upload(run_module, *names):
    for name in names:
        result = run_module("ai_model", {"name": name})
        assert status(result) != "failed", result


def test_create_check_diff_and_idempotence(play, sim, run_module):
    upload(run_module, QWEN)
    sim.control.clear_requests()
    spec = dict(replicas=2, inference_engine_parameters=["--max-model-len=4096"])
    run = play([dict(small("deploy in check mode", **spec), check_mode=True),
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
    # The check-mode task ran first: had it written anything, that would be the first write of the run.
    all_writes = writes(sim.control.requests())
    assert all_writes[0] == ("POST", "/v2/ai/deployment") and all_writes.count(all_writes[0]) == 1, all_writes

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


def test_update_paths_scale_patch_and_rename(sim, run_module):
    params = ["--max-model-len=4096"]
    upload(run_module, QWEN)

    def dep(**options):
        return run_module("ai_deployment", options, diff=True)

    created = dep(**small_spec())
    assert status(created) == "changed", created
    dep_id = created["deployment"]["id"]
    results = {}
    for task, replicas in (("scale up", 2), ("scale down", 1), ("scale to zero", 0), ("zero again", 0),
                           ("back to one", 1)):
        results[task] = dep(**small_spec(replicas=replicas))
    results["patch parameters"] = dep(name="small", inference_engine_parameters=params)
    results["parameters again"] = dep(name="small", inference_engine_parameters=params)
    results["patch version"] = dep(name="small", inference_engine_version="0.27.1")
    results["version again"] = dep(name="small", inference_engine_version="0.27.1")
    results["patch and scale"] = dep(name="small", inference_engine_parameters=params + ["--enforce-eager", "-tp=1"],
                                     replicas=2)
    results["rename by id"] = dep(id=dep_id, name="renamed")
    results["rename again"] = dep(id=dep_id, name="renamed")
    results["clear parameters"] = dep(name="renamed", inference_engine_parameters=[])
    old_name = run_module("ai_deployment_info", {"name": "small"})
    new_name = run_module("ai_deployment_info", {"name": "renamed"})
    expected = [("scale up", "changed", 2), ("scale down", "changed", 1), ("scale to zero", "changed", 0),
                ("zero again", "ok", 0), ("back to one", "changed", 1)]
    for task, task_status, replicas in expected:
        result = results[task]
        assert status(result) == task_status, (task, result)
        assert result["deployment"]["replicas"] == replicas, task
        assert result["deployment"]["state"] == "ready", task
        assert result["deployment"]["id"] == dep_id, task
        assert result["diff"]["after"]["replicas"] == replicas, task
    assert results["scale to zero"]["diff"]["before"]["replicas"] == 1

    assert status(results["patch parameters"]) == "changed"
    assert results["patch parameters"]["deployment"]["inference_engine_parameters"] == params
    assert results["patch parameters"]["diff"]["before"]["inference_engine_parameters"] == []
    assert status(results["parameters again"]) == "ok"
    assert status(results["patch version"]) == "changed"
    assert results["patch version"]["diff"]["before"]["inference_engine_version"] == "0.28.0"
    assert results["patch version"]["deployment"]["inference_engine_version"] == "0.27.1"
    assert results["patch version"]["deployment"]["inference_engine_parameters"] == params
    assert status(results["version again"]) == "ok"
    both = results["patch and scale"]["deployment"]
    assert status(results["patch and scale"]) == "changed"
    assert both["replicas"] == 2 and both["inference_engine_parameters"] == params + ["--enforce-eager", "-tp=1"]
    assert both["state"] == "ready"

    assert status(results["rename by id"]) == "changed"
    assert results["rename by id"]["deployment"]["name"] == "renamed"
    assert results["rename by id"]["deployment"]["id"] == dep_id
    assert results["rename by id"]["diff"]["before"]["name"] == "small"
    assert status(results["rename again"]) == "ok"
    assert status(results["clear parameters"]) == "changed"
    assert results["clear parameters"]["deployment"]["inference_engine_parameters"] == []
    assert old_name["deployments"] == []
    assert [d["id"] for d in new_name["deployments"]] == [dep_id]

    methods = [(r["method"], r["path"].replace(dep_id, "ID")) for r in sim.control.requests() if r["method"] != "GET"]
    assert methods.count(("POST", "/v2/ai/deployment/ID/scale")) == 5
    assert methods.count(("PATCH", "/v2/ai/deployment/ID")) == 5
    assert methods.count(("POST", "/v2/ai/deployment")) == 1
    assert ("DELETE", "/v2/ai/deployment/ID") not in methods


def test_immutable_change_is_refused_then_recreate_replaces(sim, run_module):
    upload(run_module, QWEN, QWEN_15)

    def dep(options):
        sim.control.clear_requests()
        result = run_module("ai_deployment", options, diff=True)
        return result, writes(sim.control.requests())

    created, dummy = dep(small_spec(replicas=2, inference_engine_parameters=["--max-model-len=4096"]))
    assert status(created) == "changed", created
    old = created["deployment"]

    refused = {"more gpus": dep(small_spec(gpu_count=2, model=QWEN_15)),
               "other family": dep(small_spec(gpu_type="gpu3080ti"))}
    for task, fields in (("more gpus", ("gpu_count", "model")), ("other family", ("gpu_type",))):
        result, task_writes = refused[task]
        assert status(result) == "failed", (task, result)
        for field in fields:
            assert field in result["msg"], result["msg"]
        assert "recreate=true" in result["msg"]
        assert task_writes == [], task_writes
    assert "gpu_count: 1 -> 2" in refused["more gpus"][0]["msg"]
    assert "gpu_type: gpua5000 -> gpu3080ti" in refused["other family"][0]["msg"]

    recreated, recreate_writes = dep(small_spec(gpu_count=2, recreate=True))
    assert status(recreated) == "changed", recreated
    new = recreated["deployment"]
    assert new["id"] != old["id"]
    assert new["gpu_count"] == 2 and new["state"] == "ready" and new["name"] == "small"
    # What the task did not mention is carried over from the replaced deployment.
    assert new["replicas"] == 2 and new["inference_engine_parameters"] == ["--max-model-len=4096"]
    assert recreated["diff"]["before"]["gpu_count"] == 1
    assert recreated["diff"]["after"]["gpu_count"] == 2
    assert recreate_writes == [("DELETE", "/v2/ai/deployment/%s" % old["id"]), ("POST", "/v2/ai/deployment")]
    converged, dummy = dep(small_spec(gpu_count=2, recreate=True))
    assert status(converged) == "ok", converged
    assert [d["id"] for d in run_module("ai_deployment_info", {"name": "small"})["deployments"]] == [new["id"]]

    deleted, dummy = dep(dict(name="small", state="absent"))
    assert status(deleted) == "changed", deleted
    assert deleted["deployment"]["id"] == new["id"]
    assert deleted["diff"]["after"] == {"state": "absent"}
    again, dummy = dep(dict(name="small", state="absent"))
    assert status(again) == "ok" and again["changed"] is False
    assert again["deployment"] == {}
    assert private_deployments(sim) == []


def test_recreate_checks_the_new_settings_before_deleting(sim, run_module):
    upload(run_module, QWEN)
    created = run_module("ai_deployment", small_spec())
    assert status(created) == "changed", created
    refused = run_module("ai_deployment", small_spec(gpu_type="gpu3", recreate=True))
    assert status(refused) == "failed", refused
    assert "gpu3" in refused["msg"]
    [kept] = private_deployments(sim)
    assert kept["id"] == created["deployment"]["id"]


def test_ambiguous_name_requires_id(sim, run_module):
    upload(run_module, QWEN)
    first = run_module("ai_deployment", small_spec(name="twin"))
    assert status(first) == "changed", first
    model_id = first["deployment"]["model"]["id"]
    client = Client(sim.key, sim.secret, url=sim.url)
    operation = client.create_deployment(name="twin", model={"id": model_id}, gpu_type="gpua5000", gpu_count=1, replicas=1)
    second_id = operation["reference"]["id"]
    first_id = first["deployment"]["id"]

    sim.control.clear_requests()
    results = {"ambiguous": run_module("ai_deployment", small_spec(name="twin", replicas=2)),
               "ambiguous delete": run_module("ai_deployment", dict(name="twin", state="absent"))}
    both = run_module("ai_deployment_info", {"name": "twin"})
    by_id = run_module("ai_deployment", dict(id=second_id, name="twin", replicas=2))
    delete_by_id = run_module("ai_deployment", dict(id=first_id, state="absent"))
    now_unique = run_module("ai_deployment", small_spec(name="twin", replicas=2))
    for task, result in results.items():
        assert status(result) == "failed", (task, result)
        message = result["msg"]
        assert "twin" in message and "id" in message
        assert first_id in message and second_id in message
    assert sorted(d["id"] for d in both["deployments"]) == sorted([first_id, second_id])
    assert status(by_id) == "changed"
    assert by_id["deployment"]["id"] == second_id
    assert by_id["deployment"]["replicas"] == 2
    assert status(delete_by_id) == "changed"
    assert status(now_unique) == "ok"
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


def test_deployment_error_while_waiting_reports_details_and_logs(sim, run_module):
    upload(run_module, QWEN)
    sim.control.config(speed=10)
    details = "CUDA error: an illegal memory access was encountered"
    stop = threading.Event()
    watcher = threading.Thread(target=_error_when_created, args=(sim, details, stop), daemon=True)
    watcher.start()
    try:
        failure = run_module("ai_deployment", small_spec())
    finally:
        stop.set()
        watcher.join(timeout=10)
    again = run_module("ai_deployment", small_spec())
    recreated = run_module("ai_deployment", small_spec(recreate=True))
    assert status(failure) == "failed", failure
    assert "state error" in failure["msg"] and details in failure["msg"]
    assert "Last log lines" in failure["msg"] and "EngineCore failed to start" in failure["msg"]
    assert failure["deployment"]["state"] == "error"
    assert failure["deployment"]["state_details"] == details
    assert failure["duration"] > 0
    # Without recreate, an existing deployment in error is reported again, with its details.
    assert status(again) == "failed"
    assert details in again["msg"]
    assert status(recreated) == "changed", recreated
    recovered = recreated["deployment"]
    assert recovered["state"] == "ready" and recovered["id"] != failure["deployment"]["id"]
    assert len(private_deployments(sim)) == 1


def test_wait_timeout_reports_last_seen_deployment(sim, run_module):
    upload(run_module, QWEN)
    sim.control.config(speed=1)
    failure = run_module("ai_deployment", small_spec(wait_timeout=4))
    assert status(failure) == "failed", failure
    assert "timed out" in failure["msg"]
    assert "wait_timeout" in failure["msg"]
    assert failure["deployment"]["name"] == "small"
    assert failure["deployment"]["state"] in ("creating", "preparing")
    assert failure["deployment"]["id"] == private_deployments(sim)[0]["id"]
    assert 3.5 <= failure["duration"] < 15


def test_invalid_input_is_refused_with_the_field_and_allowed_values(sim, run_module):
    cases = [
        ("gpu_count 9", small_spec(gpu_count=9), ["gpu_count", "1 and 8", "9"], True),
        ("replicas -1", small_spec(replicas=-1), ["replicas", "0 or more", "-1"], True),
        ("bad version", small_spec(inference_engine_version="latest"), ["inference_engine_version", "0.28.0"], True),
        ("not a flag", small_spec(inference_engine_parameters=["max-model-len=1"]),
         ["inference_engine_parameters", "--max-model-len"], True),
        ("replicas 0 on create", small_spec(replicas=0), ["replicas", "at least 1", "scale to 0"], False),
        ("unknown gpu_type", small_spec(gpu_type="gpuh100"),
         ["gpu_type", "gpuh100", "gpu3080ti", "gpua5000", "gpurtx6000pro"], False),
        ("unauthorized family", small_spec(gpu_type="gpu3"),
         ["gpu_type", "gpu3", "not authorized", "gpu3080ti, gpua5000, gpurtx6000pro"], False),
        ("unknown engine flag", small_spec(inference_engine_parameters=["--max-model-length=4096"]),
         ["inference_engine_parameters", "--max-model-length=4096", "--max-model-len", "--dtype"], False),
        ("unknown engine version", small_spec(inference_engine_version="9.9.9"),
         ["inference_engine_version", "9.9.9", "0.27.1, 0.28.0"], False),
        ("missing model", small_spec(model="nobody/nothing"), ["model", "nobody/nothing", "ai_model"], False),
        ("missing options", dict(name="new"), ["gpu_count", "gpu_type", "model"], False),
    ]
    # Checks that need no API request run first, alone, so the request log shows they sent none at all.
    results = {}
    for is_local_pass in (True, False):
        for label, args, dummy, is_local in cases:
            if is_local == is_local_pass:
                results[label] = run_module("ai_deployment", args)
        if is_local_pass:
            assert sim.control.requests() == []
    for label, dummy, words, is_local in cases:
        result = results[label]
        assert status(result) == "failed", (label, result)
        for word in words:
            assert word in result["msg"], (label, word, result["msg"])
    requests = sim.control.requests()
    assert requests and writes(requests) == []
    assert private_deployments(sim) == []
