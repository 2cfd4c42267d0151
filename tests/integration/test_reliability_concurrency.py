"""Two ansible-playbook processes converge the same model and deployment at the same time; several creators in
process at once, and a lookup that meets their copies before the losers deleted theirs, keep one; a local clock
that is off by minutes gets a message that names the clock."""
import importlib
import json
import multiprocessing
import subprocess
import time


from tests.integration.conftest import BIN, harness_env, playbook_text, simulator_env
from tests.integration.reliability_report import QWEN, models, private_deployments, record
from tests.module_runner import MODULE_PACKAGE


def test_two_runs_at_once_converge_on_one_model_and_one_deployment(sim, tmp_path):
    """Both list, both see nothing, both create: each then keeps the oldest of that name and deletes its own newer
    copy (see docs/reliability.md), so both runs succeed and exactly one of each is left."""
    # The race: both runs list before either created. Each run talks to the zone through its own path form
    # (/v2 and /ch-gva-2/v2), so a stale (empty) answer to each run's first list reproduces that window
    # whatever the start-up jitter of the two processes.
    sim.control.config(speed=20, timings={"model_creating": 40})  # the model takes 2 s, the deployment 3 s
    endpoints = [sim.url, sim.base + "/ch-gva-2/v2"]
    for endpoint in endpoints:
        prefix = endpoint[len(sim.base):]
        sim.control.inject("GET", prefix + "/ai/model", status=200, body={"models": []})
        sim.control.inject("GET", prefix + "/ai/deployment", status=200, body={"deployments": []})
    tasks = [{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}, "register": "model"},
             {"name": "deploy", "inferops.exoscale.ai_deployment": {
                 "name": "together", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1}, "register": "dep"}]
    runs = []
    for index in range(2):
        directory = tmp_path / ("run%d" % index)
        directory.mkdir()
        playbook = directory / "playbook.yml"
        playbook.write_text(playbook_text(tasks))
        records = directory / "records.json"
        env = harness_env(directory, records, simulator_env(sim, EXOSCALE_API_ENDPOINT=endpoints[index]))
        runs.append((subprocess.Popen([str(BIN / "ansible-playbook"), str(playbook)], env=env, cwd=directory,  # pylint: disable=consider-using-with
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), records))
    outputs = [(process.communicate(timeout=300)[0], process.returncode, records) for process, records in runs]
    state = sim.control.state()
    posts = dict((kind, len([r for r in sim.control.requests() if r["method"] == "POST" and r["status"] == 200
                             and r["path"].endswith("/v2/ai/" + kind)])) for kind in ("model", "deployment"))
    left = (len(models(state, QWEN)), len(private_deployments(state, "together")))
    record("test_two_runs_at_once", duplicates_found=max(0, left[0] - 1) + max(0, left[1] - 1))
    for output, returncode, dummy in outputs:
        assert returncode == 0, output[-4000:]
    assert posts == {"model": 2, "deployment": 2}, "the race was not reproduced: %s" % posts
    assert left == (1, 1), (left, posts)
    results = [dict((r["task"], r["result"]) for r in json.loads(records.read_text())) for dummy, dummy, records in outputs]
    # both runs report the survivor, whichever of them created it
    assert results[0]["model"]["model"]["id"] == results[1]["model"]["model"]["id"] == models(state, QWEN)[0]["id"]
    assert results[0]["deploy"]["deployment"]["id"] == results[1]["deploy"]["deployment"]["id"] \
        == private_deployments(state, "together")[0]["id"]
    assert all(r["deploy"]["deployment"]["state"] == "ready" for r in results)


def creators(run_module, count, module, args, start, results, first=0, **options):
    """``count`` forked processes, each calling ``module``'s real main() with ``args`` once ``start`` (a Barrier
    of count + 1) lets them go; each puts ``(index, result)`` on ``results``. Processes: a module owns the
    process's stdout and arguments while it runs, as under Ansible."""
    def creator(index):
        start.wait(timeout=60)
        try:
            results.put((index, run_module(module, args, **options)))
        except Exception as exc:  # pylint: disable=broad-except
            results.put((index, {"failed": True, "msg": "%s: %s" % (type(exc).__name__, exc)}))
    context = multiprocessing.get_context("fork")
    importlib.import_module(MODULE_PACKAGE + module)  # imported before the fork: the creators start together
    processes = [context.Process(target=creator, args=(index,)) for index in range(first, first + count)]
    for process in processes:
        process.start()
    return processes


def collect(processes, results):
    found = dict(results.get(timeout=120) for dummy in processes)
    for process in processes:
        process.join(timeout=30)
    return [found[index] for index in sorted(found)]


def test_many_creators_and_a_late_lookup_keep_one_model(run_module, sim, creating=4, lost_answers=1):
    """``creating`` runs list at once and all create (their POSTs are held 3 s, so none sees another's copy);
    the last ``lost_answers`` of them lose the answer after the server created it. The losers' deletes are held 3 s: while
    their copies exist, a late run and a late check run look the name up. Every one of them returns the survivor's
    id, none fails, exactly one model is left. (Before the fix the late ones failed: "N models are named ...".)"""
    # the last POST to arrive (every creator has listed by then) is applied at once and its answer lost
    sim.control.inject("POST", "/v2/ai/model", action="delay", delay=3, count=creating - lost_answers)
    sim.control.inject("POST", "/v2/ai/model", action="drop_after", count=lost_answers)
    sim.control.inject("DELETE", "/v2/ai/model/*", action="delay", delay=3, count=creating)
    sim.control.config(timings={"model_creating": 300})  # 6 s: the copies are still creating when deleted
    context = multiprocessing.get_context("fork")
    results, start = context.Queue(), context.Barrier(creating + 1)
    early = creators(run_module, creating, "ai_model", {"name": QWEN}, start, results)
    start.wait(timeout=60)
    deadline = time.monotonic() + 30
    while len(models(sim.control.state(), QWEN)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    copies = models(sim.control.state(), QWEN)
    assert len(copies) >= 2, "the race was not reproduced: %s" % copies
    late_results, late_start = context.Queue(), context.Barrier(3)
    late = creators(run_module, 1, "ai_model", {"name": QWEN}, late_start, late_results)
    late += creators(run_module, 1, "ai_model", {"name": QWEN}, late_start, late_results, first=1, check_mode=True)
    late_start.wait(timeout=60)
    created, looked_up = collect(early, results), collect(late, late_results)

    left = models(sim.control.state(), QWEN)
    posts = [r for r in sim.control.requests() if r["method"] == "POST" and r["path"] == "/v2/ai/model"]
    # The racing copies are this test's set-up; a duplicate is a copy still there at the end.
    record("test_many_creators_and_a_late_lookup", faults_injected=lost_answers + 2 * creating,
           faults_survived=lost_answers + 2 * creating, duplicates_found=max(0, len(left) - 1))
    assert len(posts) == creating, posts
    assert len(left) == 1, left
    for result in created + looked_up:
        assert not result.get("failed"), result.get("msg")
        assert result["model"]["id"] == left[0]["id"], (result["model"], left)
    assert sorted(r["changed"] for r in looked_up) == [False, False]  # the late runs adopted it, the check run too


def test_a_local_clock_behind_by_minutes_is_named_in_the_error(play, sim):
    """Signatures expire 600 s after the local time: a server clock 700 s ahead (= a local clock 700 s behind) sees
    them as expired; a local clock ahead of the server only makes them valid longer, so it is accepted."""
    sim.control.config(clock_skew=700)
    behind = play([{"name": "list", "inferops.exoscale.ai_model_info": {}, "ignore_errors": True}])
    sim.control.config(clock_skew=-700)
    ahead = play([{"name": "list", "inferops.exoscale.ai_model_info": {}}])
    record("test_a_local_clock_behind", permanent_faults=1)
    message = behind.result("list")["msg"]
    assert behind.status("list") == "failed"
    for words in ("HTTP 403", "expired", "local clock", "behind", "NTP"):
        assert words in message, (words, message)
    assert ahead.status("list") == "ok", ahead.output[-3000:]
