"""Property: the rollout plan that check mode computes is the plan the run executes, and a refused plan sends no write.

Each example builds a random starting state in an in-process simulator (no live deployment, a live one ready or in
error, the candidate of the wanted settings busy, ready or in error, a retired one, another rollout's candidate,
a GPU quota too small for the candidate next to the live one, invalid inputs), then plays what the role does, module
by module (tests/module_runner.py's ``run_module``: the real modules' ``main()``):

1. ``ai_rollout_plan`` in check mode and for real: the same plan (or the same refusal), and no write;
2. when the plan creates a candidate: ``ai_deployment``'s preflight in check mode (as the role's preflight task)
   and then the create: a refusal in check mode is the run's refusal and no write was sent; a pass creates it;
3. after that step, the next plan resumes the candidate: its steps are the rest of the first plan's.

The seed is fixed (derandomize); PROPERTY_EXAMPLES sets the number of examples (default 200).
"""
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils import rollout
from tests.module_runner import run_module
from tests.property.role_harness import TIMINGS, VirtualTime

from exoscale_ai_simulator.control import SimulatorControl
from exoscale_ai_simulator.server import start_in_thread

FAST = dict((name, 0.05) for name in TIMINGS)  # every state change within the first poll: the plan is what matters
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
NAME = "chat"
OLD, NEW = "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct"
BAD_INPUTS = {
    "none": {},
    "typo": dict(benchmark={"requests": 4, "treshold": {"error_rate_max": 0}}),
    "regex": dict(smoke_expect="([a-z"),
    "gpu_count": dict(gpu_count=9),
    "requests": dict(benchmark={"requests": 0}),
}
STATES = st.fixed_dictionaries(dict(
    live=st.sampled_from(["absent", "ready", "error"]),
    candidate=st.sampled_from(["absent", "absent", "busy", "ready", "error"]),
    retired=st.booleans(),
    foreign=st.sampled_from([False] * 5 + [True]),
    over_quota=st.sampled_from([False, False, True]),
    change=st.sampled_from(["model", "replicas", "gpu_count", "none"]),
    in_place=st.booleans(),
    bad=st.sampled_from(sorted(BAD_INPUTS) + ["none"] * 10),
))


class Harness:
    def __init__(self, virtual_time):
        self.handle = start_in_thread(clock=virtual_time.clock)
        self.control = SimulatorControl(self.handle.url)
        self.connection = dict(api_url=self.handle.url, api_key=self.handle.key, api_secret=self.handle.secret)

    def module(self, module_name, check=False, **args):
        return run_module(module_name, dict(self.connection, **args), check_mode=check, collect=False)

    def writes(self):
        return [(r["method"], r["path"]) for r in self.control.requests() if r["method"] != "GET"]

    def deployment(self, name, model, state, gpu_count=1, replicas=1):
        created = self.module("ai_deployment", name=name, model=model, gpu_type="gpua5000", gpu_count=gpu_count,
                              replicas=replicas, wait=state != "busy", preflight_skip=["fit", "quota"])
        assert not created.get("failed"), created.get("msg")
        if state == "error":
            self.control.error_deployment(created["deployment"]["id"], "CUDA out of memory")
        return created["deployment"]

    def start(self):
        self.control.reset()
        self.control.config(timings=FAST)
        for model in (OLD, NEW):
            assert not self.module("ai_model", name=model).get("failed")
        self.limits = self.control.limits()

    def setup(self, state, inputs):
        """The models stay; the deployments and the quota limits start afresh."""
        store = self.handle.store
        with store.lock:
            store.zones["ch-gva-2"]["deployments"].clear()
        self.control.limits(self.limits)
        if state["live"] != "absent":
            self.deployment(NAME, OLD, state["live"])
        spec = rollout.wanted_spec(inputs)
        digest = rollout.spec_hash(spec)
        if state["candidate"] != "absent":
            self.deployment(NAME + rollout.CANDIDATE + digest, spec["model"], state["candidate"],
                            spec["gpu_count"], spec["replicas"])
        if state["retired"]:
            self.deployment(NAME + rollout.RETIRED + digest, OLD, "ready")
        if state["foreign"]:
            self.deployment(NAME + rollout.CANDIDATE + "0badc0de", OLD, "busy")
        if state["over_quota"]:
            held = self.module("ai_quota_info", family="gpua5000", include_ai_quota=False)["gpu_quota"]["gpua5000"]["usage"]
            self.control.limits(gpua5000=held + spec["gpu_count"] * spec["replicas"] - 1)
        self.control.clear_requests()


def role_inputs(state):
    inputs = dict(name=NAME, model=OLD, gpu_type="gpua5000", gpu_count=1, replicas=1, engine_version="",
                  engine_parameters=[], in_place=state["in_place"], retire="delete", smoke_prompt="Say hello.",
                  smoke_expect="", smoke={}, benchmark={}, switch_tasks="")
    inputs.update({"model": dict(model=NEW), "replicas": dict(replicas=2), "gpu_count": dict(gpu_count=2),
                   "none": {}}[state["change"]])
    inputs.update(BAD_INPUTS[state["bad"]])
    return inputs


def comparable(result):
    return dict((k, v) for k, v in result.items() if k not in ("invocation", "warnings", "deprecations"))


@pytest.fixture(scope="module", name="harness")
def harness_fixture():
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("EXOSCALE_")}
    os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9/hf"  # no Hub: the fit estimate is skipped with a warning
    with VirtualTime() as virtual_time:
        running = Harness(virtual_time)
        os.environ["HF_ENDPOINT"] = running.handle.base + "/hf"
        running.start()
        try:
            yield running
        finally:
            running.handle.stop()
            os.environ.pop("HF_ENDPOINT", None)
            os.environ.update(saved)


@pytest.mark.timeout(900)  # about 200 s for 200 examples on a loaded 2-core machine
def test_check_mode_plan_is_the_executed_plan(harness):
    seen = {"refused": 0, "created": 0, "quota refused": 0, "modes": set()}
    started = time.monotonic()

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(state=STATES)
    def holds(state):
        inputs = role_inputs(state)
        try:
            harness.setup(state, inputs)
        except AssertionError:  # an invalid input cannot make its own candidate (gpu_count 9): nothing to set up
            if state["bad"] == "none":
                raise
            harness.setup(dict(state, candidate="absent"), dict(role_inputs(dict(state, bad="none"))))
        checked = harness.module("ai_rollout_plan", check=True, **inputs)
        executed = harness.module("ai_rollout_plan", **inputs)
        assert comparable(checked) == comparable(executed), (state, checked, executed)
        assert harness.writes() == [], state
        if executed.get("failed"):
            seen["refused"] += 1
            assert state["bad"] != "none" or state["foreign"], (state, executed["msg"])
            return
        assert state["bad"] == "none" and not state["foreign"], (state, executed)
        seen["modes"].add(executed["mode"])
        if "create" not in executed["steps"]:
            assert executed["candidate"]["resumed"] == (state["candidate"] != "absent")
            return
        candidate = dict(name=executed["candidate"]["name"], model=inputs["model"], gpu_type="gpua5000",
                         gpu_count=inputs["gpu_count"], replicas=inputs["replicas"], inference_engine_parameters=[],
                         wait=False)
        preflight = harness.module("ai_deployment", check=True, **candidate)
        assert harness.writes() == [], state
        created = harness.module("ai_deployment", **candidate)
        if preflight.get("failed"):
            seen["quota refused"] += 1
            assert state["over_quota"], (state, preflight["msg"])
            assert created.get("failed") and created["msg"] == preflight["msg"], (state, preflight, created)
            assert harness.writes() == [], state
            return
        assert not state["over_quota"], (state, "the candidate passed a quota without room for it")
        assert not created.get("failed") and created["changed"], (state, created.get("msg"))
        seen["created"] += 1
        claimed = harness.module("ai_rollout_plan", claim=created["deployment"]["id"], **inputs)
        assert not claimed.get("failed"), claimed.get("msg")
        resumed = harness.module("ai_rollout_plan", check=True, **inputs)
        assert resumed["mode"] == "blue_green" and resumed["candidate"]["resumed"], resumed
        assert resumed["steps"] == [s for s in executed["steps"] if s not in ("create", "claim")], (executed, resumed)

    holds()  # pylint: disable=no-value-for-parameter
    seconds = time.monotonic() - started
    print("\nrollout plan property: %s in %.1f s" % (seen, seconds))
    assert seen["refused"] and seen["created"] and seen["quota refused"], seen
    assert seen["modes"] >= {"blue_green", "unchanged", "in_place"}, seen


def replay(plan_capacity, old, old_gpus, per_replica, target, others, limit):
    """Play a shrink_then_grow plan step by step: (usage, ready) at every moment; a scaling deployment serves the
    replicas it keeps, a new replica only once it is up."""
    moments = []
    candidate = 0
    if plan_capacity["shrink_to"] is not None:
        old = plan_capacity["shrink_to"]
        moments.append((others + old * old_gpus, old))
    candidate = plan_capacity["candidate_replicas"]
    moments.append((others + old * old_gpus + candidate * per_replica, old))  # the candidate is starting
    moments.append((others + old * old_gpus + candidate * per_replica, old + candidate))  # gated
    for step in plan_capacity["handoff"]:
        old = step["old"]
        moments.append((others + old * old_gpus + candidate * per_replica, old + candidate))
        moments.append((others + old * old_gpus + step["candidate"] * per_replica, old + candidate))
        candidate = step["candidate"]
        moments.append((others + old * old_gpus + candidate * per_replica, old + candidate))
    return candidate, moments


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(target=st.integers(1, 6), old_extra=st.integers(-1, 1), old_gpus=st.integers(1, 4),
       per_replica=st.integers(1, 4), others=st.integers(0, 4), slack=st.integers(-2, 6))
def test_shrink_then_grow_never_exceeds_the_quota_nor_drops_below_n_minus_1(target, old_extra, old_gpus, per_replica,
                                                                            others, slack):
    """Whatever the live deployment, the GPUs per replica and the quota: the plan either refuses, or is spare
    (the quota holds both), or, played step by step, never uses more GPUs than the quota, never has fewer than
    rollout_replicas - 1 ready replicas, ends with the candidate at rollout_replicas, and a rerun's plan from any
    point on the way (after the shrink, after the create, after each hand-over step) continues with the same steps
    (when the live deployment had at most rollout_replicas)."""
    old = max(1, target + old_extra)
    usage = others + old * old_gpus
    limit = max(usage, usage + slack)
    inputs = dict(name=NAME, model=NEW, gpu_type="gpua5000", gpu_count=per_replica, replicas=target,
                  capacity="shrink_then_grow", retire="delete")
    wanted = rollout.wanted_spec(inputs)
    live = dict(id="old", name=NAME, state="ready", gpu_type="gpua5000", gpu_count=old_gpus, replicas=old)
    try:
        found = rollout.capacity_plan(inputs, wanted, live, {}, dict(limit=limit, usage=usage))
    except rollout.Refused as exc:
        assert target < 2 or "below rollout_replicas - 1" in str(exc) or "hand-over" in str(exc), str(exc)
        return
    if found["mode"] == "spare":
        assert limit - usage >= target * per_replica
        return
    # A live deployment below rollout_replicas counts as one that a shrink made smaller (what a rerun finds).
    assert target >= 2 and limit - usage - max(0, target - old) * old_gpus < target * per_replica
    grown, moments = replay(found, old, old_gpus, per_replica, target, others, limit)
    assert grown == target, found
    assert all(used <= limit for used, dummy in moments), (found, moments)
    assert all(ready >= target - 1 for dummy, ready in moments), (found, moments)
    if old > target:
        return  # a rerun cannot tell the live one's size before the shrink from rollout_replicas: it starts afresh
    # A rerun after the shrink (and after the create) plans the same candidate size and hand-over.
    shrunk = dict(live, replicas=found["shrink_to"] if found["shrink_to"] is not None else old)
    again = rollout.capacity_plan(inputs, wanted, shrunk, {}, dict(limit=limit, usage=others + shrunk["replicas"] * old_gpus))
    assert (again["candidate_replicas"], again["handoff"]) == (found["candidate_replicas"], found["handoff"])
    candidate = dict(id="new", replicas=found["candidate_replicas"])
    held = others + shrunk["replicas"] * old_gpus + found["candidate_replicas"] * per_replica
    resumed = rollout.capacity_plan(inputs, wanted, shrunk, candidate, dict(limit=limit, usage=held))
    assert resumed["handoff"] == found["handoff"], (found, resumed)
    for index, step in enumerate(found["handoff"][:-1]):
        halfway = rollout.capacity_plan(inputs, wanted, dict(live, replicas=step["old"]), dict(candidate, replicas=step["candidate"]),
                                        dict(limit=limit, usage=others + step["old"] * old_gpus + step["candidate"] * per_replica))
        assert halfway["handoff"] == found["handoff"][index + 1:], (found, halfway)
