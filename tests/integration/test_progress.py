"""Live progress lines of ai_model, ai_deployment and ai_inference (plugins/action, plugin_utils/live_progress.py).

The simulator runs at speed 1 with short state timings, so each state lasts one or two polls and the
lines can be seen in the default callback's stdout (no -v) and in ansible-runner's job events.
"""
import datetime
import json
import re

import yaml

from .conftest import simulator_env

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN_15 = "Qwen/Qwen2.5-1.5B-Instruct"
# seconds at speed 1: a model takes about 3 s, a deployment about 6 s
SLOW = dict(operation=0.1, model_creating=1.2, model_download_base=1.8, model_download_per_gb=0.0,
            deployment_creating=1.5, deployment_preparing=2.0, deployment_deploying=2.5)
LINE = re.compile(r"^(\[\S+\] )?(ai_model|ai_deployment|ai_inference) (\S+): (.+)$")


def slow(sim, **extra):
    sim.control.config(speed=1, timings=SLOW, **extra)


def progress_lines(text):
    """``[(module, name, steps)]`` of the progress lines in ``text``."""
    found = []
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match:
            found.append((match.group(2), match.group(3), match.group(4).split(" -> ")))
    return found


def model(name=QWEN, **extra):
    return dict({"name": "model %s" % name, "inferops.exoscale.ai_model": {"name": name}}, **extra)


def deployment(name, **extra):
    spec = {"name": name, "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1}
    return dict({"name": "deploy %s" % name, "inferops.exoscale.ai_deployment": spec}, **extra)


def test_states_show_live_in_loops_and_retries_then_nothing_when_converged_or_checked(play, sim):
    slow(sim, inference_warmup=3)
    run = play([
        model(),
        {"name": "deploy in a loop", "loop": ["p-one", "p-two"],
         "inferops.exoscale.ai_deployment": {"name": "{{ item }}", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1}},
        {"name": "ask during warm-up", "inferops.exoscale.ai_inference": {
            "deployment": "p-one", "prompt": "hi", "retries": 5, "retry_delay": 1.0}},
        {"name": "MARK converged", "ansible.builtin.debug": {"msg": "converged below"}},
        {"name": "deploy again", "loop": ["p-one", "p-two"],
         "inferops.exoscale.ai_deployment": {"name": "{{ item }}", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1}},
        deployment("p-checked", check_mode=True),
        dict(deployment("p-quiet"), vars={"inferops_progress": False}),
        model(),
    ])
    assert run.rc == 0, run.output
    before, after = run.stdout.split("MARK converged", 1)
    lines = progress_lines(before)
    assert progress_lines(after) == [], after  # converged, check mode, switched off: nothing

    model_lines = [steps for module, name, steps in lines if module == "ai_model"]
    assert model_lines and model_lines[0][0] in ("creating", "downloading (1 s)", "downloading (2 s)"), model_lines
    assert model_lines[-1][-1].startswith("ready (") and "downloading" in " ".join(model_lines[-1]), model_lines
    for name in ("p-one", "p-two"):
        chains = [steps for module, item, steps in lines if module == "ai_deployment" and item == name]
        final = chains[-1]
        assert final[0] == "creating" and final[-1].startswith("ready ("), chains
        assert len(final) >= 3 and len(chains) >= 2, chains  # several states, each shown when it was seen
        for earlier, later in zip(chains, chains[1:]):
            assert later[:len(earlier) - 1] == earlier[:-1], chains  # a line extends the one before it
        seconds = [int(re.search(r"\((\d+) s\)", step).group(1)) for step in final[1:]]
        assert seconds == sorted(seconds) and 4 <= seconds[-1] <= 12, final
    inference = [steps for module, name, steps in lines if module == "ai_inference"]
    assert inference[-1] == ["HTTP 503 retry 3/5 (2 s)", "answered (3 s)"], inference  # retries replace each other
    assert "p-quiet" not in run.stdout.replace("deploy p-quiet", "")
    assert sim.control.state()["zones"]["ch-gva-2"]["deployments"], "the quiet deployment was still made"


def test_switched_off_by_environment(play, sim):
    slow(sim)
    run = play([model(QWEN_15)], env={"INFEROPS_PROGRESS": "0"})
    assert run.rc == 0, run.output
    assert run.result("model %s" % QWEN_15)["state_history"][-1]["state"] == "ready"
    assert progress_lines(run.stdout) == [], run.stdout


def test_delegate_to_async_and_become(play, sim, tmp_path):
    """delegate_to localhost from a host that cannot be reached shows live lines; async shows none and still
    works; become (the module cannot write the controller's file) shows one line at the end from the result."""
    slow(sim)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"far-away": {
        "ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh"}}}}))
    play_text = [{"name": "delegated", "hosts": "far-away", "gather_facts": False,
                  "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                  "tasks": [dict(model(), delegate_to="localhost"),
                            dict(deployment("d-async"), delegate_to="localhost", **{"async": 60, "poll": 1}),
                            {"name": "MARK become", "ansible.builtin.debug": {"msg": "become below"},
                             "delegate_to": "localhost"},
                            dict(deployment("d-become"), delegate_to="localhost", become=True,
                                 become_method="ansible.builtin.su")]}]
    playbook = tmp_path / "delegated.yml"
    playbook.write_text(yaml.safe_dump(play_text, sort_keys=False))
    run = play(None, "-i", str(inventory), playbook=playbook)
    assert run.rc == 0, run.output
    before, after = run.stdout.split("MARK become", 1)
    assert [m for m, name, steps in progress_lines(before) if m == "ai_model"], before
    assert not [m for m, name, steps in progress_lines(before) if m == "ai_deployment"], before  # async
    assert run.result("deploy d-async")["deployment"]["state"] == "ready"
    become_lines = progress_lines(after)
    history = run.result("deploy d-become")["state_history"]
    assert len(become_lines) == 1 and become_lines[0][1] == "d-become", after
    assert [step.split(" (")[0] for step in become_lines[0][2]] == [h["state"] for h in history]


def test_lines_are_job_events_under_ansible_runner(ansible_runner, sim):
    """ansible-runner (as AWX runs jobs): each line is a job event of its own, sent while the task still runs."""
    slow(sim)
    run = ansible_runner([model(), deployment("r-one")], env=simulator_env(sim))
    assert run.rc == 0, run.output
    events = sorted((json.loads(path.read_text()) for path in (run.artifacts / "job_events").glob("*.json")),
                    key=lambda event: event["counter"])
    shown = [e for e in events if progress_lines(e.get("stdout", ""))]
    assert {e["event"] for e in shown} == {"verbose"}, shown
    deployment_lines = [e for e in shown if "ai_deployment r-one" in e["stdout"]]
    assert [e for e in shown if "ai_model %s" % QWEN in e["stdout"]], [e.get("stdout") for e in events]
    assert len(deployment_lines) >= 2 and "-> ready (" in deployment_lines[-1]["stdout"], deployment_lines
    task_end = [e for e in events if e["event"] == "runner_on_ok" and e["event_data"]["task"] == "deploy r-one"][0]
    first_seen = datetime.datetime.fromisoformat(deployment_lines[0]["created"])
    assert datetime.datetime.fromisoformat(task_end["created"]) - first_seen > datetime.timedelta(seconds=2)


def test_plays_over_several_hosts_with_one_fork_run_once_and_progress_off(play, tmp_path):
    """Each of these failed with "'ActionModule' object has no attribute '_host'" in a play over two hosts."""
    inventory = tmp_path / "two.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"one": {"ansible_connection": "local"},
                                                           "two": {"ansible_connection": "local"}}}}))
    play_text = [{"name": "two hosts", "hosts": "all", "gather_facts": False,
                  "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                  "tasks": [dict(model(), run_once=True),
                            dict(deployment("two-{{ inventory_hostname }}"), delegate_to="localhost")]}]
    playbook = tmp_path / "two.yml.play"
    playbook.write_text(yaml.safe_dump(play_text, sort_keys=False))
    run = play(None, "-i", str(inventory), "-f", "1", playbook=playbook, env={"INFEROPS_PROGRESS": "0"})
    assert run.rc == 0, run.output
    assert sorted(r["host"] for r in run.records if r["status"] == "changed") == ["one", "one", "two"], run.records
    assert progress_lines(run.stdout) == [], run.stdout
