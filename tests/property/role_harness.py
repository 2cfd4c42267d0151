"""Run the serve_model role's module calls in-process against an in-process simulator, with faults placed in
the request stream through the simulator's own fault injection (``/_sim/faults``).

ansible-playbook costs seconds per run; a property test needs hundreds of runs. So each task of the role
(roles/serve_model/tasks/*.yml, in order) is a call of the real module's ``main()`` with its arguments set
by ``patch_module_args``; the result is the JSON it prints. Nothing here knows module internals.

Time is virtual: the simulator's clock (its state machines, operations, timestamps) is a ``VirtualTime``
that moves only when the modules sleep (their backoff and poll sleeps: ``time.sleep`` of the main thread
is patched to advance it, and to sleep ``REAL_FRACTION`` of that for real). A 60 s deployment and its
polls take milliseconds, and what the client sees does not depend on how loaded the machine is: requests
take no virtual time. HTTP timeouts are socket timeouts and stay real (``API_TIMEOUT``), and so does the
simulator's ``delay`` fault (it sleeps in a server thread), which is how a read timeout is made.
"""
import collections
import contextlib
import fnmatch
import importlib
import io
import json
import os
import threading
import time
from unittest import mock

from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args

from exoscale_ai_simulator.control import SimulatorControl
from exoscale_ai_simulator.server import start_in_thread

REAL_FRACTION = 0.001  # of each virtual sleep, slept for real: keeps polling loops bounded by real deadlines gentle
# A shorter create than the realistic defaults (seconds before compression): fewer polls per run, the same
# states in the same order. Updating and scaling keep their realistic lengths: they are the windows in
# which the API answers 409, longer than the retry budget's backoff (about 8 s), as in reality.
TIMINGS = dict(operation=1.0, model_creating=1.0, model_download_base=1.0, model_download_per_gb=0.5,
               deployment_creating=1.0, deployment_preparing=2.0, deployment_deploying=4.0,
               deployment_scaling=10.0, deployment_updating=20.0)
API_TIMEOUT = 0.3  # real seconds; a "timeout" fault holds the request longer than this
WAIT_TIMEOUT = 120  # real seconds: a bound for a run that hangs, far above a normal run
MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
DEPLOYMENT = "qwen-qwen2-5-0-5b-instruct"  # serve_model_deployment_name derived from MODEL
ENGINE_PARAMETERS = ["--max-model-len=4096"]
MODULES = {name: "ansible_collections.inferops.exoscale.plugins.modules." + name
           for name in ("ai_model", "ai_deployment", "ai_inference")}

# Fault kinds: name -> fields of a /_sim/faults entry. Timeouts hold the request past API_TIMEOUT (the
# simulator's delay is a time.sleep, compressed like every other one), then the server acts.
FAULTS = {
    "429": dict(action="status", status=429),
    "429+retry-after": dict(action="status", status=429, retry_after=2),
    "502": dict(action="status", status=502),
    "503": dict(action="status", status=503),
    "503+retry-after": dict(action="status", status=503, retry_after=1),
    "504": dict(action="status", status=504),
    "504+retry-after": dict(action="status", status=504, retry_after=1),
    "reset": dict(action="drop"),                 # connection closed before the server acted
    "lost-response": dict(action="drop_after"),   # the server acted, then the connection closed
    "read-timeout": dict(action="delay", delay=API_TIMEOUT + 0.3),
    "409": dict(action="status", status=409, body={
        "type": "about:blank", "title": "Conflict", "status": 409,
        "detail": "another operation is in progress on this deployment, retry later"}),
}
UUID = "????????-????-????-????-????????????"
# Request classes of a role run (method, fnmatch glob on the path), first match wins. A fault is placed on
# the n-th request of a class within a task.
REQUEST_CLASSES = (
    ("GET", "/v2/operation/" + UUID),
    ("GET", "/v2/ai/model"), ("POST", "/v2/ai/model"), ("GET", "/v2/ai/model/" + UUID),
    ("DELETE", "/v2/ai/model/" + UUID),
    ("GET", "/v2/ai/deployment"), ("POST", "/v2/ai/deployment"), ("GET", "/v2/ai/deployment/" + UUID),
    ("PATCH", "/v2/ai/deployment/" + UUID), ("POST", "/v2/ai/deployment/%s/scale" % UUID),
    ("DELETE", "/v2/ai/deployment/" + UUID), ("GET", "/v2/ai/deployment/%s/api-key" % UUID),
    ("GET", "/v2/ai/deployment/%s/logs" % UUID), ("GET", "/v2/ai/instance-type"),
    ("GET", "/v2/ai/help/inference-engine-parameters"), ("GET", "/v2/quota/*"),
    ("GET", "/inference/*/v1/models"), ("POST", "/inference/*/v1/chat/completions"),
    ("*", "/hf/api/*"), ("*", "/hf/*"),
    ("*", "*"),
)
# 409 "another operation runs" only exists for writes on an existing deployment: it goes to those.
CONFLICT_CLASSES = (("PATCH", "/v2/ai/deployment/" + UUID), ("POST", "/v2/ai/deployment/%s/scale" % UUID),
                    ("DELETE", "/v2/ai/deployment/" + UUID))


def request_class(method, path):
    return next((m, glob) for m, glob in REQUEST_CLASSES if m in ("*", method) and fnmatch.fnmatchcase(path, glob))


def role_tasks():
    """(label, module, args) in the order the serve_model role runs them: present, present with changes
    (PATCH + scale), absent. The role's defaults, with time-compressed timeouts."""
    def present(replicas, parameters):
        return [
            ("model", "ai_model", dict(name=MODEL, wait_timeout=WAIT_TIMEOUT)),
            ("deployment", "ai_deployment", dict(
                name=DEPLOYMENT, model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=replicas,
                inference_engine_parameters=parameters, wait_timeout=WAIT_TIMEOUT)),
            ("smoke test", "ai_inference", dict(
                deployment="@deployment_id", prompt="Say hello in one short sentence.", max_tokens=32,
                retries=12, retry_delay=5, timeout=API_TIMEOUT)),
        ]
    return (
        [("1 " + label, module, args) for label, module, args in present(1, [])]
        + [("2 " + label, module, args) for label, module, args in present(2, ENGINE_PARAMETERS)]
        + [("3 delete deployment", "ai_deployment", dict(name=DEPLOYMENT, state="absent", wait_timeout=WAIT_TIMEOUT)),
           ("3 delete model", "ai_model", dict(name=MODEL, state="absent", wait_timeout=WAIT_TIMEOUT))]
    )


TASKS = role_tasks()


class ModuleCrashed(Exception):
    """main() raised instead of exiting with a result: the user would see a traceback."""


def run_module(module_name, args):
    """Call the module's main() with ``args``; return its result dict (``failed`` set on fail_json)."""
    module = importlib.import_module(MODULES[module_name])
    ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access  # one module run per process otherwise
    output = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(output):
        try:
            module.main()
        except SystemExit:
            pass
        except Exception as exc:  # pylint: disable=broad-except
            raise ModuleCrashed("%s raised %s: %s" % (module_name, type(exc).__name__, exc)) from exc
    text = output.getvalue().strip()
    if not text:
        raise ModuleCrashed("%s printed no result" % module_name)
    return json.loads(text.splitlines()[-1])


class VirtualTime:
    """The simulator's clock, advanced by the sleeps of the main thread (the modules); a context manager that
    patches ``time.sleep``.

    Sleeps of other threads are the simulator holding a request (the ``delay`` fault) and stay real. While
    one is held, the modules' sleeps are real too (cut short when the hold ends), so a request that the
    client gave up on lands within its next poll, as it would, not minutes of virtual time later."""

    def __init__(self, real_fraction=REAL_FRACTION):
        self.now = time.time()
        self.real_fraction = real_fraction
        self.real_sleep = time.sleep
        self.holds = 0
        self.changed = threading.Condition()
        self._patch = mock.patch.object(time, "sleep", self.sleep)

    def clock(self):
        return self.now

    def sleep(self, seconds):
        seconds = max(0.0, seconds)
        if threading.current_thread() is not threading.main_thread():
            with self.changed:
                self.holds += 1
            try:
                self.real_sleep(seconds)
            finally:
                with self.changed:
                    self.holds -= 1
                    self.changed.notify_all()
            return
        started = time.monotonic()
        with self.changed:
            if self.holds:
                self.changed.wait_for(lambda: not self.holds, timeout=seconds)
                seconds = min(seconds, time.monotonic() - started)
        self.now += seconds
        self.real_sleep(seconds * self.real_fraction)

    def __enter__(self):
        self._patch.start()
        return self

    def __exit__(self, *exc_info):
        self._patch.stop()


class RoleHarness:
    """An in-process simulator plus the role's tasks; ``run(placements)`` plays one fault sequence."""

    def __init__(self, virtual_time):
        self.handle = start_in_thread(clock=virtual_time.clock)
        self.control = SimulatorControl(self.handle.url)
        self.connection = dict(api_url=self.handle.url, api_key=self.handle.key, api_secret=self.handle.secret,
                               api_timeout=API_TIMEOUT)

    def stop(self):
        self.handle.stop()

    def calibrate(self, tasks=TASKS):
        """Play the run once without faults: per task, how many requests of each class it sends."""
        self.reset()
        self.profile = []
        for task in tasks:
            self.control.clear_requests()
            result, dummy = self.run_task(task)
            assert not result.get("failed"), "the run fails without faults: %s" % result.get("msg")
            self.profile.append(collections.Counter(request_class(r["method"], r["path"]) for r in self.control.requests(kind=None)))
        return self.profile

    def placed(self, task, on_write, pick, occurrence, kind):
        """Where a generated placement lands: (task index, (method, glob), requests of that class passed first, kind).
        ``pick`` and ``occurrence`` select among the classes and counts the task showed in calibration;
        ``on_write`` narrows the classes to the task's writes (the requests whose loss matters most)."""
        if kind == "409":
            targets = [(index, c) for index, counts in enumerate(self.profile) for c in CONFLICT_CLASSES if counts[c]]
            task, target = targets[(task * 7 + pick) % len(targets)]
            return task, target, occurrence % self.profile[task][target], kind
        classes = sorted(self.profile[task])
        writes = [c for c in classes if c[0] not in ("GET", "*")]
        if on_write and writes:
            classes = writes
        target = classes[pick % len(classes)]
        return task, target, occurrence % self.profile[task][target], kind

    def arm(self, placements):
        """Inject the faults of one task: ``[((method, glob), passed, kind)]``, in order; ``passed`` requests of
        the class go through first (a zero delay), counted from the previous fault of that class."""
        for (method, glob), passed, kind in placements:
            if passed:
                self.control.inject(method, glob, action="delay", delay=0, count=passed)
            self.control.inject(method, glob, **FAULTS[kind])

    def run(self, sequence, tasks=TASKS):
        """Play ``tasks`` from a fresh simulator with ``sequence`` = ``[(task, on_write, pick, occurrence, kind)]``."""
        placed = [self.placed(*placement) for placement in sequence]
        self.reset()
        record = RunRecord(placed)
        for index, task in enumerate(tasks):
            placements = [(target, passed, kind) for number, target, passed, kind in placed if number == index]
            result, unfired = self.run_task(task, placements)
            record.add(task[0], placements, result, unfired, resources(self))
        return record

    deployment_id = None
    profile = ()

    def reset(self):
        self.control.reset()
        self.control.config(timings=TIMINGS)
        self.deployment_id = None

    def run_task(self, task, placements=()):
        """One task with its faults armed; returns (result, faults left unfired). Unfired faults are cleared."""
        dummy, module_name, args = task
        self.arm(placements)
        args = dict(self.connection, **args)
        if args.get("deployment") == "@deployment_id":  # the role passes the registered deployment's id
            args["deployment"] = self.deployment_id or "(no deployment id: the deployment task failed)"
        try:
            # As a user's environment would point the modules at a Hub mirror: the simulator's stand-in.
            with mock.patch.dict(os.environ, {"HF_ENDPOINT": self.handle.base + "/hf"}):
                result = run_module(module_name, args)
        finally:
            unfired = sum(f["count"] for f in self.control.faults() if f["action"] != "delay" or f["delay"])
            self.control.clear_faults()
        if module_name == "ai_deployment" and not result.get("failed") and args.get("state") != "absent":
            self.deployment_id = (result.get("deployment") or {}).get("id")
        return result, unfired


class RunRecord:
    """What one fault sequence did: per task the placed faults, the result and the faults left unfired."""

    def __init__(self, sequence):
        self.sequence = sequence
        self.steps = []

    def add(self, label, placements, result, unfired, found):
        self.steps.append(dict(label=label, placements=placements, result=result, resources=found, unfired=unfired))

    def result(self, label):
        return next(step["result"] for step in self.steps if step["label"] == label)

    def resources_after(self, label):
        """(models, deployments) the simulator held right after task ``label``."""
        return next(step["resources"] for step in self.steps if step["label"] == label)

    def failures(self):
        return [(step["label"], step["result"].get("msg")) for step in self.steps if step["result"].get("failed")]

    def fired(self):
        return sum(len(step["placements"]) for step in self.steps) - sum(step["unfired"] for step in self.steps)

    def targets(self):
        """[((method, glob), kind)] of every placed fault."""
        return [(target, kind) for step in self.steps for target, dummy, kind in step["placements"]]

    def describe(self):
        lines = []
        for step in self.steps:
            result = step["result"]
            faults = ["%s %s %s+%d" % (kind, m, glob, passed) for (m, glob), passed, kind in step["placements"]]
            if result.get("failed"):
                outcome = "FAILED: " + result.get("msg", "")[:300]
            else:
                outcome = "changed" if result.get("changed") else "ok"
            lines.append("%-20s faults=%s -> %s" % (step["label"], faults, outcome))
        return "\n".join(lines)


def resources(harness, zone="ch-gva-2"):
    """What the simulator holds now: models named MODEL and private deployments named DEPLOYMENT, with their
    current state (read from its store, not through the API, so no fault can touch it)."""
    store = harness.handle.store
    with store.lock:
        found = store.zones[zone]
        models = [dict(store.model_view(m)) for m in found["models"].values() if m.get("name") == MODEL]
        deployments = [dict(id=d["id"], name=d["name"], replicas=d["replicas"], state=store.deployment_state(d)[0],
                            parameters=list(d["inference-engine-parameters"]))
                       for d in found["deployments"].values()
                       if d.get("name") == DEPLOYMENT and d.get("visibility", "private") == "private"]
    return models, deployments
