"""Downtime of a deployment change, measured: the rollout role (blue/green) against ai_deployment recreate: true.

A prober sends one chat request every --interval seconds to the endpoint of the current *switch target*, a JSON
file ({url, api_key, model}) that the switch rewrites, as a gateway would be reconfigured. It runs through the
whole change. The same change (a new model on two GPUs) is made twice against a fresh simulator state:

- blue/green: the inferops.exoscale.rollout role, whose switch tasks rewrite the target file;
- recreate:  inferops.exoscale.ai_deployment with recreate: true, then the same rewrite of the target file.

    python tests/benchmarks/downtime.py [--speed 10] [--interval 0.05] [--json FILE]

Prints a Markdown table (requests, failed, longest stretch without an answer, and that outage estimated at Exoscale's
timings). The simulator is started (and stopped) by the script, on a free port.
"""
import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (str(REPO_ROOT / "build" / "collections"), str(REPO_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# pylint: disable=wrong-import-position
from tests.conftest import RunningSimulator, start_simulator_process, stop_simulator_process, DEFAULT_KEY, DEFAULT_SECRET  # noqa: E402
from tests.integration.conftest import run_playbook, simulator_env  # noqa: E402

NAME = "chat"
OLD_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
NEW_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
NEW_GPU_COUNT = 2
TARGET = "target.json"
# What both switches do: rewrite the target file the prober follows (atomically: copy renames into place).
WRITE_TARGET = {"ansible.builtin.copy": {
    "content": "{{ {'url': target_url, 'api_key': target_key, 'model': target_model} | to_json }}",
    "dest": "{{ playbook_dir }}/" + TARGET, "mode": "0600"}, "no_log": True}


def write_target_task(name, url, key, model):
    return dict(WRITE_TARGET, name=name, vars={"target_url": url, "target_key": key, "target_model": model})


def endpoint_tasks(name, model):
    """Look the deployment named ``name`` up with its key and point the target file at it."""
    return [
        {"name": "Read the endpoint of %s" % name, "no_log": True, "register": "endpoint",
         "inferops.exoscale.ai_deployment_info": {"name": name, "include_api_key": True}},
        write_target_task("Point the target at %s" % name, "{{ endpoint.deployments[0].deployment_url }}",
                          "{{ endpoint.deployments[0].api_key }}", model),
    ]


def setup_tasks():
    return [
        {"name": "Upload the models", "loop": [OLD_MODEL, NEW_MODEL], "inferops.exoscale.ai_model": {"name": "{{ item }}"}},
        {"name": "The live deployment", "inferops.exoscale.ai_deployment": {
            "name": NAME, "model": OLD_MODEL, "gpu_type": "gpua5000", "gpu_count": 1, "replicas": 1}},
        *endpoint_tasks(NAME, OLD_MODEL),
    ]


def blue_green_tasks():
    return [{"name": "Roll out", "ansible.builtin.include_role": {"name": "inferops.exoscale.rollout"}, "vars": {
        "rollout_name": NAME, "rollout_model": NEW_MODEL, "rollout_gpu_count": NEW_GPU_COUNT,
        "rollout_smoke_retry_delay": 0.2, "rollout_switch_tasks": "{{ playbook_dir }}/switch.yml"}}]


def recreate_tasks():
    return [
        {"name": "Recreate", "inferops.exoscale.ai_deployment": {
            "name": NAME, "model": NEW_MODEL, "gpu_type": "gpua5000", "gpu_count": NEW_GPU_COUNT, "replicas": 1,
            "recreate": True}},
        *endpoint_tasks(NAME, NEW_MODEL),
    ]


class Prober:
    """Sends a chat request every ``interval`` seconds to the current target; records (time, ok)."""

    def __init__(self, target_file, interval, timeout=5.0):
        self.target_file = target_file
        self.interval = interval
        self.timeout = timeout
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.samples

    def probe(self):
        try:
            target = json.loads(self.target_file.read_text())
            body = json.dumps({"model": target["model"], "max_tokens": 8,
                               "messages": [{"role": "user", "content": "ping"}]}).encode()
            request = urllib.request.Request(target["url"].rstrip("/") + "/chat/completions", data=body, method="POST",
                                             headers={"Authorization": "Bearer " + target["api_key"],
                                                      "Content-Type": "application/json"})
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status == 200
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            return False

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            self.samples.append((started, self.probe()))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def summarize(samples, speed, lifecycle):
    """Requests, failures and the longest stretch from a failed request to the next answered one (seconds).

    An outage spans the new deployment's simulated lifecycle (``lifecycle`` seconds at speed 1, so lifecycle / speed
    here) plus what does not scale with the speed (ansible tasks, polls, the switch): the estimate at Exoscale's
    timings puts the lifecycle back at full length and keeps the rest as measured.
    """
    longest = 0.0
    down_since = None
    for moment, ok in samples:
        if not ok and down_since is None:
            down_since = moment
        elif ok and down_since is not None:
            longest = max(longest, moment - down_since)
            down_since = None
    if down_since is not None and samples:
        longest = max(longest, samples[-1][0] - down_since)
    failed = sum(1 for _unused, ok in samples if not ok)
    estimate = longest + lifecycle - lifecycle / speed if longest else 0.0
    return {"requests": len(samples), "failed": failed, "longest_outage_s": round(longest, 2),
            "longest_outage_exoscale_s": round(estimate, 1),
            "duration_s": round(samples[-1][0] - samples[0][0], 2) if samples else 0.0}


def deployment_lifecycle(sim):
    """Seconds (at speed 1) from a deployment create to ready in the simulator: creating + preparing + deploying."""
    timings = sim.control.config()["timings"]
    return sum(timings[phase] for phase in ("deployment_creating", "deployment_preparing", "deployment_deploying"))


def measure_one(sim, workdir, tasks, interval, speed):
    """Fresh state, the live deployment and the target, then ``tasks`` while the prober runs; returns the summary."""
    sim.control.reset()
    env = simulator_env(sim)
    setup = run_playbook(workdir, setup_tasks(), env=env, name="setup.yml")
    if setup.rc != 0:
        raise RuntimeError("setup failed:\n" + setup.output[-3000:])
    prober = Prober(workdir / TARGET, interval).start()
    try:
        time.sleep(5 * interval)   # a few answered requests before the change
        started = time.monotonic()
        run = run_playbook(workdir, tasks, env=env, name="change.yml")
        playbook_seconds = time.monotonic() - started
        time.sleep(5 * interval)
    finally:
        samples = prober.stop()
    if run.rc != 0:
        raise RuntimeError("the change failed:\n" + run.output[-3000:])
    return dict(summarize(samples, speed, deployment_lifecycle(sim)), playbook_s=round(playbook_seconds, 1))


def measure(sim, workdir, speed, interval=0.05):
    """Both methods on the simulator ``sim`` (a RunningSimulator); returns {method: summary}."""
    workdir = Path(workdir)
    (workdir / "switch.yml").write_text(json.dumps([write_target_task(
        "Point the target at the new deployment", "{{ rollout_switch_url }}", "{{ rollout_switch_api_key }}",
        "{{ rollout_model }}")]))
    return {"blue/green (rollout role)": measure_one(sim, workdir, blue_green_tasks(), interval, speed),
            "recreate: true": measure_one(sim, workdir, recreate_tasks(), interval, speed)}


def report(results, speed, interval):
    lines = ["| method | playbook (s) | requests | failed | longest outage (s) | estimate at Exoscale timings (s) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for method, row in results.items():
        cells = (method, row["playbook_s"], row["requests"], row["failed"], row["longest_outage_s"],
                 row["longest_outage_exoscale_s"])
        lines.append("| %s | %.1f | %d | %d | %.2f | %.1f |" % cells)
    lines.append("")
    lines.append("Change: %s on 1 GPU -> %s on %d GPUs; simulator speed %g; one probe every %g s. The estimate puts the"
                 " new deployment's simulated creating -> ready time back at its full length (x %g) and keeps the rest"
                 " of the outage (tasks, polls, switch) as measured." % (OLD_MODEL, NEW_MODEL, NEW_GPU_COUNT, speed,
                                                                         interval, speed))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10.0, help="simulator speed (durations divided by it)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between probes")
    parser.add_argument("--json", help="write the raw numbers to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="downtime-") as directory:
        process, url = start_simulator_process(Path(directory) / "sim.state.json", speed=args.speed)
        try:
            sim = RunningSimulator(url, DEFAULT_KEY, DEFAULT_SECRET, process, None)
            results = measure(sim, directory, args.speed, args.interval)
        finally:
            stop_simulator_process(process)
    print(report(results, args.speed, args.interval))
    if args.json:
        Path(args.json).write_text(json.dumps({"speed": args.speed, "interval": args.interval, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
