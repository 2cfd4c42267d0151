"""Benchmarks of the inferops.exoscale collection against the local simulator (`make bench`, `make bench-smoke`).

Runs real ansible-playbook processes (with a timing callback, tests/benchmarks/callback_plugins/bench_timer.py) against
`python -m tests.simulator`, counts API requests from the simulator's request log (GET /_sim/requests) and prints one
Markdown report. See docs/parallel-waits.md and the header of the report for the methods.

    python tests/benchmarks/run.py [--smoke] [--output FILE] [--sections 1,2,3,4,5,6,7,8] [--raw FILE]
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(REPO_ROOT / "build" / "collections"), str(REPO_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# pylint: disable=wrong-import-position
from tests.conftest import RunningSimulator, start_simulator_process, stop_simulator_process, DEFAULT_KEY, DEFAULT_SECRET  # noqa: E402
from tests.integration.conftest import BIN, harness_env, playbook_text, simulator_env  # noqa: E402
from ansible_collections.inferops.exoscale.plugins.module_utils import waiter  # noqa: E402

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
FQ = "inferops.exoscale."
INTERPRETER = {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}
ITEM_PATH = re.compile(r"^/v2/ai/(model|deployment)/[0-9a-fA-F-]{36}$")
ZONE_PREFIX = re.compile(r"^/[a-z]{2}-[a-z]{3}-[0-9]+/v2/")
# READINESS_SCHEDULE as it was when this benchmark was written, and the numbers it proposes (see docs/parallel-waits.md
# and the report): both are measured next to the current one when they differ from it.
BEFORE_READINESS = waiter.PollSchedule("readiness-before", first=0.5, factor=1.5, cap=3.0,
                                       relax_after=120, max_cap=30.0, max_cap_at=900)
# The SDK's own schedule expressed as a PollSchedule (3 s, then linear from 30 s to 60 s at 15 min): model row only.
SDK_LIKE_READINESS = waiter.PollSchedule("sdk-like", first=3.0, factor=1.5, cap=3.0, relax_after=30, max_cap=60.0, max_cap_at=900)
PROPOSED_READINESS = waiter.PollSchedule("readiness-proposed", first=1.0, factor=2.0, cap=3.0,
                                         relax_after=120, max_cap=60.0, max_cap_at=900)

# Optimisations that change requests per task, and the one source edit that undoes each (section 6).
OPTIMISATIONS = [
    ("the write's answer is the first operation poll", "plugins/module_utils/client.py",
     "sleep=self.sleep, current=operation,", "sleep=self.sleep,"),
    ("engine help only when a version or parameters are given", "plugins/module_utils/preflight.py",
     'if (version or parameters) and "engine_parameters" not in skip:', 'if "engine_parameters" not in skip:'),
]
OPTIMISATION_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
SCALE_SPEED = 200.0   # section 5: deployments ready in 0.3 s, before the first readiness poll
# At speed 50 (s / 50): operation 0.2 s (first poll 0.5 s), model ready 0.92 s, deployment 2.5 s, scale 0.8 s.
OPTIMISATION_TIMINGS = {"operation": 10.0, "model_creating": 40.0, "deployment_creating": 5.0, "deployment_preparing": 15.0,
                        "deployment_deploying": 105.0, "deployment_scaling": 40.0}
# Section 7: the commit whose collection gives the "before" row (main before issue 20's converged-cost work), and the
# target of a converged ai_deployment task next to a signed uri GET task.
CONVERGED_BEFORE = "aafd6e1"
CONVERGED_TARGET = 1.1


# ---------------------------------------------------------------------------------------------------------------
# helpers

def iso_to_epoch(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def median(values):
    return statistics.median(values) if values else float("nan")


def p95(values):
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else float("nan")


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _unused in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def sdk_poll_interval(run_time):
    """The official exoscale Python SDK's exoscale.api.v2._poll_interval (0.16.x)."""
    slope = 57 / 870
    return min(60.0, max(3.0, slope * run_time + 3 - 30 * slope))


def sdk_poll_times(wait):
    """Poll times of the SDK's wait loop (poll at 0, sleep _poll_interval(run time)) until one sees `wait` elapsed."""
    times = [0.0]
    while times[-1] < wait:
        times.append(times[-1] + sdk_poll_interval(times[-1]))
    return times


class _FakeDeadline:
    def __init__(self):
        self.now = 0.0

    def elapsed(self):
        return self.now


def schedule_poll_times(schedule, wait, request_time=0.0):
    """Poll times of waiter.wait_until with `schedule` (no jitter) until one sees `wait` elapsed."""
    deadline = _FakeDeadline()
    times = [0.0]
    for interval in schedule.intervals(deadline):
        if times[-1] >= wait:
            break
        deadline.now = times[-1] + interval + request_time
        times.append(deadline.now)
    return times


def classify(requests):
    """Counts by kind: list, get (lookups), other (catalogue, api-key, logs), writes, op polls, readiness polls."""
    counts = Counter()
    written = False
    for entry in requests:
        if entry["kind"] == "inference":
            counts["inference"] += 1
            continue
        path = ZONE_PREFIX.sub("/v2/", entry["path"])
        counts["api"] += 1
        if entry["method"] != "GET":
            counts[entry["method"]] += 1
            written = True
        elif path.startswith("/v2/operation/"):
            counts["op_poll"] += 1
        elif ITEM_PATH.match(path):
            counts["ready_poll" if written else "get"] += 1
        elif path in ("/v2/ai/model", "/v2/ai/deployment"):
            counts["list"] += 1
        else:
            counts["other"] += 1
    return counts


def describe_counts(counts):
    parts = []
    for key, label in (("list", "list"), ("get", "get"), ("other", "other GET"), ("POST", "POST"), ("PATCH", "PATCH"),
                       ("DELETE", "DELETE"), ("op_poll", "op polls"), ("ready_poll", "readiness polls"),
                       ("inference", "inference")):
        if counts.get(key):
            parts.append("%s %d" % (label, counts[key]))
    return ", ".join(parts) or "-"


def machine_info():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    versions = subprocess.run([sys.executable, "-c", "import ansible.release, httpx; print(ansible.release.__version__, httpx.__version__)"],
                              capture_output=True, text=True, check=True).stdout.split()
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram": ram, "python": platform.python_version(),
            "ansible_core": versions[0], "httpx": versions[1], "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ---------------------------------------------------------------------------------------------------------------
# the harness

class Bench:
    def __init__(self, workdir, smoke):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.smoke = smoke
        self.sim = None
        self.runs = 0
        self.report = []
        self.raw = {}
        self.checks = []   # (target, met, detail)

    # --- simulator and plays

    def start(self):
        state_file = self.workdir / "simulator.state.json"
        if state_file.exists():
            state_file.unlink()
        process, url = start_simulator_process(state_file, speed=50)
        self.sim = RunningSimulator(url, DEFAULT_KEY, DEFAULT_SECRET, process, state_file)
        self.sim.control.inventory(gpua5000={"free": 1000, "authorized": True})
        self.sim.control.limits(gpua5000=-1)  # section 5 runs 100+ deployments: beyond the default GPU quota

    def stop(self):
        if self.sim:
            stop_simulator_process(self.sim.process)

    def requests(self):
        entries = self.sim.control.requests(kind=None)
        for entry in entries:
            entry["ts"] = iso_to_epoch(entry["time"])
        return entries

    @staticmethod
    def window(requests, record):
        return [r for r in requests if record["start"] <= r["ts"] <= record["end"] + 0.002]

    def play(self, tasks=None, plays=None, play_vars=None, env=None):
        """Run one ansible-playbook; returns (wall seconds, task records). Raises when it fails."""
        self.runs += 1
        run_dir = self.workdir / ("run-%03d" % self.runs)
        run_dir.mkdir(parents=True, exist_ok=True)
        playbook = run_dir / "playbook.yml"
        if plays is not None:
            playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
        else:
            playbook.write_text(playbook_text(tasks, play_vars))
        timer_file = run_dir / "timer.json"
        full_env = harness_env(run_dir, env=simulator_env(self.sim))
        full_env.update(ANSIBLE_CALLBACK_PLUGINS=str(BENCH_DIR / "callback_plugins"), ANSIBLE_CALLBACKS_ENABLED="bench_timer",
                        ANSIBLE_LOOKUP_PLUGINS=str(BENCH_DIR / "lookup_plugins"), BENCH_TIMER_FILE=str(timer_file),
                        ANSIBLE_ASYNC_DIR=str(run_dir / "async"), ANSIBLE_REMOTE_TEMP=str(run_dir / "remote-tmp"),
                        ANSIBLE_FORKS="5", ANSIBLE_STDOUT_CALLBACK="default")
        full_env.update(env or {})
        started = time.perf_counter()
        process = subprocess.run([str(BIN / "ansible-playbook"), str(playbook)], env=full_env, cwd=run_dir,
                                 capture_output=True, text=True, timeout=1800, check=False)
        wall = time.perf_counter() - started
        (run_dir / "output.txt").write_text(process.stdout + process.stderr)
        records = json.loads(timer_file.read_text()) if timer_file.exists() else []
        if process.returncode != 0:
            output = (process.stdout + process.stderr)[-5000:]
            raise RuntimeError("ansible-playbook %s failed (rc %d):\n%s" % (playbook, process.returncode, output))
        return wall, records

    def check(self, target, met, detail):
        self.checks.append((target, met, detail))

    def section(self, title, text):
        print("\n## " + title + "\n\n" + text, flush=True)
        self.report.append("## " + title + "\n\n" + text)

    # --- 1. requests per task

    def requests_per_task(self):
        dep = dict(name="bench-role", model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1,
                   inference_engine_parameters=["--max-model-len=4096"])
        scaled = dict(dep, replicas=2)
        patched = dict(scaled, inference_engine_parameters=["--max-model-len=8192"])
        steps = [
            ("ai_model", "create", "ai_model", dict(name=MODEL)),
            ("ai_model", "converged", "ai_model", dict(name=MODEL)),
            ("ai_model_info", "list", "ai_model_info", {}),
            ("ai_model_info", "by name", "ai_model_info", dict(name=MODEL)),
            ("ai_instance_type_info", "list", "ai_instance_type_info", {}),
            ("ai_engine_parameter_info", "version", "ai_engine_parameter_info", dict(version="0.28.0")),
            ("ai_deployment", "create", "ai_deployment", dep),
            ("ai_deployment", "converged", "ai_deployment", dep),
            ("ai_deployment", "scale 1->2", "ai_deployment", scaled),
            ("ai_deployment", "PATCH engine parameters", "ai_deployment", patched),
            ("ai_deployment", "converged (after changes)", "ai_deployment", patched),
            ("ai_deployment_info", "list", "ai_deployment_info", {}),
            ("ai_deployment_info", "by name", "ai_deployment_info", dict(name="bench-role")),
            ("ai_deployment_info", "by id", "ai_deployment_info", dict(id="{{ bench_created.deployment.id }}")),
            ("ai_inference", "by deployment name", "ai_inference", dict(deployment="bench-role", prompt="hi", max_tokens=8)),
            ("ai_inference", "by deployment id (as the role)", "ai_inference",
             dict(deployment="{{ bench_created.deployment.id }}", prompt="hi", max_tokens=8)),
            ("ai_deployment", "delete", "ai_deployment", dict(name="bench-role", state="absent")),
            ("ai_deployment", "converged absent", "ai_deployment", dict(name="bench-role", state="absent")),
            ("ai_model", "delete", "ai_model", dict(name=MODEL, state="absent")),
        ]
        if self.smoke:
            keep = {("ai_model", "create"), ("ai_model", "converged"), ("ai_deployment", "create"), ("ai_deployment", "converged"),
                    ("ai_deployment_info", "by name"), ("ai_inference", "by deployment id (as the role)")}
            steps = [step for step in steps if (step[0], step[1]) in keep]
        tasks = []
        for module, case, name, args in steps:
            task = {"name": "%s %s" % (module, case), FQ + name: args}
            if module == "ai_deployment" and case == "create":
                task["register"] = "bench_created"
            tasks.append(task)
        self.sim.control.clear_requests()
        dummy, records = self.play(tasks)
        requests = self.requests()
        rows = []
        floors = {("ai_model", "converged"): 1, ("ai_deployment", "converged"): 2,
                  ("ai_deployment", "converged (after changes)"): 2}
        info_floor = 1
        raw = []
        for (module, case, dummy_name, dummy_args), record in zip(steps, records):
            counts = classify(self.window(requests, record))
            floor = floors.get((module, case))
            if module.endswith("_info"):
                floor = info_floor
            verdict = "-"
            if floor is not None:
                met = counts["api"] <= floor
                verdict = "%s (<= %d)" % ("met" if met else "MISSED", floor)
                self.check("requests: %s %s <= %d" % (module, case, floor), met, "%d API requests" % counts["api"])
            rows.append([module, case, record["status"], counts["api"], counts["inference"], describe_counts(counts),
                         "%.2f" % (record["end"] - record["start"]), verdict])
            raw.append(dict(module=module, case=case, counts=dict(counts), seconds=record["end"] - record["start"]))
        self.raw["requests_per_task"] = raw
        text = ("Simulator speed 50 (deployment ready 1.2 s after creation, operations 0.02 s). One play, tasks in this "
                "order; requests are attributed to a task by time window (simulator log vs. callback timestamps).\n"
                "*get* = GET of one resource before any write (lookup), *readiness polls* = GET of the resource after a "
                "write in the same task, *op polls* = GET /operation/{id}, *other GET* = catalogue, api-key, logs.\n\n")
        text += table(["module", "case", "status", "API req", "inference req", "split", "task s", "floor"], rows)
        self.section("1. Requests per task", text)

    # --- 2. converged role vs uri baseline

    def role_play(self, smoke_test):
        return [{"name": "bench role", "hosts": "localhost", "connection": "local", "gather_facts": False,
                 "vars": dict(INTERPRETER), "roles": [{"role": FQ + "serve_model", "vars": {
                     "serve_model_name": MODEL, "serve_model_deployment_name": "bench-role",
                     "serve_model_engine_parameters": ["--max-model-len=4096"], "serve_model_smoke_retry_delay": 1,
                     "serve_model_smoke_test": smoke_test}}]}]

    def baseline_play(self, smoke_test):
        api = self.sim.url

        def signed(method, path, query=""):
            extra = ", query='%s'" % query if query else ""
            return {"Authorization": "{{ lookup('exo2_sign', '%s', '/v2' ~ %s%s) }}" % (method, path, extra)}
        dep_id = "(b_deps.json.deployments | selectattr('name', 'equalto', dep_name) | first).id"
        tasks = [
            {"name": "GET /ai/model", "ansible.builtin.uri": {"url": api + "/ai/model", "headers": signed("GET", "'/ai/model'")},
             "register": "b_models",
             "failed_when": "b_models.json.models | selectattr('name', 'equalto', model_name) | selectattr('state', 'equalto', 'ready')"
                            " | list | length != 1"},
            {"name": "GET /ai/deployment?visibility=private",
             "ansible.builtin.uri": {"url": api + "/ai/deployment?visibility=private",
                                     "headers": signed("GET", "'/ai/deployment'", "visibility=private")},
             "register": "b_deps"},
            {"name": "GET /ai/deployment/{id}",
             "ansible.builtin.uri": {"url": api + "/ai/deployment/{{ %s }}" % dep_id,
                                     "headers": signed("GET", "'/ai/deployment/' ~ %s" % dep_id)},
             "register": "b_dep",
             "failed_when": "b_dep.json.state != 'ready' or b_dep.json['gpu-type'] != 'gpua5000' or b_dep.json['gpu-count'] != 1"
                            " or b_dep.json.replicas != 1 or b_dep.json['inference-engine-parameters'] != ['--max-model-len=4096']"},
        ]
        if smoke_test:
            tasks += [
                {"name": "GET /ai/deployment/{id} (smoke test lookup)",
                 "ansible.builtin.uri": {"url": api + "/ai/deployment/{{ b_dep.json.id }}",
                                         "headers": signed("GET", "'/ai/deployment/' ~ b_dep.json.id")},
                 "register": "b_smoke_dep", "failed_when": "b_smoke_dep.json.state != 'ready'"},
                {"name": "GET /ai/deployment/{id}/api-key",
                 "ansible.builtin.uri": {"url": api + "/ai/deployment/{{ b_dep.json.id }}/api-key",
                                         "headers": signed("GET", "'/ai/deployment/' ~ b_dep.json.id ~ '/api-key'")},
                 "register": "b_key", "no_log": True},
                {"name": "GET /v1/models",
                 "ansible.builtin.uri": {"url": "{{ b_dep.json['deployment-url'] }}/models",
                                         "headers": {"Authorization": "Bearer {{ b_key.json['api-key'] }}"}},
                 "register": "b_models_served"},
                {"name": "POST /v1/chat/completions",
                 "ansible.builtin.uri": {"url": "{{ b_dep.json['deployment-url'] }}/chat/completions", "method": "POST",
                                         "body_format": "json",
                                         "headers": {"Authorization": "Bearer {{ b_key.json['api-key'] }}"},
                                         "body": {"model": "{{ b_models_served.json.data[0].id }}", "max_tokens": 32,
                                                  "temperature": 0.0,
                                                  "messages": [{"role": "user", "content": "Say hello in one short sentence."}]}},
                 "register": "b_smoke"},
            ]
        tasks += [
            {"name": "Record the endpoint", "ansible.builtin.set_fact": {"serve_model_endpoint": {
                "deployment": "{{ dep_name }}", "deployment_id": "{{ b_dep.json.id }}", "url": "{{ b_dep.json['deployment-url'] }}",
                "model": "{{ model_name }}"}}},
            {"name": "Summary", "ansible.builtin.debug": {"msg": [
                "Model:      {{ model_name }}", "Deployment: {{ dep_name }} ({{ b_dep.json.state }})",
                "Endpoint:   {{ serve_model_endpoint.url }}",
                "Smoke test: {{ (b_smoke.json.choices[0].message.content | default('skipped'))[:120] }}"]}},
        ]
        return [{"name": "bench uri baseline", "hosts": "localhost", "connection": "local", "gather_facts": False,
                 "vars": dict(INTERPRETER, model_name=MODEL, dep_name="bench-role"), "tasks": tasks}]

    def converged_role(self):
        self.sim.control.config(speed=50)
        if not self.smoke:   # smoke: section 1 left the role's model and deployment converged
            self.play(plays=self.role_play(True))
        repeats = 1 if self.smoke else 5
        variants = [True] if self.smoke else [False, True]
        rows = []
        raw = {}
        for smoke_test in variants:
            times = {"role": [], "uri": []}
            requests = {}
            for dummy in range(repeats):
                for kind, plays in (("role", self.role_play(smoke_test)), ("uri", self.baseline_play(smoke_test))):
                    self.sim.control.clear_requests()
                    wall, records = self.play(plays=plays)
                    changed = [r["name"] for r in records if r["status"] == "changed" and kind == "role"]
                    if changed:
                        raise RuntimeError("converged role run changed %s" % changed)
                    times[kind].append(wall)
                    reqs = self.requests()
                    requests[kind] = Counter("%s %s" % (r["method"], "inference" if r["kind"] == "inference" else "api") for r in reqs)
            ratio = median(times["role"]) / median(times["uri"])
            paired = median([r / u for r, u in zip(times["role"], times["uri"])])
            label = "with smoke test" if smoke_test else "without smoke test"
            rows.append([label, "%.2f" % median(times["role"]), "%.2f" % median(times["uri"]), "%.2fx (paired %.2fx)" % (ratio, paired),
                         ", ".join("%s %d" % kv for kv in sorted(requests["role"].items())),
                         ", ".join("%s %d" % kv for kv in sorted(requests["uri"].items())),
                         "met" if ratio <= 1.15 else "MISSED", " / ".join("%.2f" % t for t in times["role"]),
                         " / ".join("%.2f" % t for t in times["uri"])])
            self.check("converged role <= 1.15x uri baseline (%s)" % label, ratio <= 1.15, "%.2fx" % ratio)
            raw[label] = dict(times=times, ratio=ratio, paired_ratio=paired)
        self.raw["converged_role"] = raw
        text = ("Wall time of the whole `ansible-playbook` process (start-up included), median of %d alternating runs each. "
                "*role*: `inferops.exoscale.serve_model`, everything already converged (no task changes). *uri*: a hand-written "
                "play doing the same reads with `ansible.builtin.uri`, one task per request, every API request signed "
                "(EXO2-HMAC-SHA256) at run time by the test-only lookup `tests/benchmarks/lookup_plugins/exo2_sign.py` "
                "(its own stdlib hmac code, 600 s expiry), plus the same set_fact and debug tasks. Requests per run are "
                "counted from the simulator log. *paired* = median of the per-pair ratios (each role run next to its uri run), less "
                "sensitive to load from other processes.\n\n" % repeats)
        text += table(["variant", "role s", "uri s", "ratio", "role requests", "uri requests", "target <= 1.15x",
                       "role runs", "uri runs"], rows)
        self.section("2. Converged serve_model role vs. ansible.builtin.uri baseline", text)

    # --- 3. module start-up

    def startup(self):
        count = 2 if self.smoke else 50
        api = self.sim.url
        tasks = [
            {"name": "ai_deployment_info x%d" % count, FQ + "ai_deployment_info": {}, "loop": "{{ range(%d) | list }}" % count},
            {"name": "uri GET x%d" % count, "ansible.builtin.uri": {
                "url": api + "/ai/deployment?visibility=private",
                "headers": {"Authorization": "{{ lookup('exo2_sign', 'GET', '/v2/ai/deployment', query='visibility=private') }}"}},
             "loop": "{{ range(%d) | list }}" % count},
        ]
        self.sim.control.clear_requests()
        dummy, records = self.play(tasks, env={"ANSIBLE_KEEP_REMOTE_FILES": "1"} if self.smoke else None)
        requests = self.requests()
        if not self.smoke:
            self.play([dict(task, loop="{{ [0] }}") for task in tasks], env={"ANSIBLE_KEEP_REMOTE_FILES": "1"})
        per = {}
        rows = []
        for record, kind in zip(records, ("ai_deployment_info", "uri")):
            seconds = record["end"] - record["start"]
            per[kind] = seconds / count
            reqs = self.window(requests, record)
            rows.append([record["name"], count, "%.2f" % seconds, "%.0f" % (1000 * seconds / count), "%.2f" % (len(reqs) / count)])
        rows.append(["ratio", "", "", "%.2fx" % (per["ai_deployment_info"] / per["uri"]), ""])
        self.raw["startup"] = per
        text = ("Both list the private deployments (`GET /v2/ai/deployment?visibility=private`, one request per item), in a "
                "`loop` of %d items: every item is a separate module execution (AnsiballZ payload, new Python process).\n\n"
                % count)
        text += table(["task", "items", "task s", "ms per item", "requests per item"], rows)
        text += "\n\n" + self.import_times()
        self.section("3. Module start-up", text)

    def import_times(self):
        """python -X importtime on the kept AnsiballZ payloads (they run the module once, against the simulator)."""
        payloads = {}
        for path in sorted(self.workdir.glob("run-*/remote-tmp/**/AnsiballZ_*.py")):
            payloads.setdefault(path.name, path)
        repeats = 1 if self.smoke else 7
        baseline = set()
        for line in subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True,
                                   check=True).stderr.splitlines():
            parsed = _importtime_line(line)
            if parsed:
                baseline.add(parsed[2])
        samples = {}
        for dummy in range(repeats):
            for name, label in (("AnsiballZ_ai_deployment_info.py", "ai_deployment_info"), ("AnsiballZ_uri.py", "uri")):
                path = payloads.get(name)
                if path is not None:
                    samples.setdefault(label, []).append(_run_importtime(path, baseline))
        rows = []
        for label in ("ai_deployment_info", "uri"):
            if label not in samples:
                rows.append([label, "payload not found", "", "", "", ""])
                continue
            columns = list(zip(*samples[label]))
            rows.append([label] + ["%.0f" % median(column) for column in columns])
            self.raw.setdefault("import_ms", {})[label] = median(columns[0])
        text = ("Import time: `python -X importtime AnsiballZ_<module>.py` on the payloads Ansible built for the tasks above "
                "(`ANSIBLE_KEEP_REMOTE_FILES=1`; running one executes the module once against the simulator). *total* is the "
                "sum of the cumulative times of the top-level imports that `python -c pass` does not do (so: the whole "
                "payload, module_utils compiled from the zip without .pyc, as in a real run); *collection module_utils* is "
                "the sum of top-level imports of `ansible_collections.inferops.exoscale.plugins.module_utils.*` (httpx "
                "included, it is imported by client.py); httpx and ansible.module_utils.basic are their own cumulative times "
                "wherever they are first imported. Median of %d runs, in ms; *process ms* is the wall time of the payload "
                "process.\n\n" % repeats)
        return text + table(["payload", "total import ms", "collection module_utils ms", "httpx ms",
                             "ansible.module_utils.basic ms", "process ms"], rows)

    # --- 4. wait latency

    def collection_copy(self, name, edits):
        """A copy of the collection with ``edits`` ((file, regex, replacement), each matching once); its collections path."""
        root = self.workdir / ("collections-" + name)
        target = root / "ansible_collections" / "inferops" / "exoscale"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for entry in ("plugins", "meta", "roles"):
            shutil.copytree(REPO_ROOT / entry, target / entry, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO_ROOT / "galaxy.yml", target / "galaxy.yml")
        for relative, pattern, replacement in edits:
            path = target / relative
            text, count = re.subn(pattern, lambda match, new=replacement: new, path.read_text())
            if count != 1:
                raise RuntimeError("%r matches %d times in %s (expected once): update the benchmark" % (pattern, count, relative))
            path.write_text(text)
        return str(root)

    def variant_collections(self, name, schedule):
        """A copy of the collection whose READINESS_SCHEDULE has other numbers (for before/after rows)."""
        new = ('READINESS_SCHEDULE = PollSchedule("readiness", first=%r, factor=%r, cap=%r,\n'
               '                                  relax_after=%r, max_cap=%r, max_cap_at=%r)'
               % (schedule.first, schedule.factor, schedule.cap, schedule.relax_after, schedule.max_cap, schedule.max_cap_at))
        return self.collection_copy(name, [("plugins/module_utils/waiter.py", r"READINESS_SCHEDULE = PollSchedule\([^)]*\)", new)])

    def wait_latency(self):
        cases = [(1, 1)] if self.smoke else [(5, 2), (30, 1), (120, 1)]   # 15 min budget for `make bench`
        variants = [("current", waiter.READINESS_SCHEDULE, None)]
        for label, schedule in (("before", BEFORE_READINESS), ("proposed", PROPOSED_READINESS)):
            if not self.smoke or label == "proposed":
                if _schedule_key(schedule) != _schedule_key(waiter.READINESS_SCHEDULE) and \
                        _schedule_key(schedule) not in [_schedule_key(v[1]) for v in variants]:
                    variants.append((label, schedule, self.variant_collections(label, schedule)))
        raw = []
        for seconds, repeats in cases:
            for index in range(repeats):
                raw.extend(self.wait_round(seconds, index, variants))
        rows = []
        for label, schedule, dummy in variants:
            delays = [r["delay_return"] for r in raw if r["schedule"] == label]
            for seconds, repeats in cases:
                group = [r for r in raw if r["T"] == seconds and r["schedule"] == label]
                polls = [r["ready_polls"] for r in group]
                sdk = [r["sdk_polls"] for r in group]
                rows.append([label, seconds, len(group), "%.2f" % median([r["delay_poll"] for r in group]),
                             "%.2f" % median([r["delay_return"] for r in group]), "%.2f" % max(r["delay_return"] for r in group),
                             "%g" % median(polls), "%g" % median(sdk), "%+g" % max(p - k for p, k in zip(polls, sdk)),
                             "%g" % median([r["op_polls"] for r in group]), "%g" % median([r["sdk_op_polls"] for r in group])])
                if seconds > 30:
                    self.check("readiness polls <= SDK schedule, T=%s s (%s schedule)" % (seconds, label),
                               max(p - k for p, k in zip(polls, sdk)) <= 0, "%s vs SDK %s" % (polls, sdk))
            self.check("p95 wait delay <= 3 s (%s schedule)" % label, p95(delays) <= 3.0,
                       "p95 %.2f s over %d waits" % (p95(delays), len(delays)))
        self.raw["wait_latency"] = raw
        text = ("Simulator at speed 1 with the deployment timings set (POST /_sim/config) so that it is ready T s after "
                "the creating POST (creating 0.2 T, preparing 0.3 T, deploying 0.5 T; operations 1 s). One "
                "`ai_deployment` create task per run; the schedules of a round run at the same time (one ansible-playbook "
                "each; *before*/*proposed* use a copy of the collection with only the READINESS_SCHEDULE numbers changed). "
                "*delay poll* = time of the last readiness GET (the one that saw `ready`) minus the ready time from GET "
                "/_sim/state; *delay return* = task result in the callback minus the ready time. *SDK polls* = polls the "
                "official SDK's `_poll_interval` (3 s for 30 s, then linear to 60 s at 15 min) makes for the same wait "
                "(from the first readiness poll until ready); operations likewise.\n\n")
        text += table(["schedule", "T s", "runs", "delay poll s (median)", "delay return s (median)", "delay return s (max)",
                       "readiness polls", "SDK polls", "max extra polls", "op polls", "SDK op polls"], rows)
        text += "\n\n" + self.schedule_model(variants)
        self.section("4. Wait latency", text)

    def wait_round(self, seconds, index, variants):
        control = self.sim.control
        control.config(speed=1.0, timings={"operation": 1.0, "deployment_creating": 0.2 * seconds,
                                           "deployment_preparing": 0.3 * seconds, "deployment_deploying": 0.5 * seconds})
        control.clear_requests()
        names = dict((label, "bench-wait-%s-%s-%d-%d" % (label, seconds, index, self.runs)) for label, dummy, dummy2 in variants)
        results = {}
        errors = []

        def run_one(label, collections):
            try:
                env = {"ANSIBLE_COLLECTIONS_PATH": collections} if collections else None
                results[label] = self.play([{"name": "wait", FQ + "ai_deployment": dict(
                    name=names[label], model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1, wait_timeout=900)}], env=env)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)
        threads = [threading.Thread(target=run_one, args=(label, collections)) for label, dummy, collections in variants]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            control.config(speed=50.0, timings=dict(_default_timings()))
        if errors:
            raise errors[0]
        deployments = control.state()["zones"]["ch-gva-2"]["deployments"].values()
        requests = [r for r in self.requests() if r["kind"] == "api"]
        out = []
        for label, dummy, dummy2 in variants:
            record = results[label][1][0]
            dep = [d for d in deployments if d["name"] == names[label]][0]
            ready_ts = [phase[1] for phase in dep["phases"] if phase[0] == "ready"][0]
            post = [r for r in requests if r["method"] == "POST" and r["path"] == "/v2/ai/deployment"
                    and abs(r["ts"] - dep["created"]) < 0.5][0]
            mine = [r for r in requests if post["ts"] <= r["ts"] <= record["end"] + 0.002]
            ops = [r for r in mine if r["path"].startswith("/v2/operation/")]
            ops = [r for r in ops if r["path"].endswith(_operation_of(control, dep))] or ops
            polls = [r for r in mine if r["method"] == "GET" and r["path"] == "/v2/ai/deployment/" + dep["id"]]
            wait = ready_ts - polls[0]["ts"]
            out.append(dict(schedule=label, T=seconds, delay_poll=polls[-1]["ts"] - ready_ts, delay_return=record["end"] - ready_ts,
                            ready_polls=len(polls), sdk_polls=len(sdk_poll_times(wait)), op_polls=len(ops),
                            sdk_op_polls=len(sdk_poll_times(max(0.0, ops[-1]["ts"] - post["ts"] - 0.05))) if ops else 0,
                            wait=wait, post_to_ready=ready_ts - post["ts"]))
        return out

    @staticmethod
    def schedule_model(variants):
        """Model of the schedules (no jitter, 20 ms per request) for every wait length: worst delay and excess polls."""
        schedules = [(label, schedule) for label, schedule, dummy in variants] + [("SDK-like (not measured)", SDK_LIKE_READINESS)]
        spans = [(0, 30), (30, 120), (120, 300), (300, 900)]
        rows = []
        for label, schedule in schedules + [("SDK", None)]:
            cells = []
            for low, high in spans:
                worst = excess = 0.0
                polls_at = []
                for tenth in range(low * 10 + 1, high * 10 + 1):
                    wait = tenth / 10.0
                    times = sdk_poll_times(wait) if schedule is None else schedule_poll_times(schedule, wait, 0.02)
                    sdk = sdk_poll_times(wait)
                    worst = max(worst, times[-1] - wait)
                    excess = max(excess, len(times) - len(sdk))
                    polls_at.append(len(times))
                cells.append("%.1f s / %+d" % (worst, excess))
            counts = [len(sdk_poll_times(w) if schedule is None else schedule_poll_times(schedule, w, 0.02))
                      for w in (5, 30, 120, 600, 1800)]
            params = "-" if schedule is None else "first %g, factor %g, cap %g, relax after %s to %s at %s" % (
                schedule.first, schedule.factor, schedule.cap, schedule.relax_after, schedule.max_cap, schedule.max_cap_at)
            rows.append([label, params] + cells + [" / ".join(str(c) for c in counts)])
        return ("Model of the readiness schedules for every wait length W (0.1 s steps, 20 ms per request, no jitter): "
                "*worst delay / most extra polls than the SDK schedule* within each range of W, and the poll counts for "
                "W = 5 / 30 / 120 / 600 / 1800 s.\n\n"
                + table(["schedule", "parameters", "W <= 30 s", "30-120 s", "120-300 s", "300-900 s", "polls at 5/30/120/600/1800 s"],
                        rows))

    # --- 5. scale

    def scale(self):
        count = 1 if self.smoke else 100
        base = dict(model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1)
        loop = "{{ range(%d) | list }}" % count
        nowait_count = 1 if self.smoke else 10   # pattern 2 of docs/parallel-waits.md, on fewer items to keep `make bench` short
        nowait_loop = "{{ range(%d) | list }}" % nowait_count
        tasks = [
            {"name": "sequential: create", FQ + "ai_deployment": dict(base, name="bench-seq-{{ item }}"), "loop": loop},
            {"name": "sequential: converged re-run", FQ + "ai_deployment": dict(base, name="bench-seq-{{ item }}"), "loop": loop},
            {"name": "async: launch", FQ + "ai_deployment": dict(base, name="bench-async-{{ item }}"), "loop": loop,
             "async": 900, "poll": 0, "register": "bench_jobs"},
            {"name": "async: async_status", "ansible.builtin.async_status": {"jid": "{{ item.ansible_job_id }}"},
             "loop": "{{ bench_jobs.results }}", "loop_control": {"label": "{{ item.item }}"},
             "register": "bench_job", "until": "bench_job.finished", "retries": 900, "delay": 1},
            {"name": "wait=false: create", FQ + "ai_deployment": dict(base, name="bench-nowait-{{ item }}", wait=False), "loop": nowait_loop},
            {"name": "wait=false: then wait=true", FQ + "ai_deployment": dict(base, name="bench-nowait-{{ item }}"), "loop": nowait_loop},
        ]
        control = self.sim.control
        control.config(speed=SCALE_SPEED)
        control.clear_requests()
        try:
            dummy, records = self.play(tasks)
        finally:
            control.config(speed=50.0)
        requests = self.requests()
        rows = []
        raw = []
        for record in records:
            seconds = record["end"] - record["start"]
            counts = classify(self.window(requests, record))
            changed = sum(1 for item in (record["result"] or {}).get("results", []) if item.get("changed"))
            items = nowait_count if record["name"].startswith("wait=false") else count
            rows.append([record["name"], items, changed, "%.1f" % seconds, "%.2f" % (seconds / items),
                         "%.2f" % (counts["api"] / items), describe_counts(counts)])
            raw.append(dict(task=record["name"], seconds=seconds, counts=dict(counts)))
        by_name = dict((r["name"], r["end"] - r["start"]) for r in records)
        summary = [
            ["sequential (create, waits one after the other)", "%.1f" % by_name["sequential: create"]],
            ["async launch + async_status", "%.1f" % (by_name["async: launch"] + by_name["async: async_status"])],
            ["wait=false loop + wait=true loop (%d items)" % nowait_count,
             "%.1f" % (by_name["wait=false: create"] + by_name["wait=false: then wait=true"])],
        ]
        self.raw["scale"] = raw
        text = ("%d deployments in one play (`loop`), simulator speed %g (each deployment ready %.1f s after creation, "
                "so that the time is the collection's own; section 4 measures waits), "
                "gpua5000 inventory raised to 1000 (POST /_sim/inventory). Deployments of earlier tasks stay, so the name "
                "lookup lists up to %d deployments. Requests split as in section 1 (per task, over all items).\n\n"
                % (count, SCALE_SPEED, _deployment_seconds(SCALE_SPEED), 2 * count + nowait_count + 1))
        text += table(["task", "items", "changed", "task s", "s per item", "API req per item", "requests (all items)"], rows)
        text += "\n\nTotal time to get all deployments ready:\n\n"
        text += table(["pattern", "s"], summary)
        self.section("5. Scale: %d deployments in one play" % count, text)

    # --- 7. converged ai_deployment vs signed uri GET

    def collection_at(self, commit):
        """The collection as it was at ``commit`` (git archive of plugins, meta, roles); its collections path or None."""
        root = self.workdir / ("collections-at-" + commit)
        target = root / "ansible_collections" / "inferops" / "exoscale"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit, "plugins", "meta", "roles",
                                  "galaxy.yml"], capture_output=True, check=False)
        if archive.returncode != 0:
            return None
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
        return str(root)

    def converged_task(self):
        """One play: a converged ai_deployment task and a signed uri GET task, alternating; per-task wall time."""
        repeats = 2 if self.smoke else 15
        dep = dict(name="bench-converged", model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1,
                   inference_engine_parameters=["--max-model-len=4096"])
        uri = {"url": self.sim.url + "/ai/deployment?visibility=private",
               "headers": {"Authorization": "{{ lookup('exo2_sign', 'GET', '/v2/ai/deployment', query='visibility=private') }}"}}
        setup = [{"name": "setup model", FQ + "ai_model": dict(name=MODEL)},
                 {"name": "setup deployment", FQ + "ai_deployment": dep}]
        pairs = []
        for index in range(repeats):
            pairs += [{"name": "ai_deployment converged %d" % index, FQ + "ai_deployment": dep},
                      {"name": "uri GET %d" % index, "ansible.builtin.uri": uri}]
        self.sim.control.config(speed=50)
        variants = [("after (this tree)", None)]
        if not self.smoke:
            before = self.collection_at(CONVERGED_BEFORE)
            if before:
                variants.insert(0, ("before (%s)" % CONVERGED_BEFORE, before))
        rows, raw = [], {}
        for label, collections in variants:
            env = {"ANSIBLE_COLLECTIONS_PATH": collections} if collections else None
            self.sim.control.clear_requests()
            dummy, records = self.play(setup + pairs, env=env)
            requests = self.requests()
            times = {"ai_deployment": [], "uri": []}
            counts = Counter()
            for record in records[len(setup):]:
                kind = "uri" if record["name"].startswith("uri") else "ai_deployment"
                if kind == "ai_deployment" and record["status"] != "ok":
                    raise RuntimeError("converged ai_deployment task %s: %s" % (record["name"], record["status"]))
                times[kind].append(record["end"] - record["start"])
                if kind == "ai_deployment":
                    counts.update(classify(self.window(requests, record)))
            ratio = median(times["ai_deployment"]) / median(times["uri"])
            paired = median([d / u for d, u in zip(times["ai_deployment"], times["uri"])])
            state_history = [r["result"].get("state_history") for r in records[len(setup):] if not r["name"].startswith("uri")]
            rows.append([label, "%.3f" % median(times["ai_deployment"]), "%.3f" % median(times["uri"]),
                         "%.2fx (paired %.2fx)" % (ratio, paired),
                         "%g per task (%s in all)" % (counts["api"] / float(repeats), describe_counts(counts)),
                         "met" if ratio <= CONVERGED_TARGET else "MISSED"])
            raw[label] = dict(times=times, ratio=ratio, paired_ratio=paired, state_history=state_history[:1])
        self.check("converged ai_deployment <= %.1fx signed uri GET (%s)" % (CONVERGED_TARGET, variants[-1][0]),
                   raw[variants[-1][0]]["ratio"] <= CONVERGED_TARGET, "%.2fx" % raw[variants[-1][0]]["ratio"])
        self.raw["converged_task"] = raw
        text = ("One `ansible-playbook` run per row: %d pairs of tasks, alternating, after setup tasks that leave the "
                "deployment converged: `inferops.exoscale.ai_deployment` with the arguments it was created with (no "
                "change), and `ansible.builtin.uri` GET `/v2/ai/deployment?visibility=private` signed at run time by the "
                "test-only lookup `exo2_sign`. Task time = callback start to result (action plugin, AnsiballZ payload, "
                "module process, requests), median; *paired* = median of the per-pair ratios. *before* runs the collection "
                "of commit %s (git archive) against the same simulator; *requests* are per converged task.\n\n"
                % (repeats, CONVERGED_BEFORE))
        text += table(["collection", "ai_deployment s", "uri s", "ratio", "requests", "target <= %.1fx" % CONVERGED_TARGET],
                      rows)
        self.section("7. Converged ai_deployment task vs. signed uri GET task", text)

    # --- 6. optimisations, before and after

    def optimisations(self):
        """Each optimisation undone in a copy of the collection; the same play against both, one after the other."""
        tasks = [
            ("ai_model create", "ai_model", dict(name=OPTIMISATION_MODEL)),
            ("ai_deployment create (default engine)", "ai_deployment",
             dict(name="bench-opt", model=OPTIMISATION_MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1)),
            ("ai_deployment scale 1->2", "ai_deployment", dict(name="bench-opt", replicas=2)),
            ("ai_deployment delete", "ai_deployment", dict(name="bench-opt", state="absent")),
            ("ai_model delete", "ai_model", dict(name=OPTIMISATION_MODEL, state="absent")),
        ]
        if self.smoke:   # both optimisations show in a deployment create; the model of section 1 is still there
            tasks = [(name, module, dict(args, model=MODEL) if "model" in args else args)
                     for name, module, args in tasks if name.startswith("ai_deployment") and "scale" not in name]
        play = [{"name": name, FQ + module: args} for name, module, args in tasks]
        control = self.sim.control

        def measure(collections):
            control.clear_requests()
            dummy, records = self.play(play, env={"ANSIBLE_COLLECTIONS_PATH": collections} if collections else None)
            requests = self.requests()
            return [(classify(self.window(requests, record)), record["end"] - record["start"]) for record in records]

        # Timings far from every poll time, so that the counts depend on the code only, not on the machine's load.
        control.config(speed=50.0, timings=OPTIMISATION_TIMINGS)
        try:
            after = measure(None)
            befores = [measure(self.collection_copy("before-%d" % index, [(relative, re.escape(old), new)]))
                       for index, (label, relative, old, new) in enumerate(OPTIMISATIONS)]
        finally:
            control.config(speed=50.0, timings=dict(_default_timings()))
        rows = []
        raw = []
        for (label, relative, old, new), before in zip(OPTIMISATIONS, befores):
            total_before = total_after = 0
            for (task, dummy, dummy2), (counts_b, seconds_b), (counts_a, seconds_a) in zip(tasks, before, after):
                total_before += counts_b["api"]
                total_after += counts_a["api"]
                if counts_b["api"] != counts_a["api"]:
                    rows.append([label, task, "%d (%s)" % (counts_b["api"], describe_counts(counts_b)),
                                 "%d (%s)" % (counts_a["api"], describe_counts(counts_a)),
                                 "%+d" % (counts_a["api"] - counts_b["api"]), "%.2f" % seconds_b, "%.2f" % seconds_a])
            rows.append([label, "**whole play**", total_before, total_after, "%+d" % (total_after - total_before),
                         "%.2f" % sum(s for dummy, s in before), "%.2f" % sum(s for dummy, s in after)])
            raw.append(dict(optimisation=label, before=total_before, after=total_after))
        self.raw["optimisations"] = raw
        text = ("Each optimisation undone in a copy of the collection (one exact source edit, shown as *undone by*), and the "
                "same play run against the copy (*before*) and against the collection (*after*), one after the other, "
                "simulator speed 50 with the timings of OPTIMISATION_TIMINGS (operations 0.2 s, a model ready in about 0.9 s, "
                "a deployment in 2.5 s, a scale in 0.8 s: far from every poll time, so the counts do not depend on load). "
                "Rows are the tasks whose request count differs, then the whole play (%s). Request counts are exact; the "
                "seconds are single runs. The readiness schedule's before/after is in section 4.\n\n"
                % "; ".join(name for name, dummy, dummy2 in tasks))
        text += table(["optimisation", "task", "before: API req", "after: API req", "change", "before s", "after s"], rows)
        undone = [[label, "`%s`: `%s` -> `%s`" % (relative, old.strip(), new.strip())] for label, relative, old, new in OPTIMISATIONS]
        text += "\n\n" + table(["optimisation", "undone by"], undone)
        self.section("6. Optimisations, before and after", text)

    # --- 8. the controller while it waits

    def controller_wait(self):
        """One ai_deployment create that waits for readiness, with ansible-playbook's default internal_poll_interval
        (0.001) and with the 0.02 of tests/integration/harness-ansible.cfg, one after the other: CPU seconds of the
        ansible-playbook process and its module against the seconds the task waited."""
        wait = 4.0 if self.smoke else 20.0
        repeats = 1 if self.smoke else 3
        default_config = self.workdir / "default-ansible.cfg"
        default_config.write_text("[defaults]\n")
        configs = [("default (0.001)", str(default_config)), ("0.02 (the tests' harness-ansible.cfg)", None)]
        speed = 50.0
        # creating and preparing in 0.1 s each, then deploying for the rest of ``wait`` at speed 50
        timings = dict(_default_timings(), deployment_creating=5, deployment_preparing=5,
                       deployment_deploying=wait * speed - 10)
        rows, raw = [], []
        self.sim.control.config(speed=speed, timings=timings)
        try:
            for label, config in configs:
                for index in range(repeats):
                    name = "bench-wait-%d" % index
                    create = dict(name=name, model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1)
                    tasks = [{"name": "model", FQ + "ai_model": dict(name=MODEL)},
                             {"name": "create and wait", FQ + "ai_deployment": create},
                             {"name": "delete", FQ + "ai_deployment": dict(name=name, state="absent")}]
                    before = os.times()
                    wall, records = self.play(tasks, env={"ANSIBLE_CONFIG": config} if config else None)
                    after = os.times()
                    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
                    waited = [r["end"] - r["start"] for r in records if r["name"] == "create and wait"][0]
                    raw.append(dict(config=label, cpu=cpu, wall=wall, waited=waited))
        finally:
            self.sim.control.config(speed=speed, timings=dict(_default_timings()))
        for label, dummy in configs:
            runs = [r for r in raw if r["config"] == label]
            cpu = sum(r["cpu"] for r in runs) / len(runs)
            waited = sum(r["waited"] for r in runs) / len(runs)
            rows.append([label, len(runs), "%.1f" % waited, "%.2f" % cpu, "%.1f" % (sum(r["wall"] for r in runs) / len(runs))])
        self.raw["controller_wait"] = raw
        text = ("One play: ai_model (converged), an ai_deployment create that waits about %.0f s for readiness, then "
                "its delete; "
                "ansible-playbook with an ansible.cfg holding only `internal_poll_interval` (or nothing: the default), "
                "%d run(s) each, means. CPU = the ansible-playbook process, its workers and modules "
                "(docs/parallel-waits.md, *The controller while it waits*).\n\n" % (wait, repeats))
        text += table(["internal_poll_interval", "runs", "create task s", "CPU s", "play s"], rows)
        self.section("8. The controller while it waits", text)


def _schedule_key(schedule):
    return (schedule.first, schedule.factor, schedule.cap, schedule.relax_after, schedule.max_cap, schedule.max_cap_at)


def _operation_of(control, dep):
    """The id of the operation that created `dep` (its reference points at it)."""
    for op in control.state()["zones"]["ch-gva-2"]["operations"].values():
        if op["reference"]["id"] == dep["id"]:
            return op["id"]
    return ""


def _deployment_seconds(speed):
    timings = _default_timings()
    return sum(timings[phase] for phase in ("deployment_creating", "deployment_preparing", "deployment_deploying")) / speed


def _default_timings():
    from exoscale_ai_simulator import catalogue  # pylint: disable=import-outside-toplevel
    return catalogue.TIMINGS


def _run_importtime(path, baseline):
    """(total, collection module_utils, httpx, basic, process) in ms for one run of an AnsiballZ payload."""
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-X", "importtime", str(path)], capture_output=True, text=True,
                             check=False, cwd=path.parent)
    wall = time.perf_counter() - started
    total = httpx_time = basic_time = collection_time = 0
    for line in process.stderr.splitlines():
        parsed = _importtime_line(line)
        if not parsed:
            continue
        cumulative, depth, module = parsed
        if depth == 0 and module not in baseline:
            total += cumulative
        if module == "httpx":
            httpx_time += cumulative
        if module == "ansible.module_utils.basic":
            basic_time += cumulative
        if depth == 0 and module.startswith("ansible_collections.inferops.exoscale.plugins.module_utils."):
            collection_time += cumulative
    return total / 1000, collection_time / 1000, httpx_time / 1000, basic_time / 1000, wall * 1000


def _importtime_line(line):
    """(cumulative us, depth, module) from a `-X importtime` line, or None."""
    match = re.match(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
    if not match:
        return None
    return int(match.group(2)), len(match.group(3)) // 2, match.group(4)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tests/benchmarks/run.py", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--smoke", action="store_true", help="tiny version of every measurement (< 30 s)")
    parser.add_argument("--output", help="Markdown report (default: tests/benchmarks/results.md, smoke: build/bench-smoke/results.md)")
    parser.add_argument("--raw", help="also write the raw measurements as JSON")
    parser.add_argument("--sections", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--workdir")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    name = "bench-smoke" if args.smoke else "bench"
    workdir = Path(args.workdir or REPO_ROOT / "build" / name)
    output = Path(args.output) if args.output else (workdir / "results.md" if args.smoke else BENCH_DIR / "results.md")
    bench = Bench(workdir, args.smoke)
    sections = [int(s) for s in args.sections.split(",") if s]
    info = machine_info()
    bench.start()
    steps = {1: bench.requests_per_task, 2: bench.converged_role, 3: bench.startup, 4: bench.wait_latency, 5: bench.scale,
             6: bench.optimisations, 7: bench.converged_task, 8: bench.controller_wait}
    section_seconds = []
    try:
        for number in sections:
            section_started = time.perf_counter()
            steps[number]()
            section_seconds.append("%d: %.0f s" % (number, time.perf_counter() - section_started))
    finally:
        bench.stop()
    elapsed = time.perf_counter() - started
    checks = table(["target", "result", "measured"], [[t, "met" if ok else "MISSED", d] for t, ok, d in bench.checks])
    header = ("# Benchmarks of inferops.exoscale%s\n\n"
              "Generated by `%s` (tests/benchmarks/run.py) on %s in %.0f s (sections %s).\n\n"
              "Machine: %s CPUs (%s), %s RAM, %s. Versions: Python %s, ansible-core %s, httpx %s. "
              "Against the local simulator (`python -m tests.simulator`, 127.0.0.1).\n\n"
              % (" (smoke)" if args.smoke else "", "make " + name, info["date"], elapsed, ", ".join(section_seconds), info["nproc"], info["cpu"], info["ram"],
                 info["platform"], info["python"], info["ansible_core"], info["httpx"]))
    text = header + "## Targets\n\n" + checks + "\n\n" + "\n\n".join(bench.report) + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print("\n## Targets\n\n" + checks)
    print("\nwrote %s (%.0f s)" % (output, elapsed))
    if args.raw:
        Path(args.raw).write_text(json.dumps(dict(info=info, raw=bench.raw, elapsed=elapsed), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
