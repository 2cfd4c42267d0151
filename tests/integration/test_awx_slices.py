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
                 {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                 # run_once is once per slice: both slices create the shared deployment at the same time
                 {"name": "shared deployment", "inferops.exoscale.ai_deployment": dict(deployment, name="shared"),
                  "run_once": True},
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
    # Each slice talks to the zone through its own path form (/v2 and /ch-gva-2/v2), so that a stale (empty) first
    # model list for each forces the race a real sliced job meets when both slices start together.
    sim.control.config(timings={"deployment_creating": 10, "deployment_preparing": 20, "deployment_deploying": 70})
    endpoints = [sim.url, sim.base + "/ch-gva-2/v2"]
    for endpoint in endpoints:
        sim.control.inject("GET", endpoint[len(sim.base):] + "/ai/model", status=200, body={"models": []})
    data_dirs = [slice_dir(tmp_path, sim, index, endpoint) for index, endpoint in enumerate(endpoints)]
    processes = [start(data_dir, hosts) for data_dir, hosts in zip(data_dirs, SLICES)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]

    for data_dir, hosts, output in zip(data_dirs, SLICES, outputs):
        rc = (data_dir / "artifacts" / "job" / "rc").read_text().strip()
        assert rc == "0", output[-6000:]
        job = events(data_dir)
        assert not [e for e in job if e["event"] in FAILED_EVENTS], output[-6000:]
        ran = {e["event_data"]["host"] for e in job if e["event"] == "runner_on_ok"}
        assert ran == set(hosts), (ran, hosts)  # each slice acts on its own hosts only
        assert sim.secret not in json.dumps(job)
    model_posts = [r for r in sim.control.requests() if r["method"] == "POST" and r["path"].endswith("/v2/ai/model")]
    assert len(model_posts) == 2, "the race was not reproduced: %s" % model_posts

    state = sim.control.state()["zones"]["ch-gva-2"]
    names = sorted(d["name"] for d in state["deployments"].values() if d["visibility"] == "private")
    assert names == sorted(["shared"] + ["slice-" + host for host in HOSTS]), names
    assert [m["name"] for m in state["models"].values()] == [QWEN]
