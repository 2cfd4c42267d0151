"""The rollout role against the simulator: blue/green with a quality gate, rollback, resume, claims, quota, check mode."""
import json
import threading
import urllib.error
import urllib.request

import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils import rollout as rollout_plan
from tests.benchmarks import downtime
from tests.integration.conftest import run_playbook, simulator_env

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN_15 = "Qwen/Qwen2.5-1.5B-Instruct"
QWEN_7 = "Qwen/Qwen2.5-7B-Instruct"
NAME = "chat"
ROLE_PREFIX = "inferops.exoscale.rollout : "
# The switch tasks of the tests: write where consumers should go (the key too, as a real switch would) to a file.
SWITCH_TASKS = """\
- name: Point consumers at the new deployment
  ansible.builtin.copy:
    content: "{{ {'url': rollout_switch_url, 'api_key': rollout_switch_api_key, 'id': rollout_switch_id,
                 'name': rollout_switch_name} | to_json }}"
    dest: "{{ playbook_dir }}/target.json"
    mode: "0600"
  no_log: true
- name: A switch that fails when asked to
  ansible.builtin.fail:
    msg: the gateway refused the new configuration
  when: lookup('ansible.builtin.env', 'SWITCH_FAILS') == '1'
"""


BENCHMARK = {"requests": 4, "concurrency": 2, "max_tokens": 8, "thresholds": {"error_rate_max": 0}}


def rollout(**role_vars):
    """One include_role task of rollout (fast smoke retries, the test switch tasks)."""
    values = dict(rollout_name=NAME, rollout_model=QWEN, rollout_smoke_retry_delay=0.2,
                  rollout_switch_tasks="{{ playbook_dir }}/switch.yml")
    values.update(role_vars)
    return {"name": "rollout", "ansible.builtin.include_role": {"name": "inferops.exoscale.rollout"}, "vars": values}


def show_result():
    return {"name": "result", "ansible.builtin.debug": {"var": "rollout_result"}}


def deploy_live(**fields):
    """A task that creates the live deployment directly (as it was before any rollout)."""
    values = dict(name=NAME, model=QWEN, gpu_type="gpua5000", gpu_count=1, replicas=1)
    values.update(fields)
    return [{"name": "model", "inferops.exoscale.ai_model": {"name": values["model"]}},
            {"name": "live", "inferops.exoscale.ai_deployment": values}]


def build_live(run_module, env=None, **fields):
    """The live deployment built in the test process (ai_model, ai_deployment through run_module: no playbook run),
    as it was before any rollout; returns ai_deployment's result."""
    values = dict(name=NAME, model=QWEN, gpu_type="gpua5000", gpu_count=1, replicas=1)
    values.update(fields)
    for model in [values["model"], *values.pop("more_models", [])]:
        uploaded = run_module("ai_model", env=env, name=model, **({"zone": values["zone"]} if "zone" in values else {}))
        assert not uploaded.get("failed"), uploaded
    created = run_module("ai_deployment", values, env=env)
    assert created.get("changed") and not created.get("failed"), created
    return created


@pytest.fixture
def roll(play, tmp_path):
    """``roll(*args, env=..., **role_vars)`` runs the role (then shows rollout_result); returns (run, rollout_result)."""
    (tmp_path / "switch.yml").write_text(SWITCH_TASKS)

    def runner(*args, env=None, before=(), **role_vars):
        run = play([*before, rollout(**role_vars), show_result()], *args, env=env)
        records = [r for r in run.records if r["task"] == "result"]
        return run, (records[-1]["result"].get("rollout_result") if records else None)
    return runner


def deployments(sim, zone="ch-gva-2"):
    """Private deployments of the zone: {name: [deployment, ...]}."""
    found = {}
    for dep in sim.control.state()["zones"][zone]["deployments"].values():
        if dep["visibility"] == "private":
            found.setdefault(dep["name"], []).append(dep)
    return found


def only(sim, name=NAME):
    matches = deployments(sim).get(name, [])
    assert len(matches) == 1, deployments(sim)
    return matches[0]


def serves(sim, dep):
    """Whether the deployment answers a chat request on its endpoint with its own key."""
    url = "%s/inference/ch-gva-2/%s/v1/chat/completions" % (sim.base, dep["id"])
    body = json.dumps({"model": dep["model"]["name"], "messages": [{"role": "user", "content": "ping"}]}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": "Bearer " + dep["api-key"], "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return False


def untouched(sim, before):
    """The live deployment is the same one, unchanged, still named NAME, and serving."""
    now = only(sim)
    assert now["id"] == before["id"], "another deployment carries the name"
    for field in ("model", "gpu-count", "gpu-type", "replicas", "inference-engine-version", "inference-engine-parameters"):
        assert now[field] == before[field], field
    assert serves(sim, now)


def candidates(sim):
    return sorted(name for name in deployments(sim) if name.startswith(NAME + "--candidate-"))


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def task_name(record):
    return record["task"][len(ROLE_PREFIX):] if record["task"].startswith(ROLE_PREFIX) else record["task"]


def failure(run):
    """The message of the (last) failed task."""
    failed = [r for r in run.records if r["status"] == "failed"]
    assert failed, run.output[-3000:]
    return failed[-1]["result"].get("msg", "")


def test_blue_green_switch_with_benchmark_then_unchanged(roll, sim, tmp_path, live_built):
    """The first rollout (no live deployment yet) is test_role_rollout_plan's first-rollout case."""
    live_built()
    live = only(sim)
    second, result = roll(rollout_model=QWEN_15, rollout_gpu_count=2, rollout_benchmark=BENCHMARK)
    assert second.rc == 0, second.output
    assert result["outcome"] == "switched"
    assert result["gate"]["benchmark"]["requests"]["sent"] == 4 and result["gate"]["benchmark"]["error_rate"] == 0
    new = only(sim)
    assert new["id"] != live["id"] and new["model"]["name"] == QWEN_15 and new["gpu-count"] == 2
    assert sorted(deployments(sim)) == [NAME], "the old one is deleted, no candidate is left"
    assert result["retired"] == [{"id": live["id"], "name": "%s--retired-%s" % (NAME, result["retired"][0]["name"][-8:]),
                                  "action": "deleted"}]
    assert json.loads((tmp_path / "target.json").read_text())["id"] == new["id"]
    assert new["api-key"] not in second.output and live["api-key"] not in second.output
    assert result["live"]["id"] == new["id"] and result["live"]["name"] == NAME and result["gate"]["passed"] is True
    assert result["gate"]["content"].startswith("[%s]" % QWEN_15)

    sim.control.clear_requests()
    third, result = roll(rollout_model=QWEN_15, rollout_gpu_count=2)
    assert third.rc == 0, third.output
    assert result["outcome"] == "unchanged" and result["live"]["id"] == new["id"]
    assert writes(sim.control.requests()) == []
    assert "changed=0" in third.stdout


def test_failing_gate_deletes_the_candidate_and_leaves_the_live_one_serving(roll, sim, live_built):
    live_built()
    run, result = roll(rollout_model=QWEN_15, rollout_smoke_expect="(?i)bonjour")
    assert run.rc != 0
    live = only(sim)
    message = failure(run)
    assert "rolled back" in message and "does not match expect" in message and "is untouched and serving" in message, message
    assert result is None or result["outcome"] == "rolled_back"
    facts = [r for r in run.records if task_name(r) == "Build rollout_result"][-1]["result"]["ansible_facts"]
    figures = facts["rollout_result"]
    assert figures["outcome"] == "rolled_back" and figures["live"]["id"] == live["id"]
    assert figures["gate"]["passed"] is False and figures["gate"]["content"].startswith("[%s]" % QWEN_15)
    assert candidates(sim) == [] and sorted(deployments(sim)) == [NAME]
    assert live["model"]["name"] == QWEN and serves(sim, live)
    assert ("DELETE", "/v2/ai/deployment/%s" % live["id"]) not in writes(sim.control.requests())


def test_too_slow_candidate_fails_the_benchmark_gate(roll, sim, live_built):
    """Every inference answer is delayed by 0.3 s: the benchmark's median latency threshold of 100 ms fails."""
    live_built()
    sim.control.inject("POST", "/inference/*", action="delay", delay=0.3, count=50)
    slow = dict(BENCHMARK, thresholds={"latency_p50_ms": 100})
    run, _unused = roll(rollout_model=QWEN_15, rollout_benchmark=slow)
    assert run.rc != 0
    message = failure(run)
    assert "rolled back" in message and "latency_p50_ms" in message, message
    figures = [r for r in run.records if task_name(r) == "Build rollout_result"][-1]["result"]["ansible_facts"]
    benchmark = figures["rollout_result"]["gate"]["benchmark"]
    assert benchmark["latency_ms"]["p50"] > 100, benchmark
    assert candidates(sim) == [] and sorted(deployments(sim)) == [NAME]
    sim.control.clear_faults()
    assert serves(sim, only(sim)) and only(sim)["model"]["name"] == QWEN


def candidate_name(**role_vars):
    """The candidate's name for these role variables (the role's defaults otherwise)."""
    inputs = dict(name=NAME, model=QWEN, gpu_type="gpua5000", gpu_count=1, replicas=1, engine_version="",
                  engine_parameters=[])
    inputs.update((key[len("rollout_"):], value) for key, value in role_vars.items())
    return NAME + "--candidate-" + rollout_plan.spec_hash(rollout_plan.wanted_spec(inputs))


def test_candidate_in_error_is_diagnosed_and_deleted(roll, sim, live_built):
    """The candidate's engine runs out of memory at start-up: the wait diagnoses it and the candidate is deleted."""
    live_built()
    sim.control.force_failure("out_of_memory", deployment=candidate_name(rollout_model=QWEN_15))
    run, _unused = roll(rollout_model=QWEN_15)
    assert run.rc != 0
    message = failure(run)
    assert "rolled back" in message and "is in state error" in message and "CUDA out of memory" in message, message
    assert "Last log lines" in message and "is untouched and serving" in message
    assert candidates(sim) == [] and sorted(deployments(sim)) == [NAME]
    live = only(sim)
    assert live["model"]["name"] == QWEN and serves(sim, live)


def test_preflight_refusal_of_the_candidate_creates_nothing(roll, sim, live_built):
    """Qwen 7B does not fit in one 12 GB GPU: ai_deployment refuses the candidate before any create."""
    live_built()
    run, _unused = roll(rollout_model=QWEN_7, rollout_gpu_type="gpu3080ti")
    assert run.rc != 0
    message = failure(run)
    # Refused by ai_deployment's own preflight before any write: nothing to roll back.
    assert "refused" in message and "do not fit" in message and "Nothing was created" in message, message
    assert "is untouched and serving" in message, message
    posts = [path for method, path in writes(sim.control.requests()) if method == "POST" and path == "/v2/ai/deployment"]
    assert len(posts) == 1, "only the live deployment was created"
    assert sorted(deployments(sim)) == [NAME] and serves(sim, only(sim))


def test_in_place_engine_upgrade_is_gated_and_updated_back_on_failure(roll, sim, live_built):
    live_built(inference_engine_version="0.28.0")
    failed, _unused = roll(rollout_in_place=True, rollout_engine_version="0.27.0", rollout_smoke_expect="(?i)bonjour")
    assert failed.rc != 0
    message = failure(failed)
    assert "In-place update of chat rolled back" in message and "does not match expect" in message, message
    live = only(sim)
    assert live["inference-engine-version"] == "0.28.0" and serves(sim, live)
    patches = [path for method, path in writes(sim.control.requests()) if method == "PATCH"]
    assert len(patches) == 2, "updated, then updated back"

    passed, result = roll(rollout_in_place=True, rollout_engine_version="0.27.0")
    assert passed.rc == 0, passed.output
    assert result["outcome"] == "switched" and result["mode"] == "in_place" and result["retired"] == []
    after = only(sim)
    assert after["id"] == live["id"] and after["inference-engine-version"] == "0.27.0"
    assert candidates(sim) == []


def test_quota_too_small_for_both_is_refused_before_any_create(roll, sim, live_built):
    live_built()
    sim.control.limits(gpua5000=2)
    run, _unused = roll(rollout_model=QWEN_15, rollout_gpu_count=2)
    assert run.rc != 0
    message = failure(run)
    assert "needs 2 gpua5000 GPU(s)" in message and "quota is 2 with 1 in use" in message, message
    assert "Nothing was created" in message and "is untouched and serving" in message
    posts = [path for method, path in writes(sim.control.requests()) if method == "POST"]
    assert posts.count("/v2/ai/deployment") == 1, "only the live deployment was created: %s" % posts
    assert sorted(deployments(sim)) == [NAME] and serves(sim, only(sim))


def test_check_mode_shows_the_plan_and_writes_nothing(run_module, sim, live_built):
    """The plan's lines, from ai_rollout_plan in process with the role's defaults; that the role's --check prints this
    plan, predicts the outcome and writes nothing is test_role_rollout_plan's blue-green case (a real --check run)."""
    live_built()
    sim.control.clear_requests()
    result = run_module("ai_rollout_plan", check_mode=True, name=NAME, model=QWEN_15, gpu_type="gpua5000",
                        retire="scale_to_zero")
    assert not result.get("failed") and result["changed"] is False, result
    assert writes(sim.control.requests()) == []
    plan = result["lines"]
    assert result["mode"] == "blue_green"
    assert [line.split(":")[0] for line in plan] == ["create", "claim", "wait", "gate", "switch", "rename", "rename",
                                                     "retire"], plan
    assert NAME + "--candidate-" in plan[0] and QWEN_15 in plan[0]
    assert plan[7].startswith("retire: scale_to_zero %s--retired-" % NAME)


def run_in(tmp_path, sim, label, **role_vars):
    """Run the role from its own directory (for concurrent runs)."""
    directory = tmp_path / label
    directory.mkdir()
    (directory / "switch.yml").write_text(SWITCH_TASKS)
    values = dict(rollout_name=NAME, rollout_smoke_retry_delay=0.2, rollout_switch_tasks="{{ playbook_dir }}/switch.yml")
    values.update(role_vars)
    return run_playbook(directory, [{"name": "rollout", "ansible.builtin.include_role": {"name": "inferops.exoscale.rollout"},
                                     "vars": values}], env=simulator_env(sim))


@pytest.mark.timeout(600)
def test_two_concurrent_rollouts_one_wins(sim, tmp_path, live_built):
    live_built(more_models=[QWEN_15])
    live = only(sim)
    # slower deployments, so that both runs overlap for sure
    sim.control.config(timings={"deployment_deploying": 400})
    wanted = {"a": dict(rollout_model=QWEN_15), "b": dict(rollout_model=QWEN, rollout_gpu_count=2)}
    runs = {}
    threads = [threading.Thread(target=lambda label=label: runs.__setitem__(label, run_in(tmp_path, sim, label, **wanted[label])))
               for label in wanted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [label for label, run in runs.items() if run.rc == 0]
    assert len(winners) == 1, {label: run.output[-2000:] for label, run in runs.items()}
    [loser] = [label for label in runs if label not in winners]
    message = failure(runs[loser])
    assert "Another rollout of chat" in message and "keeps serving" in message, message
    loser_changes = [task_name(r) for r in runs[loser].records if r["status"] == "changed"]
    assert all(t.startswith(("Create the candidate ", "Delete the candidate")) for t in loser_changes), loser_changes
    assert sorted(deployments(sim)) == [NAME], deployments(sim)
    final = only(sim)
    assert final["id"] != live["id"] and final["model"]["name"] == wanted[winners[0]]["rollout_model"]
    assert final["gpu-count"] == wanted[winners[0]].get("rollout_gpu_count", 1)
    assert serves(sim, final)


@pytest.mark.timeout(900)
def test_downtime_prober_smoke(sim, tmp_path):
    """tests/benchmarks/downtime.py at the session simulator's speed: blue/green never fails a request, recreate does."""
    results = downtime.measure(sim, tmp_path, speed=float(sim.control.config()["speed"]), interval=0.05)
    blue_green, recreate = results["blue/green (rollout role)"], results["recreate: true"]
    assert blue_green["requests"] > 20 and blue_green["failed"] == 0, blue_green
    assert recreate["failed"] > 0 and recreate["longest_outage_s"] > 0, recreate
    assert "| recreate: true |" in downtime.report(results, 50, 0.05)
