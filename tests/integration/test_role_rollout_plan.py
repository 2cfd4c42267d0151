"""The rollout role's plan: inputs refused before any write, check mode equal to the run (quota included), and no
secret of a failed no_log switch task in facts, output or ansible-runner job events."""
import json

import pytest

from tests.integration.conftest import simulator_env
from tests.integration.test_role_rollout import (
    NAME, QWEN, QWEN_15, SWITCH_TASKS, deploy_live, deployments, failure, only, rollout, show_result, writes,
)


def quota(sim, limit):
    return {"name": "quota", "ansible.builtin.uri": {"url": sim.base + "/_sim/limits", "method": "POST",
                                                      "body_format": "json", "body": {"gpua5000": limit}}}


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


def refused_alike(outcomes):
    """Both runs refused with the same message and wrote nothing; returns the message."""
    (check, dummy, check_writes), (real, dummy, real_writes) = outcomes
    assert check.rc != 0 and real.rc != 0, (check.output[-2000:], real.output[-2000:])
    assert check_writes == [] and real_writes == [], (check_writes, real_writes)
    assert failure(check) == failure(real)
    return failure(real)


@pytest.mark.parametrize("role_vars, words", [
    (dict(rollout_benchmark={"requests": 4, "treshold": {"error_rate_max": 0}}), ["treshold"]),
    (dict(rollout_benchmark={"requests": 4, "thresholds": {"error_rate": 0}}), ["error_rate"]),
    (dict(rollout_benchmark={"requests": 0}), ["rollout_benchmark.requests", "got 0"]),
    (dict(rollout_smoke_expect="(unclosed"), ["rollout_smoke_expect", "not a valid regular expression"]),
    (dict(rollout_gpu_count=9, rollout_smoke_max_tokens=0), ["rollout_gpu_count must be 1 to 8",
                                                              "rollout_smoke_max_tokens"]),
], ids=["typo-treshold", "unknown-threshold", "requests-0", "invalid-regex", "ranges"])
def test_bad_inputs_are_refused_before_any_write(roll_both, play, sim, role_vars, words):
    assert play(deploy_live()).rc == 0
    live = only(sim)
    message = refused_alike(roll_both(rollout_model=QWEN_15, **role_vars))
    assert all(word in message for word in words), message
    assert sorted(deployments(sim)) == [NAME] and only(sim)["id"] == live["id"]


def test_check_mode_predicts_the_quota_refusal(roll_both, play, sim):
    """The quota holds the live deployment but not a 2-GPU candidate next to it: check mode says so, as the run does."""
    assert play(deploy_live() + [quota(sim, 2)]).rc == 0
    message = refused_alike(roll_both(rollout_model=QWEN_15, rollout_gpu_count=2))
    assert "needs 2 gpua5000 GPU(s)" in message and "quota is 2 with 1 in use" in message, message
    assert "Nothing was created" in message and "is untouched and serving" in message, message
    assert sorted(deployments(sim)) == [NAME]


def test_check_mode_shows_the_claim_of_another_rollout(roll_both, play, sim):
    assert play(deploy_live() + [{"name": "other rollout", "inferops.exoscale.ai_deployment": dict(
        name=NAME + "--candidate-0badc0de", model=QWEN, gpu_type="gpua5000", gpu_count=1, replicas=1, wait=False)}]).rc == 0
    message = refused_alike(roll_both(rollout_model=QWEN_15))
    assert "Another rollout of chat is in progress" in message and "--candidate-0badc0de" in message, message


@pytest.mark.parametrize("setup, role_vars, outcome", [
    ("none", dict(), "switched"),
    ("live", dict(rollout_model=QWEN_15, rollout_retire="scale_to_zero"), "switched"),
    ("live", dict(), "unchanged"),
], ids=["first-rollout", "blue-green", "unchanged"])
def test_check_mode_plan_is_the_plan_the_run_executes(roll_both, play, sim, setup, role_vars, outcome):
    if setup == "live":
        assert play(deploy_live()).rc == 0
    (check, predicted, check_writes), (real, done, dummy) = roll_both(**role_vars)
    assert check.rc == 0 and real.rc == 0, (check.output[-3000:], real.output[-3000:])
    assert check_writes == []
    assert predicted["outcome"] == done["outcome"] == outcome
    assert predicted["steps"] == done["steps"] and predicted["plan"] == done["plan"] and predicted["mode"] == done["mode"]
    assert sorted(deployments(sim)) == [NAME] if role_vars.get("rollout_retire") != "scale_to_zero" else True


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


def test_a_failed_no_log_switch_leaks_no_key_into_job_events(ansible_runner, sim, tmp_path):
    """The switch task (no_log) fails after the gate: both deployments are kept (incomplete), and the candidate's API
    key is nowhere in the job events, their stdout, or the facts (ansible-runner at verbosity 0, as AWX runs it)."""
    switch = tmp_path / "switch-gateway.yml"
    switch.write_text(FAILING_NO_LOG_SWITCH)
    tasks = deploy_live() + [
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
