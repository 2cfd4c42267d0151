"""The rollout role interrupted from outside: ansible-playbook is killed (SIGKILL, its whole process group) right after
each step, as it shows in its output; some reruns meet a transient 500 during the gate (the simulator's fault
injection). Throughout, a prober follows the switch the way consumers do (it calls the endpoint that the switch
tasks last pointed at) and no request of it may fail; the deployment consumers were switched to is never deleted, and
every run that ends leaves exactly one deployment named ``chat``."""
import json
import os
import signal
import subprocess

import pytest

from tests.benchmarks.downtime import Prober
from tests.integration.conftest import BIN, harness_env, playbook_text, simulator_env
from tests.integration.test_role_rollout import NAME, QWEN, QWEN_15, deployments, failure, only, serves
from tests.integration.conftest import PlaybookRun

ROLE_TASK = "inferops.exoscale.rollout : "
# The switch of these tests: the prober's target file (url, key, model), as a gateway's configuration would be.
SWITCH_TASKS = """\
- name: Point consumers at the new deployment
  ansible.builtin.copy:
    content: "{{ {'url': rollout_switch_url, 'api_key': rollout_switch_api_key, 'model': rollout_model,
                 'id': rollout_switch_id} | to_json }}"
    dest: "{{ playbook_dir }}/target.json"
    mode: "0600"
  no_log: true
"""
# (step, the task whose result ends it). Killed after the gate's smoke prompt, a run leaves what a run killed after
# the wait leaves (the live deployment and a ready candidate, nothing renamed): that kill point is covered by "ready".
STEPS = {
    "create": "Create the candidate ",
    "ready": "Wait until the candidate serves",
    "switch": "Point consumers at the new deployment",
    "rename_old": "Rename the old deployment to ",
    "rename_candidate": "Rename the candidate to ",
}
# Two independent chains of kills (each from its own live deployment), so that pytest-xdist runs them side by side.
CHAINS = {"before-the-switch": ("create", "ready", "switch"), "after-the-switch": ("rename_old", "rename_candidate")}
# The gate asks GET /v1/models before its prompt; the prober sends its prompt only: these 500s hit the gate alone.
# A GET is retried (rollout_smoke_retries): a 500 on each attempt fails the gate, as one 500 on its prompt would.
SMOKE_RETRIES = 2
GATE_FAULT = dict(method="GET", path="/inference/*/v1/models", status=500, count=SMOKE_RETRIES + 1)


class Rollouts:
    """Runs the role in one directory (shared switch target), killed after a step or to the end."""

    def __init__(self, sim, directory):
        self.sim = sim
        self.directory = directory
        self.runs = 0
        (directory / "switch.yml").write_text(SWITCH_TASKS)
        task = {"name": "rollout", "ansible.builtin.include_role": {"name": "inferops.exoscale.rollout"}, "vars": dict(
            rollout_name=NAME, rollout_model=QWEN_15, rollout_smoke_retry_delay=0.5, rollout_smoke_retries=SMOKE_RETRIES,
            rollout_switch_tasks="{{ playbook_dir }}/switch.yml")}
        (directory / "rollout.yml").write_text(playbook_text([task]))

    def run(self, kill_after=None, playbook="rollout.yml"):
        """Run; with ``kill_after`` (a task name prefix) SIGKILL the process group at that task's first result."""
        self.runs += 1
        records_file = self.directory / ("records-%d.json" % self.runs)
        env = harness_env(self.directory, records_file, dict(simulator_env(self.sim), PYTHONUNBUFFERED="1"))
        process = subprocess.Popen([str(BIN / "ansible-playbook"), playbook], cwd=self.directory, env=env,  # pylint: disable=consider-using-with
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines, task, killed = [], None, False
        for line in process.stdout:
            lines.append(line)
            if line.startswith("TASK ["):
                task = line[len("TASK ["):line.rfind("]")]
                task = task[len(ROLE_TASK):] if task.startswith(ROLE_TASK) else task
            elif kill_after and task and task.startswith(kill_after) and line.startswith(("ok:", "changed:")):
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                break
        process.stdout.close()
        process.wait(timeout=600)
        assert killed or not kill_after, "the step %r never ended:\n%s" % (kill_after, "".join(lines[-60:]))
        process.stdout = "".join(lines)
        process.stderr = ""
        records = []
        if records_file.exists() and not killed:  # a killed run may have left the file half-written
            records = json.loads(records_file.read_text())
        return PlaybookRun(process, records)


def point_target_at(path, sim, deployment):
    url = "%s/inference/ch-gva-2/%s/v1" % (sim.base, deployment["id"])
    path.write_text(json.dumps({"url": url, "api_key": deployment["api-key"],
                                "model": deployment["model"]["name"], "id": deployment["id"]}))


def one_named(sim):
    """Exactly one deployment carries the name, and it serves."""
    named = only(sim)
    assert serves(sim, named), named
    return named


@pytest.mark.timeout(900)
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_killed_after_each_step_with_transient_gate_failures_never_loses_the_live_service(
        sim, tmp_path, chain, live_built):
    live_built(more_models=[QWEN_15])
    old = only(sim)
    rollouts = Rollouts(sim, tmp_path)
    target = tmp_path / "target.json"
    point_target_at(target, sim, old)
    prober = Prober(target, interval=0.05).start()
    try:
        for step in CHAINS[chain]:
            killed = rollouts.run(kill_after=STEPS[step])
            assert killed.rc != 0, step
            everything = {dep["id"]: dep for deps in deployments(sim).values() for dep in deps}
            assert old["id"] in everything and serves(sim, everything[old["id"]]), (step, deployments(sim))
            switched_to = json.loads(target.read_text())["id"]
            assert switched_to in everything and serves(sim, everything[switched_to]), (step, deployments(sim))
            if step in ("switch", "rename_old"):
                # The rerun's gate meets one transient 500: consumers may use the candidate, so both are kept, and
                # the old deployment carries the name again if the interrupted run had renamed it away (the security
                # review's case: a rerun once deleted the candidate that consumers were switched to).
                candidate = switched_to
                assert candidate != old["id"]
                sim.control.inject(**GATE_FAULT)
                failed = rollouts.run()
                assert failed.rc != 0 and not sim.control.faults(), failed.output[-3000:]
                message = failure(failed)
                assert "is incomplete" in message and "HTTP 500" in message, message
                assert "Both" not in message and "kept" in message and candidate in message, message
                assert one_named(sim)["id"] == old["id"], deployments(sim)
                now = {dep["id"]: dep for deps in deployments(sim).values() for dep in deps}
                assert candidate in now and serves(sim, now[candidate]), deployments(sim)
                assert len(now) == 2, deployments(sim)
                facts = [r for r in failed.records if r["task"].endswith("Build rollout_result")][-1]["result"]
                assert facts["ansible_facts"]["rollout_result"]["outcome"] == "incomplete"
                assert facts["ansible_facts"]["rollout_result"]["candidate"]["id"] == candidate
        last = rollouts.run()
        assert last.rc == 0, last.output[-4000:]
    finally:
        samples = prober.stop()
    final = one_named(sim)
    assert final["id"] == json.loads(target.read_text())["id"], "the deployment consumers were switched to survives"
    assert final["model"]["name"] == QWEN_15 and sorted(deployments(sim)) == [NAME], deployments(sim)
    assert len(samples) > 20 and not [ok for dummy, ok in samples if not ok], \
        "%d of %d probe requests failed" % (len([ok for dummy, ok in samples if not ok]), len(samples))
    assert old["model"]["name"] == QWEN
