"""Property: a check run's verdict is the real run's, the run does what the plan said, and a refused plan writes nothing.

Each example draws a starting state and a task. The state is built through the simulator's API and its control API
(``/_sim/reset``, ``/_sim/config`` timings, ``/_sim/limits``, ``/_sim/models|deployments/<id>/error``): models
absent, ready, downloading or in error; deployments absent, ready, in error, creating or scaling; a GPU quota with
no room; models that are not uploaded, not on the Hub, without safetensors, or too large for the GPUs. The tasks are
the resource modules (``ai_model``, ``ai_deployment`` with engine parameters that are valid or that vLLM refuses and
with placement lists where some options cannot take it, ``ai_api_key``), a play of ``ai_model`` then
``ai_deployment`` (the model not uploaded yet), and ``ai_rollout_plan``, each run in process (tests/module_runner.py)
under the simulator's virtual clock (tests/property/role_harness.py's ``VirtualTime``).

For each example: the task in check mode, its verdict recorded (changed, failed, the message of a refusal, action,
plan); the state built again from scratch the same way; the task for real; then the same verdict, the run's writes
those of the plan's action (and the fields it wrote read back), and no write at all in the check run, nor in a
real run the plan refused. Ids of the seeded resources differ between the two builds and are compared by role.

Two outcomes are not the plan's to know, and the examples say so rather than skip them: an ai_deployment task alone
whose model is not uploaded (check mode warns that it predicts as if an earlier task uploaded it; the run refuses
before any write: asserted as such, and the play with that earlier task must agree), and how a download already
under way ends (a busy model start only with a model that downloads).

The seed is fixed (derandomize); PROPERTY_EXAMPLES sets the number of examples (default 200). The rollout role
itself is sampled at the end (test_the_role_does_what_its_plan_says): real ansible-playbook runs cost seconds each.

Why an earlier in-process draft hung on its first ai_model create: the simulator ran on ``VirtualTime``'s clock
but the modules' ``time.sleep`` was not patched (the clock was used outside the ``with VirtualTime()`` block), so
virtual time never moved: the create's operation stayed pending and ai_model polled it for its default
wait_timeout of 3600 real seconds. Here every module call runs inside the block, with a real-time wait_timeout
as a bound, and the test has a pytest timeout.
"""
import json
import os
import re
import time
import urllib.request

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings, strategies as st

from exoscale_ai_simulator import auth
from exoscale_ai_simulator.control import SimulatorControl
from exoscale_ai_simulator.server import start_in_thread
from tests.module_runner import run_module
from tests.property.role_harness import TIMINGS, VirtualTime

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
# PARITY_NO_SHRINK=1 reports the first failing example as generated (faster while investigating one).
PHASES = [Phase.explicit, Phase.generate] if os.environ.get("PARITY_NO_SHRINK") else list(Phase)
FAST = dict((name, 0.05) for name in TIMINGS)
WAIT_TIMEOUT = 60  # real seconds; a run takes well under one (virtual time): only a bound for a hang
ZONE = "ch-gva-2"
SMALL, MEDIUM, LARGE = "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct", "openai/gpt-oss-120b"
NOT_ON_HUB, GGUF = "Qwen/Qwen9-Nonexistent", "ggml-org/gpt-oss-20b-GGUF"
DEPLOYMENT = "parity"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ENGINE_PARAMETERS = {
    "none": None,
    "valid": ["--max-model-len=4096"],
    "max-num-seqs=abc": ["--max-num-seqs=abc"],
    "gpu-memory-utilization=1.5": ["--gpu-memory-utilization=1.5"],
    "max-model-len too large": ["--max-model-len=1048576"],
}
# Placement lists in order of preference; options that cannot take the deployment come first.
PLACEMENTS = {
    "unauthorized, then ok": [dict(zone=ZONE, gpu_type="gpu3", gpu_count=1), dict(zone=ZONE, gpu_type="gpua5000", gpu_count=1)],
    "not offered, no quota, then ok": [dict(zone="at-vie-1", gpu_type="gpu9000", gpu_count=1),
                                       dict(zone="de-fra-1", gpu_type="gpurtx6000pro", gpu_count=1),
                                       dict(zone=ZONE, gpu_type="gpua5000", gpu_count=1)],
    "too small, then ok": [dict(zone=ZONE, gpu_type="gpu3080ti", gpu_count=1), dict(zone=ZONE, gpu_type="gpua5000", gpu_count=2)],
    "none can": [dict(zone=ZONE, gpu_type="gpu3", gpu_count=1), dict(zone="de-fra-1", gpu_type="gpurtx6000pro", gpu_count=1)],
}
PLACEMENT_LIMITS = dict(gpurtx6000pro=0)  # the "no quota" option of the placement lists

MODEL_CASES = st.fixed_dictionaries(dict(
    task=st.just("ai_model"),
    start=st.sampled_from(["absent", "absent", "ready", "busy", "error"]),
    name=st.sampled_from([SMALL, SMALL, MEDIUM, LARGE, NOT_ON_HUB, GGUF]),
    fit=st.sampled_from([None, None, ("gpua5000", 1), ("gpu3080ti", 1), ("gpurtx6000pro", 1)]),
    state=st.sampled_from(["present", "present", "present", "absent"]),
    recreate=st.booleans(),
    wait=st.sampled_from([True, True, False]),
))
DEPLOYMENT_CASES = st.fixed_dictionaries(dict(
    task=st.just("ai_deployment"),
    start=st.sampled_from(["absent", "absent", "ready", "ready", "error", "creating", "scaling"]),
    model=st.sampled_from(["ready", "ready", "ready", "large", "missing"]),
    gpu=st.sampled_from([("gpua5000", 1)] * 4 + [("gpua5000", 2), ("gpu3080ti", 1)]),
    placement=st.sampled_from([None] * 6 + sorted(PLACEMENTS)),
    replicas=st.sampled_from([None, 1, 2]),
    parameters=st.sampled_from(["none", "none", "valid"] + sorted(k for k in ENGINE_PARAMETERS if k not in ("none", "valid"))),
    over_quota=st.sampled_from([False, False, False, True]),
    state=st.sampled_from(["present"] * 5 + ["absent"]),
    recreate=st.booleans(),
    wait=st.sampled_from([True, True, False]),
))
SCALE = dict(task="ai_deployment", start="ready", model="ready", gpu=("gpua5000", 1), placement=None, replicas=2,
             parameters="none", over_quota=False, state="present", recreate=False, wait=True)
PAIR_CASES = st.fixed_dictionaries(dict(
    task=st.just("ai_model+ai_deployment"),
    name=st.sampled_from([SMALL, MEDIUM, LARGE]),
    gpu=st.sampled_from([("gpua5000", 1), ("gpu3080ti", 1), ("gpurtx6000pro", 1)]),
    intended=st.booleans(),  # ai_model is given the deployment's gpu_type and gpu_count
    parameters=st.sampled_from(["none", "valid", "max-num-seqs=abc", "max-model-len too large"]),
    over_quota=st.sampled_from([False, False, False, True]),
))
API_KEY_CASES = st.fixed_dictionaries(dict(
    task=st.just("ai_api_key"),
    start=st.sampled_from(["absent", "public", "scoped"]),
    scope=st.sampled_from(["public", "deployment", "deployment id"]),
    state=st.sampled_from(["present", "present", "absent"]),
    recreate=st.booleans(),
))
ROLLOUT_CASES = st.fixed_dictionaries(dict(
    task=st.just("ai_rollout_plan"),
    live=st.sampled_from(["absent", "ready", "error"]),
    candidate=st.sampled_from(["absent", "absent", "creating", "ready"]),
    model=st.sampled_from([SMALL, MEDIUM]),
    replicas=st.sampled_from([1, 2]),
    in_place=st.booleans(),
    over_quota=st.sampled_from([False, False, True]),
    bad=st.sampled_from([None] * 6 + ["treshold", "regex", "gpu_count"]),
))
# ai_deployment has the most states and options: drawn twice as often as each of the others.
CASES = st.sampled_from([MODEL_CASES, DEPLOYMENT_CASES, DEPLOYMENT_CASES, PAIR_CASES, API_KEY_CASES, ROLLOUT_CASES]).flatmap(
    lambda cases: cases)


class SignedApi:
    """The simulator's API, signed with its own signer (not the collection's client): how the states are built."""

    def __init__(self, handle):
        self.base, self.key, self.secret = handle.base, handle.key, handle.secret
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        full = "/v2" + path
        header = auth.authorization_header(self.key, self.secret, method, full, data, "", int(time.time()) + 600)
        request = urllib.request.Request(self.base + full, data=data or None, method=method,
                                         headers={"Authorization": header, "Content-Type": "application/json"})
        with self.opener.open(request, timeout=10) as response:
            return json.loads(response.read())


class Parity:
    """One in-process simulator on a virtual clock; builds a starting state, runs a task, reads what it wrote."""

    def __init__(self, virtual_time):
        self.time = virtual_time
        self.epoch = virtual_time.now
        self.handle = start_in_thread(clock=virtual_time.clock)
        self.control = SimulatorControl(self.handle.url)
        self.api = SignedApi(self.handle)
        self.connection = dict(api_url=self.handle.url, api_key=self.handle.key, api_secret=self.handle.secret)
        self.roles = {}  # seeded id -> the role it plays in the case ("<model SMALL>"), the same in both builds

    # Building a state ----------------------------------------------------------------------

    def settle(self, seconds=600):
        """Let virtual time pass (the simulator's state machines move on)."""
        self.time.now += seconds

    def reset(self):
        """A fresh simulator at the same virtual instant: both builds of a case see the same timestamps."""
        self.time.now = self.epoch
        self.control.reset()
        self.control.config(timings=FAST)
        self.roles = {}

    def model(self, name, state="ready"):
        operation = self.api.call("POST", "/ai/model", {"name": name})
        model_id = operation["reference"]["id"]
        self.roles[model_id] = "<model %s>" % name
        if state != "busy":
            self.settle()
        if state == "error":
            self.control.error_model(model_id, "simulated download failure")
        return model_id

    def deployment(self, name, model_id, state="ready", gpu=("gpua5000", 1), replicas=1, parameters=()):
        operation = self.api.call("POST", "/ai/deployment", {
            "name": name, "model": {"id": model_id}, "gpu-type": gpu[0], "gpu-count": gpu[1], "replicas": replicas,
            "inference-engine-parameters": list(parameters)})
        deployment_id = operation["reference"]["id"]
        self.roles[deployment_id] = "<deployment %s>" % name
        if state != "creating":
            self.settle()
        if state == "error":
            self.control.error_deployment(deployment_id, "simulated engine failure")
        if state == "scaling":
            self.api.call("POST", "/ai/deployment/%s/scale" % deployment_id, {"replicas": replicas + 1})
        return deployment_id

    def no_room(self, family):
        """The organization's quota of ``family`` is exactly what it uses: any further GPU is refused."""
        used = sum(d["gpu-count"] * d["replicas"] for d in self.api.call("GET", "/ai/deployment").get("deployments", [])
                   if d.get("gpu-type") == family and d.get("visibility", "private") == "private")
        self.control.limits({family: used})

    # Running and observing -----------------------------------------------------------------

    def run(self, module, check, args):
        self.control.clear_requests()
        result = run_module(module, dict(self.connection, **args), check_mode=check,
                            env={"HF_ENDPOINT": self.handle.base + "/hf"}, collect=False)
        return result, self.writes()

    def writes(self):
        """The writes received: (method, path without its zone prefix, zone)."""
        return [(r["method"], self.anonymous(re.sub(r"^/[a-z]{2}-[a-z]{3}-[0-9]+/v2/", "/v2/", r["path"])), r["zone"])
                for r in self.control.requests() if r["method"] in WRITES]

    def anonymous(self, value):
        """``value`` (any JSON) with the seeded ids replaced by their roles."""
        text = json.dumps(value, sort_keys=True)
        for resource_id, role in self.roles.items():
            text = text.replace(resource_id, role)
        return json.loads(text)

    def stored(self, kind, resource_id, zone=ZONE):
        """The resource as the simulator holds it; ``resource_id`` may be a seeded one's role."""
        resource_id = next((seeded for seeded, role in self.roles.items() if role == resource_id), resource_id)
        store = self.handle.store
        with store.lock:
            found = store.zones[zone][kind].get(resource_id)
            return dict(found) if found else None


# The cases: each builds its start (the same every time it is called) and gives the task's module calls ---------

def build_model_case(parity, case):
    if case["start"] == "busy" and case["name"] in (NOT_ON_HUB, GGUF):
        # How a download already under way ends is not the plan's to say (the check predicts it ready): a busy
        # start only with a model that downloads.
        case = dict(case, start="error")
    if case["start"] != "absent":
        parity.model(case["name"], case["start"])
    args = dict(name=case["name"], state=case["state"], recreate=case["recreate"], wait=case["wait"],
                wait_timeout=WAIT_TIMEOUT)
    if case["fit"]:
        args.update(gpu_type=case["fit"][0], gpu_count=case["fit"][1])
    return [("ai_model", args)]


def build_deployment_case(parity, case):
    small = parity.model(SMALL)
    if case["model"] == "large":
        parity.model(LARGE)
    model = {"ready": SMALL, "large": LARGE, "missing": MEDIUM}[case["model"]]
    if case["start"] != "absent":
        parity.deployment(DEPLOYMENT, small, case["start"])
    if case["over_quota"]:
        parity.no_room("gpua5000")
    if case["placement"]:
        parity.control.limits(PLACEMENT_LIMITS)
    args = dict(name=DEPLOYMENT, model=model, replicas=case["replicas"], state=case["state"], recreate=case["recreate"],
                wait=case["wait"], wait_timeout=WAIT_TIMEOUT)
    if case["placement"]:
        args.update(placement=PLACEMENTS[case["placement"]], api_url=parity.handle.base + "/{zone}/v2")
    else:
        args.update(gpu_type=case["gpu"][0], gpu_count=case["gpu"][1])
    if ENGINE_PARAMETERS[case["parameters"]] is not None:
        args["inference_engine_parameters"] = ENGINE_PARAMETERS[case["parameters"]]
    return [("ai_deployment", dict((k, v) for k, v in args.items() if v is not None))]


def build_pair_case(parity, case):
    if case["over_quota"]:
        parity.no_room(case["gpu"][0])
    model = dict(name=case["name"], wait_timeout=WAIT_TIMEOUT)
    if case["intended"]:
        model.update(gpu_type=case["gpu"][0], gpu_count=case["gpu"][1])
        if ENGINE_PARAMETERS[case["parameters"]] is not None:
            model["inference_engine_parameters"] = ENGINE_PARAMETERS[case["parameters"]]
    deployment = dict(name=DEPLOYMENT, model=case["name"], gpu_type=case["gpu"][0], gpu_count=case["gpu"][1],
                      wait_timeout=WAIT_TIMEOUT)
    if ENGINE_PARAMETERS[case["parameters"]] is not None:
        deployment["inference_engine_parameters"] = ENGINE_PARAMETERS[case["parameters"]]
    return [("ai_model", model), ("ai_deployment", deployment)]


def build_api_key_case(parity, case):
    deployment = parity.deployment(DEPLOYMENT, parity.model(SMALL))
    if case["start"] != "absent":
        operation = parity.api.call("POST", "/ai/api-key", {"name": "parity-key",
                                                             "scope": "public" if case["start"] == "public" else deployment})
        parity.roles[operation["id"]] = "<api key>"
    scope = {"public": "public", "deployment": DEPLOYMENT, "deployment id": deployment}[case["scope"]]
    return [("ai_api_key", dict(name="parity-key", scope=scope, state=case["state"], recreate=case["recreate"]))]


def build_rollout_case(parity, case):
    from ansible_collections.inferops.exoscale.plugins.module_utils import rollout  # pylint: disable=import-outside-toplevel

    inputs = dict(name="chat", model=case["model"], gpu_type="gpua5000", gpu_count=1, replicas=case["replicas"],
                  in_place=case["in_place"], smoke_prompt="Say hello.", benchmark={}, smoke={}, wait_timeout=WAIT_TIMEOUT)
    inputs.update({None: {}, "treshold": dict(benchmark={"requests": 4, "treshold": {"error_rate_max": 0}}),
                   "regex": dict(smoke_expect="([a-z"), "gpu_count": dict(gpu_count=9)}[case["bad"]])
    models = dict((name, parity.model(name)) for name in (SMALL, MEDIUM))
    if case["live"] != "absent":
        parity.deployment("chat", models[SMALL], case["live"])
    if case["candidate"] != "absent" and case["bad"] is None:
        spec = rollout.wanted_spec(dict(inputs, engine_version="", engine_parameters=[]))
        parity.deployment("chat" + rollout.CANDIDATE + rollout.spec_hash(spec), models[case["model"]], case["candidate"],
                          replicas=case["replicas"])
    if case["over_quota"]:
        parity.no_room("gpua5000")
    return [("ai_rollout_plan", inputs)]


BUILDERS = {"ai_model": build_model_case, "ai_deployment": build_deployment_case, "ai_model+ai_deployment": build_pair_case,
            "ai_api_key": build_api_key_case, "ai_rollout_plan": build_rollout_case}

NODE = re.compile(r"\b(gpu[a-z0-9]*)-[0-9a-f]{8}-[0-9]+\b")  # a log line's node name: random in each build
PREDICTED_DEPENDENCY = "does not exist yet; the result is predicted as if an earlier task created it"


def verdict(parity, result):
    """What must be the same in check mode and in the run: changed, failed, the message of a failure, the action and
    the plan (the reasons, GPUs, quota, fit, placement, refusal; without the warnings, whose tense differs)."""
    plan = dict(result.get("plan") or {})
    plan.pop("warnings", None)
    found = dict(changed=result.get("changed"), failed=bool(result.get("failed")), action=result.get("action"), plan=plan)
    if result.get("failed"):
        found["msg"] = NODE.sub(r"\1-<node>", result.get("msg") or "")
    for key in ("mode", "steps", "candidate", "live", "retired", "lines"):  # ai_rollout_plan's plan
        if key in result:
            found[key] = result[key]
    return found


def play(parity, case, check):
    """Build the case's start from scratch and run its tasks; returns [(module, args, result, writes)] up to the first
    failure (a play stops there)."""
    parity.reset()
    tasks = BUILDERS[case["task"]](parity, case)
    outcomes = []
    for module, args in tasks:
        result, writes = parity.run(module, check, args)
        outcomes.append((module, parity.anonymous(args), parity.anonymous(result), writes))
        if result.get("failed"):
            break
    return outcomes


def expected_writes(module, plan, result):
    """The writes (method, path class) the plan's action stands for."""
    kind = {"ai_model": "model", "ai_deployment": "deployment", "ai_api_key": "api-key"}[module]
    action = plan["action"]
    create = [("POST", "/v2/ai/%s" % kind)]
    delete = [("DELETE", "/v2/ai/%s/{id}" % kind)]
    if action == "create":
        return create
    if action == "delete":
        return delete
    if action == "replace":
        return delete + create
    if action == "update":
        steps = [("PATCH", "/v2/ai/%s/{id}" % kind)]
        return steps + ([("POST", "/v2/ai/%s/{id}/scale" % kind)] if any(r["field"] == "replicas" for r in plan["reasons"])
                        else [])
    if action == "scale":
        return [("POST", "/v2/ai/%s/{id}/scale" % kind)]
    return []


def path_class(path):
    """``/v2/ai/deployment/<uuid>/scale`` and ``/v2/ai/deployment/<deployment parity>/scale`` -> ``.../{id}/scale``."""
    return re.sub(r"/(<[^>]+>|[0-9a-f]{8}-[0-9a-f-]{27})(?=/|$)", "/{id}", path)


def check_the_run_did_what_the_plan_said(parity, module, args, result, writes):
    plan = result["plan"]
    assert [(method, path_class(path)) for method, path, dummy in writes] == expected_writes(module, plan, result), (
        plan, writes)
    chosen = (plan.get("placement") or {}).get("chosen")
    if chosen and writes:
        assert {zone for dummy, dummy_path, zone in writes} == {chosen["zone"]}, (plan, writes)
    if module != "ai_deployment" or plan["action"] in ("none", "delete"):
        return
    written = parity.stored("deployments", result["deployment"]["id"], chosen["zone"] if chosen else ZONE)
    assert written is not None, result
    if plan["action"] in ("create", "replace"):
        chosen = chosen or dict(gpu_type=args.get("gpu_type"), gpu_count=args.get("gpu_count"))
        assert (written["gpu-type"], written["gpu-count"]) == (chosen["gpu_type"], chosen["gpu_count"]), (plan, written)
        assert written["model"]["name"] == args["model"], written
    if "replicas" in [r["field"] for r in plan["reasons"]] or plan["action"] in ("create", "replace"):
        assert written["replicas"] == (args.get("replicas") or 1) or plan["action"] == "none", (plan, written)
    for reason in plan["reasons"]:
        if reason["field"] == "inference_engine_parameters":
            assert written["inference-engine-parameters"] == reason["new"], (plan, written)


@pytest.fixture(scope="module", name="parity")
def parity_fixture():
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith(("EXOSCALE_", "HF_"))}
    with VirtualTime() as virtual_time:
        running = Parity(virtual_time)
        try:
            yield running
        finally:
            running.handle.stop()
            os.environ.update(saved)


@pytest.mark.timeout(600)
def test_check_verdict_is_the_run_verdict(parity):
    seen = {}
    started = time.monotonic()

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, phases=PHASES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(case=CASES)
    @example(case=dict(SCALE, over_quota=False))  # a scale (rare among the drawn examples), with and without room
    @example(case=dict(SCALE, over_quota=True))
    def holds(case):
        checked = play(parity, case, check=True)
        executed = play(parity, case, check=False)
        assert [m for m, *dummy in checked] == [m for m, *dummy in executed], (case, checked, executed)
        for (module, args, check, check_writes), (dummy, dummy_args, run, run_writes) in zip(checked, executed):
            assert check_writes == [], (case, module, check_writes)
            if case["task"] == "ai_deployment" and any(PREDICTED_DEPENDENCY in warning for warning in (check.get("plan") or {}).get("warnings", [])):
                # A task alone, whose model is not uploaded: check mode, which cannot tell whether an earlier task
                # of the play uploads it, says so and predicts that; the run refuses before any write. The play
                # with that earlier task is the ai_model+ai_deployment case, where the verdicts must agree.
                assert run.get("failed") and "create it first" in run["plan"]["refusal"], (case, run)
                assert run_writes == [], (case, run_writes)
                seen["predicted dependency"] = seen.get("predicted dependency", 0) + 1
                return
            assert verdict(parity, check) == verdict(parity, run), (case, module, check, run)
            if run.get("failed"):
                # The same verdict: the check failed too, so the plan was refused (or the resource is failed and
                # recreate is not set): nothing may be written.
                assert run_writes == [], (case, module, run, run_writes)
            elif module != "ai_rollout_plan":
                check_the_run_did_what_the_plan_said(parity, module, args, run, run_writes)
            else:
                assert run_writes == [], (case, run_writes)
        last = executed[-1][2]
        outcome = "refused" if (last.get("plan") or {}).get("refusal") else "failed" if last.get("failed") else (
            last.get("action") or last.get("mode") or "ok")
        key = "%s %s" % (case["task"], outcome)
        seen[key] = seen.get(key, 0) + 1

    holds()  # pylint: disable=no-value-for-parameter
    print("\nplan parity: %d examples in %.1f s: %s" % (sum(seen.values()), time.monotonic() - started,
                                                        json.dumps(seen, sort_keys=True)))
    if EXAMPLES >= 200:  # the examples reach the outcomes that matter (fewer examples, as while investigating, may not)
        assert set(seen) >= {"ai_model create", "ai_model refused", "ai_deployment create", "ai_deployment refused",
                             "ai_deployment update", "ai_deployment scale", "ai_deployment replace", "ai_deployment delete", "ai_api_key create",
                             "ai_api_key replace", "ai_model+ai_deployment create", "ai_model+ai_deployment refused",
                             "ai_rollout_plan blue_green", "predicted dependency"}, seen


# The rollout role against its plan: a small fixed list, each a role run in --check and for real ------------------
# An ansible-playbook run of the role costs 10-50 s here (its waits poll in real time): 200 of them would not fit
# the property step, so the plan is in the 200 examples above (ai_rollout_plan in check mode and not) and the role
# is sampled here. A rollout that switches costs about 50 s a run; it is compared check against run, with the plan's
# steps, in tests/integration/test_role_rollout_plan.py (test_check_mode_plan_is_the_plan_the_run_executes).
# ROLE_STARTS=all adds those starts here.
ROLE_STARTS = {
    "new model, quota without room": dict(live=SMALL, model=MEDIUM, room=False),
    "unchanged": dict(live=SMALL, model=SMALL, room=True),
}
if os.environ.get("ROLE_STARTS") == "all":
    ROLE_STARTS.update({"first rollout": dict(live=None, model=SMALL, room=True),
                        "new model": dict(live=SMALL, model=MEDIUM, room=True)})


def seed_role_start(sim, start):
    """The role's starting state through the API and the control API of the session's simulator (real time)."""
    api = SignedApi(sim)
    sim.control.config(timings=FAST)

    def ready(kind, operation):
        resource_id = operation["reference"]["id"]
        deadline = time.monotonic() + 30
        while api.call("GET", "/ai/%s/%s" % (kind, resource_id)).get("state") != "ready":
            assert time.monotonic() < deadline, "%s %s did not become ready" % (kind, resource_id)
            time.sleep(0.05)
        return resource_id

    model_id = ready("model", api.call("POST", "/ai/model", {"name": start["live"] or start["model"]}))
    if start["live"]:
        ready("deployment", api.call("POST", "/ai/deployment", {"name": "chat", "model": {"id": model_id},
                                                                 "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1}))
    if not start["room"]:
        sim.control.limits(gpua5000=1)  # the live deployment holds it
    sim.control.clear_requests()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("start", sorted(ROLE_STARTS))
def test_the_role_does_what_its_plan_says(sim, tmp_path, start):
    from tests.integration.conftest import run_playbook, simulator_env  # pylint: disable=import-outside-toplevel
    from tests.integration.test_role_rollout import SWITCH_TASKS  # pylint: disable=import-outside-toplevel

    seed_role_start(sim, ROLE_STARTS[start])
    model = ROLE_STARTS[start]["model"]
    plan = run_module("ai_rollout_plan", dict(name="chat", model=model, gpu_type="gpua5000", api_url=sim.url,
                                              api_key=sim.key, api_secret=sim.secret), collect=False)
    assert not plan.get("failed"), plan.get("msg")
    assert sim.control.requests() and [r for r in sim.control.requests() if r["method"] in WRITES] == []
    (tmp_path / "switch.yml").write_text(SWITCH_TASKS)
    role = {"name": "rollout", "ansible.builtin.include_role": {"name": "inferops.exoscale.rollout"},
            "vars": dict(rollout_name="chat", rollout_model=model, rollout_smoke_retry_delay=0.2,
                         rollout_switch_tasks="{{ playbook_dir }}/switch.yml")}
    tasks = [role, {"name": "result", "ansible.builtin.debug": {"var": "rollout_result"}}]
    runs = []
    for args in (("--check",), ()):
        sim.control.clear_requests()
        run = run_playbook(tmp_path, tasks, args=args, env=simulator_env(sim))
        result = [r["result"].get("rollout_result") for r in run.records if r["task"] == "result"]
        failed = [r["result"].get("msg") for r in run.records if r["status"] == "failed"]
        runs.append(dict(rc=run.rc, outcome=(result[-1] or {}).get("outcome") if result else None,
                         failure=failed[-1] if failed else None,
                         writes=[(r["method"], r["path"]) for r in sim.control.requests() if r["method"] in WRITES],
                         output=run.output[-3000:]))
    check, real = runs
    assert check["writes"] == [], check
    assert (check["rc"] == 0, check["failure"]) == (real["rc"] == 0, real["failure"]), (check, real)
    if not ROLE_STARTS[start]["room"]:
        # The plan creates a candidate next to the live deployment; the quota has no room: refused alike, no write.
        assert "create" in plan["steps"] and real["rc"] != 0 and "GPU quota" in real["failure"], (plan, real)
        assert real["writes"] == [], real
        return
    assert real["rc"] == 0, real
    predicted = "unchanged" if plan["steps"] == ["gate"] else "switched"
    assert check["outcome"] == real["outcome"] == predicted, (plan["steps"], check, real)
    created = [w for w in real["writes"] if w == ("POST", "/v2/ai/deployment")]
    assert bool(created) == ("create" in plan["steps"]), (plan["steps"], real["writes"])
    if predicted == "unchanged":
        assert real["writes"] == [], real
