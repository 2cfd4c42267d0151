"""AWX sliced jobs: one job template over one inventory, split into slices that run at once. Each slice is an
``ansible-runner run`` with its own private data dir and ``--limit`` (what AWX gives each slice job: its share of
the hosts, the same project and credential). Together they converge with no duplicate and no error."""
import json
import os
import subprocess

import yaml

from tests.integration.conftest import BIN, COLLECTIONS_PATH

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
HOSTS = ("s1", "s2", "s3", "s4")
SLICES = (("s1", "s3"), ("s2", "s4"))  # AWX slices hosts round-robin
FAILED_EVENTS = ("runner_on_failed", "runner_on_unreachable")


def playbook():
    deployment = {"model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1}
    return [{"name": "sliced job", "hosts": "all", "gather_facts": False,
             "vars": {"ansible_python_interpreter": os.environ.get("INTEGRATION_MODULE_PYTHON")
                      or "{{ ansible_playbook_python }}"},
             "tasks": [
                 # every host of both slices (4 at once) creates the model and the shared deployment
                 {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                 {"name": "shared deployment", "inferops.exoscale.ai_deployment": dict(deployment, name="shared")},
                 {"name": "own deployment", "inferops.exoscale.ai_deployment": dict(
                     deployment, name="slice-{{ inventory_hostname }}")},
                 {"name": "ask", "inferops.exoscale.ai_inference": {
                     "deployment": "slice-{{ inventory_hostname }}", "prompt": "ping", "max_tokens": 4}}]}]


def slice_dir(tmp_path, sim, index, endpoint):
    data_dir = tmp_path / ("slice-%d" % index)
    for folder in ("project", "inventory", "env"):
        (data_dir / folder).mkdir(parents=True)
    (data_dir / "project" / "playbook.yml").write_text(yaml.safe_dump(playbook(), sort_keys=False))
    (data_dir / "inventory" / "hosts").write_text(
        "".join("%s ansible_connection=local\n" % host for host in HOSTS))
    envvars = dict(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_HOME=str(data_dir / "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=str(data_dir / "ansible-tmp"), ANSIBLE_NOCOLOR="1",
                   XDG_CONFIG_HOME=str(data_dir / "config"), HF_ENDPOINT=sim.base + "/hf",
                   # what the Exoscale API credential injects
                   EXOSCALE_API_KEY=sim.key, EXOSCALE_API_SECRET=sim.secret, EXOSCALE_API_ENDPOINT=endpoint)
    (data_dir / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    return data_dir


def start(data_dir, hosts):
    env = {name: value for name, value in os.environ.items() if not name.startswith(("EXOSCALE_", "HF_"))}
    env["PATH"] = "%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", ""))
    return subprocess.Popen([str(BIN / "ansible-runner"), "run", str(data_dir), "-p", "playbook.yml",  # pylint: disable=consider-using-with
                             "--ident", "job", "--limit", ",".join(hosts), "--forks", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def events(data_dir):
    return sorted((json.loads(path.read_text()) for path in (data_dir / "artifacts" / "job" / "job_events").glob("*.json")),
                  key=lambda event: event["counter"])


def test_two_slices_at_once_converge_with_no_duplicate(sim, tmp_path):
    # The race a real sliced job meets when its slices start together: the model and shared-deployment POSTs of
    # the 4 hosts are held 3 s, so every host lists before any copy exists. Each slice talks to the zone through
    # its own path form (/v2 and /ch-gva-2/v2).
    sim.control.config(timings={"deployment_creating": 10, "deployment_preparing": 20, "deployment_deploying": 70})
    endpoints = [sim.url, sim.base + "/ch-gva-2/v2"]
    for kind in ("model", "deployment"):
        sim.control.inject("POST", "*/v2/ai/" + kind, action="delay", delay=3, count=len(HOSTS))
    data_dirs = [slice_dir(tmp_path, sim, index, endpoint) for index, endpoint in enumerate(endpoints)]
    processes = [start(data_dir, hosts) for data_dir, hosts in zip(data_dirs, SLICES)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]

    returned = {"model": set(), "shared deployment": set()}
    for data_dir, hosts, output in zip(data_dirs, SLICES, outputs):
        rc = (data_dir / "artifacts" / "job" / "rc").read_text().strip()
        assert rc == "0", output[-6000:]
        job = events(data_dir)
        assert not [e for e in job if e["event"] in FAILED_EVENTS], output[-6000:]
        ran = {e["event_data"]["host"] for e in job if e["event"] == "runner_on_ok"}
        assert ran == set(hosts), (ran, hosts)  # each slice acts on its own hosts only
        assert sim.secret not in json.dumps(job)
        for event in job:
            if event["event"] == "runner_on_ok" and event["event_data"]["task"] in returned:
                result = event["event_data"]["res"]
                returned[event["event_data"]["task"]].add((result.get("model") or result.get("deployment"))["id"])
    posts = [r["path"] for r in sim.control.requests() if r["method"] == "POST" and "/ai/" in r["path"]]
    own = len(HOSTS)  # one POST per own deployment
    assert len([p for p in posts if p.endswith("/ai/model")]) >= 2 and \
        len([p for p in posts if p.endswith("/ai/deployment")]) >= own + 2, "the race was not reproduced: %s" % posts

    state = sim.control.state()["zones"]["ch-gva-2"]
    names = sorted(d["name"] for d in state["deployments"].values() if d["visibility"] == "private")
    assert names == sorted(["shared"] + ["slice-" + host for host in HOSTS]), names
    assert [m["name"] for m in state["models"].values()] == [QWEN]
    shared = [d["id"] for d in state["deployments"].values() if d["name"] == "shared"]
    # every host of both slices returned the one that is left
    assert returned == {"model": set(state["models"]), "shared deployment": set(shared)}, returned
