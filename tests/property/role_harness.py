"""Run the serve_model role's module calls in-process against an in-process simulator, with faults placed in
the request stream through the simulator's own fault injection (``/_sim/faults``).

ansible-playbook costs seconds per run; a property test needs hundreds of runs. So the role's task list is read
from its YAML (roles/serve_model/tasks/*.yml, through tests/property/role_tasks.py: includes, conditions, the
role's defaults and the templated arguments), and each module task is a call of the real module's ``main()``
(tests/module_runner.py) whose result is registered as the role registers it. A change to the role's tasks
changes what this runs. Nothing here knows module internals.

Time is virtual: the simulator's clock (its state machines, operations, timestamps) is a ``VirtualTime``
that moves only when the modules sleep (their backoff and poll sleeps: ``time.sleep`` of the main thread
is patched to advance it, and to sleep ``REAL_FRACTION`` of that for real). A 60 s deployment and its
polls take milliseconds, and what the client sees does not depend on how loaded the machine is: requests
take no virtual time. HTTP timeouts are socket timeouts and stay real (``API_TIMEOUT``), and so does the
simulator's ``delay`` fault (it sleeps in a server thread), which is how a read timeout is made.
"""
import collections
import fnmatch
import threading
import time
from pathlib import Path
from unittest import mock

from exoscale_ai_simulator.control import SimulatorControl
from exoscale_ai_simulator.server import start_in_thread
from tests.module_runner import module_name, run_module
from tests.property.role_tasks import condition, conditions_hold, drop_omitted, render, role_steps

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


ROLE = Path(__file__).resolve().parents[2] / "roles" / "serve_model"
# The role's runs, as a user plays them one after the other: serve, serve again with changes (a PATCH and a
# scale), tear down. Role variables beyond the defaults; the waits are bounded by WAIT_TIMEOUT.
WAITS = dict(serve_model_model_wait_timeout=WAIT_TIMEOUT, serve_model_deployment_wait_timeout=WAIT_TIMEOUT)
PHASES = (
    ("1", dict(serve_model_name=MODEL, **WAITS)),
    ("2", dict(serve_model_name=MODEL, serve_model_replicas=2, serve_model_engine_parameters=ENGINE_PARAMETERS, **WAITS)),
    ("3", dict(serve_model_name=MODEL, serve_model_state="absent", **WAITS)),
)
# What a play around the role sets with module_defaults: the connection for the action group (RoleHarness adds
# it), and a smoke-test HTTP timeout as short as the API's, so that a held inference request times out too.
MODULE_DEFAULTS = {"ai_inference": dict(timeout=API_TIMEOUT)}


def role_plan(phases=PHASES, role=ROLE):
    """``(variables per phase, [(label, step)])``: every task the role runs in each phase, in order. Module steps
    are labelled ``<phase> <module>`` (``#2`` on if a phase calls a module twice); the others have no label."""
    variables, steps = {}, []
    for phase, role_vars in phases:
        variables[phase], phase_steps = role_steps(role, role_vars, phase)
        seen = collections.Counter()
        for step in phase_steps:
            label = None
            if step.action.startswith("inferops.exoscale."):
                seen[step.action] += 1
                label = "%s %s%s" % (phase, module_name(step.action),
                                     "" if seen[step.action] == 1 else "#%d" % seen[step.action])
            steps.append((label, step))
    return variables, steps


PHASE_VARIABLES, PLAN = role_plan()
# The module tasks, in the order the role runs them: where faults go.
TASKS = [(label, step) for label, step in PLAN if label]


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
    """An in-process simulator plus the role's task list; ``run(placements)`` plays one fault sequence."""

    def __init__(self, virtual_time):
        self.handle = start_in_thread(clock=virtual_time.clock)
        self.control = SimulatorControl(self.handle.url)
        self.connection = dict(api_url=self.handle.url, api_key=self.handle.key, api_secret=self.handle.secret,
                               api_timeout=API_TIMEOUT)
        self.variables = {}

    def stop(self):
        self.handle.stop()

    def calibrate(self):
        """Play the runs once without faults: per module task, how many requests of each class it sends."""
        self.reset()
        self.profile = []
        for label, step in PLAN:
            self.control.clear_requests()
            result, dummy = self.run_task((label, step))
            assert not result.get("failed"), "the run fails without faults at %r: %s" % (step.name, result.get("msg"))
            if label:
                self.profile.append(collections.Counter(
                    request_class(r["method"], r["path"]) for r in self.control.requests(kind=None)))
        return self.profile

    def placed(self, task, on_write, pick, occurrence, kind):
        """Where a generated placement lands: (task index, (method, glob), requests of that class passed first, kind).
        ``pick`` and ``occurrence`` select among the classes and counts the task showed in calibration;
        ``on_write`` narrows the classes to the task's writes (the requests whose loss matters most)."""
        if kind == "409":
            targets = [(index, c) for index, counts in enumerate(self.profile) for c in CONFLICT_CLASSES if counts[c]]
            task, target = targets[(task * 7 + pick) % len(targets)]
            return task, target, occurrence % self.profile[task][target], kind
        sending = [index for index, counts in enumerate(self.profile) if counts]
        if task not in sending:  # a task that sent nothing in calibration (skipped): the next one that did
            task = next((index for index in sending if index > task), sending[0])
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
        """Play the role's runs from a fresh simulator, up to the last of ``tasks`` (module tasks of TASKS), with
        ``sequence`` = ``[(task, on_write, pick, occurrence, kind)]``."""
        placed = [self.placed(*placement) for placement in sequence]
        self.reset()
        record = RunRecord(placed)
        last = PLAN.index(tasks[-1]) if tasks else -1
        index = -1
        for label, step in PLAN[:last + 1]:
            placements = []
            if label:
                index += 1
                placements = [(target, passed, kind) for number, target, passed, kind in placed if number == index]
            result, unfired = self.run_task((label, step), placements)
            record.add(label or "%s %s: %s" % (step.phase, step.action, step.name), placements, result, unfired,
                       resources(self))
        return record

    profile = ()

    def reset(self):
        self.control.reset()
        self.control.config(timings=TIMINGS)
        self.variables = {phase: dict(variables) for phase, variables in PHASE_VARIABLES.items()}

    def run_task(self, task, placements=()):
        """One task (label, step) with its faults armed; returns (result, faults left unfired). Unfired faults are
        cleared. The result is registered, facts are set, as the play would."""
        dummy, step = task
        variables = self.variables[step.phase]
        self.arm(placements)
        try:
            result = self.perform(step, variables)
        finally:
            unfired = sum(f["count"] for f in self.control.faults() if f["action"] != "delay" or f["delay"])
            self.control.clear_faults()
        if step.register:
            variables[step.register] = result
        return result, unfired

    def perform(self, step, variables):
        """What Ansible does with one task: its conditions, its templates, then the action."""
        try:
            variables = dict(variables, **render(step.task_vars, variables))
            if not conditions_hold(step.when, variables):
                return dict(changed=False, skipped=True, skip_reason="Conditional result was False")
            args = drop_omitted(render(step.args, variables))
        except Exception as exc:  # pylint: disable=broad-except  # a templating error fails the task
            return dict(failed=True, msg="the task %r cannot be templated: %s" % (step.name, exc))
        if step.action == "set_fact":
            self.variables[step.phase].update(args)
            return dict(changed=False, ansible_facts=args)
        if step.action == "assert":
            for entry in args["that"] if isinstance(args["that"], list) else [args["that"]]:
                if not condition(entry, variables):
                    return dict(failed=True, assertion=entry, msg=args.get("fail_msg") or "Assertion failed")
            return dict(changed=False, msg="All assertions passed")
        if step.action == "fail":
            return dict(failed=True, msg=args.get("msg", "Failed as requested from task"))
        if step.action == "debug":
            return dict(changed=False, msg=args.get("msg"))
        name = module_name(step.action)
        args = dict(self.connection, **dict(MODULE_DEFAULTS.get(name, {}), **args))
        # As a user's environment would point the modules at a Hub mirror: the simulator's stand-in.
        return run_module(name, args, env={"HF_ENDPOINT": self.handle.base + "/hf"}, collect=False)


class RunRecord:
    """What one fault sequence did: per task the placed faults, the result and the faults left unfired."""

    def __init__(self, sequence):
        self.sequence = sequence
        self.steps = []

    def add(self, label, placements, result, unfired, found):
        self.steps.append(dict(label=label, placements=placements, result=result, resources=found, unfired=unfired))

    def result(self, label):
        return next(step["result"] for step in self.steps if step["label"] == label)

    def fact(self, phase, name):
        """The last value the role's run ``phase`` set for fact ``name``."""
        facts = [step["result"]["ansible_facts"][name] for step in self.steps if step["label"].startswith(phase + " ")
                 and name in (step["result"].get("ansible_facts") or {})]
        assert facts, "run %s set no fact %s:\n%s" % (phase, name, self.describe())
        return facts[-1]

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
