"""The rollout role's plan: inputs refused before any write, check mode equal to the run (quota included), and no
secret of a failed no_log switch task in facts, output or ansible-runner job events."""
import json

import pytest
import yaml

from tests.integration.conftest import playbook_text, run_playbook, simulator_env
from tests.integration.test_role_rollout import (
    NAME, QWEN, QWEN_15, SWITCH_TASKS, deployments, only, rollout, show_result, writes,
)
from tests.module_runner import run_module

# The refusals share one state and one --check run and one real run, a host per case (each host its own facts):
# the live deployment ``chat`` holding 1 of a quota of 2 gpua5000 GPUs, and ``other`` (on gpu3080ti, outside that
# quota) with the candidate of another rollout next to it. Every case is refused before any write.
OTHER = "other"
BAD_INPUTS = {
    "typo-treshold": (dict(rollout_benchmark={"requests": 4, "treshold": {"error_rate_max": 0}}), ["treshold"]),
    "unknown-threshold": (dict(rollout_benchmark={"requests": 4, "thresholds": {"error_rate": 0}}), ["error_rate"]),
    "requests-0": (dict(rollout_benchmark={"requests": 0}), ["rollout_benchmark.requests", "got 0"]),
    "invalid-regex": (dict(rollout_smoke_expect="(unclosed"), ["rollout_smoke_expect", "not a valid regular expression"]),
    "ranges": (dict(rollout_gpu_count=9, rollout_smoke_max_tokens=0),
               ["rollout_gpu_count must be 1 to 8", "rollout_smoke_max_tokens"]),
}
REFUSAL_HOSTS = dict({case: dict(rollout_name=NAME, rollout_model=QWEN_15, **role_vars)
                      for case, (role_vars, dummy) in BAD_INPUTS.items()},
                     quota=dict(rollout_name=NAME, rollout_model=QWEN_15, rollout_gpu_count=2),
                     claim=dict(rollout_name=OTHER, rollout_model=QWEN_15, rollout_gpu_type="gpu3080ti"))


def build(simulator, module, **options):
    result = run_module(module, options, env=simulator_env(simulator))
    assert not result.get("failed"), result
    return result


@pytest.fixture(scope="module", name="refusals")
def refusals_fixture(simulator, tmp_path_factory):
    """The refusal cases in --check, then for real: {"check"|"real": {case: message}, "writes": [...], "before",
    "after": the deployments}."""
    directory = tmp_path_factory.mktemp("rollout-refusals")
    (directory / "switch.yml").write_text(SWITCH_TASKS)
    simulator.control.reset()
    for model in (QWEN, QWEN_15):
        build(simulator, "ai_model", name=model)
    build(simulator, "ai_deployment", name=NAME, model=QWEN, gpu_type="gpua5000", gpu_count=1, replicas=1)
    build(simulator, "ai_deployment", name=OTHER, model=QWEN, gpu_type="gpu3080ti", gpu_count=1, replicas=1)
    build(simulator, "ai_deployment", name=OTHER + "--candidate-0badc0de", model=QWEN, gpu_type="gpu3080ti",
          gpu_count=1, replicas=1, wait=False)
    simulator.control.limits(gpua5000=2)
    (directory / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {
        case: dict(role_vars, ansible_connection="local") for case, role_vars in REFUSAL_HOSTS.items()}}}))
    task = rollout()
    for variable in ("rollout_name", "rollout_model"):  # from each host's variables
        del task["vars"][variable]
    [play] = yaml.safe_load(playbook_text([task, show_result()]))
    (directory / "refusals.yml").write_text(yaml.safe_dump([dict(play, hosts="all", connection="local")], sort_keys=False))
    found = {"before": deployments(simulator)}
    simulator.control.clear_requests()
    for label, args in (("check", ("--check",)), ("real", ())):
        run = run_playbook(directory, playbook=directory / "refusals.yml", env=simulator_env(simulator),
                           args=("-i", str(directory / "inventory.yml"), "--forks", str(len(REFUSAL_HOSTS)), *args))
        assert run.rc != 0, run.output[-3000:]
        found[label] = {}
        for case in REFUSAL_HOSTS:
            failed = [r for r in run.records if r["host"] == case and r["status"] == "failed"]
            assert failed, (case, run.output[-3000:])
            found[label][case] = failed[-1]["result"].get("msg", "")
    found["writes"] = writes(simulator.control.requests())
    found["after"] = deployments(simulator)
    return found


def refused_alike(refusals, case):
    """Refused alike in --check and for real, and nothing written; returns the message."""
    assert refusals["writes"] == [], refusals["writes"]
    assert refusals["check"][case] == refusals["real"][case], (refusals["check"][case], refusals["real"][case])
    assert refusals["after"] == refusals["before"], (refusals["before"], refusals["after"])
    return refusals["real"][case]


@pytest.fixture(name="roll_both")
def roll_both_fixture(play, sim, tmp_path):
    """``roll_both(**role_vars)``: the role in --check, then for real; returns [(run, rollout_result, writes)] x 2."""
    (tmp_path / "switch.yml").write_text(SWITCH_TASKS)

    def runner(**role_vars):
        outcomes = []
        for args in (("--check",), ()):
            sim.control.clear_requests()
            run = play([rollout(**role_vars), show_result()], *args)
            records = [r for r in run.records if r["task"] == "result"]
            outcomes.append((run, records[-1]["result"].get("rollout_result") if records else None,
                             writes(sim.control.requests())))
        return outcomes
    return runner


@pytest.mark.xdist_group("test_role_rollout_plan")
@pytest.mark.parametrize("case", sorted(BAD_INPUTS, key=list(BAD_INPUTS).index))
def test_bad_inputs_are_refused_before_any_write(refusals, case):
    message = refused_alike(refusals, case)
    assert all(word in message for word in BAD_INPUTS[case][1]), message
    assert [d["id"] for d in refusals["after"][NAME]] == [d["id"] for d in refusals["before"][NAME]]


@pytest.mark.xdist_group("test_role_rollout_plan")
def test_check_mode_predicts_the_quota_refusal(refusals):
    """The quota holds the live deployment but not a 2-GPU candidate next to it: check mode says so, as the run does."""
    message = refused_alike(refusals, "quota")
    assert "needs 2 gpua5000 GPU(s)" in message and "quota is 2 with 1 in use" in message, message
    assert "Nothing was created" in message and "is untouched and serving" in message, message
    assert len(refusals["after"][NAME]) == 1 and not [n for n in refusals["after"] if n.startswith(NAME + "--")]


@pytest.mark.xdist_group("test_role_rollout_plan")
def test_check_mode_shows_the_claim_of_another_rollout(refusals):
    message = refused_alike(refusals, "claim")
    assert "Another rollout of other is in progress" in message and "--candidate-0badc0de" in message, message


@pytest.mark.parametrize("setup, role_vars, outcome", [
    ("none", dict(), "switched"),
    ("live", dict(rollout_model=QWEN_15, rollout_retire="scale_to_zero"), "switched"),
    ("live", dict(), "unchanged"),
], ids=["first-rollout", "blue-green", "unchanged"])
def test_check_mode_plan_is_the_plan_the_run_executes(roll_both, live_built, sim, tmp_path, setup, role_vars, outcome):
    if setup == "live":
        live_built()
    (check, predicted, check_writes), (real, done, dummy) = roll_both(**role_vars)
    assert check.rc == 0 and real.rc == 0, (check.output[-3000:], real.output[-3000:])
    assert check_writes == []
    assert predicted["outcome"] == done["outcome"] == outcome
    assert predicted["steps"] == done["steps"] and predicted["plan"] == done["plan"] and predicted["mode"] == done["mode"]
    assert sorted(deployments(sim)) == [NAME] if role_vars.get("rollout_retire") != "scale_to_zero" else True
    if setup == "none":  # the first rollout: the candidate becomes the live deployment, switched to, gated
        live = only(sim)
        assert done["live"]["id"] == live["id"] and done["live"]["name"] == NAME and done["mode"] == "blue_green"
        assert done["retired"] == [] and done["gate"]["passed"] is True
        assert done["gate"]["content"].startswith("[%s]" % QWEN)
        target = json.loads((tmp_path / "target.json").read_text())
        assert target["id"] == live["id"] and target["url"] == done["live"]["url"] and target["url"]
        assert live["api-key"] not in check.output and live["api-key"] not in real.output
    if role_vars.get("rollout_retire") == "scale_to_zero":
        assert [line.split(":")[0] for line in predicted["plan"]] == [
            "create", "claim", "wait", "gate", "switch", "rename", "rename", "retire"], predicted["plan"]
        assert predicted["plan"][7].startswith("retire: scale_to_zero %s--retired-" % NAME)


FAILING_NO_LOG_SWITCH = """\
- name: Tell the gateway about the new deployment
  ansible.builtin.uri:
    url: "{{ gateway }}"
    method: POST
    headers:
      Authorization: "Bearer {{ rollout_switch_api_key }}"
    body_format: json
    body: {url: "{{ rollout_switch_url }}", key: "{{ rollout_switch_api_key }}"}
  no_log: true
"""


def test_a_failed_no_log_switch_leaks_no_key_into_job_events(ansible_runner, live_built, sim, tmp_path):
    """The switch task (no_log) fails after the gate: both deployments are kept (incomplete), and the candidate's API
    key is nowhere in the job events, their stdout, or the facts (ansible-runner at verbosity 0, as AWX runs it)."""
    switch = tmp_path / "switch-gateway.yml"
    switch.write_text(FAILING_NO_LOG_SWITCH)
    live_built()
    tasks = [
        {"name": "rollout", "block": [rollout(rollout_model=QWEN_15, rollout_switch_tasks=str(switch))],
         "rescue": [show_result()]}]
    env = simulator_env(sim)
    env.pop("HF_ENDPOINT")
    run = ansible_runner(tasks, env=env, extravars={"gateway": sim.base + "/_marker/gateway"})
    found = deployments(sim)
    [candidate] = [d for name, ds in found.items() for d in ds if name.startswith(NAME + "--candidate-")]
    live = only(sim)
    result = [r for r in run.records if r["task"] == "result"][-1]["result"]["rollout_result"]
    assert result["outcome"] == "incomplete" and result["candidate"]["id"] == candidate["id"], result
    assert "hidden" in result["failure"], result["failure"]
    events = "\n".join(path.read_text() for path in (run.artifacts / "job_events").glob("*.json"))
    stdout = (run.artifacts / "stdout").read_text()
    for secret in (candidate["api-key"], live["api-key"]):
        assert secret not in events and secret not in stdout and secret not in json.dumps(run.records)
