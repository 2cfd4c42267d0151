"""Transient-fault matrix: every mutating step of every module survives 429/5xx, dropped connections, read
timeouts and 409, ends in the right state, and never leaves a duplicate or loses an update.

The matrix checks the modules' retry logic, so its steps run the modules in this process (``run_module``: their
real ``main()``, milliseconds instead of an ansible-playbook run's seconds): each step is ``arm the fault on the
simulator`` -> ``module`` -> (after a failure) a rerun. The adopted lost-answer creates below keep a real
``ansible-playbook`` run, as does tests/property (fault sequences through the role's own task list). A 500 is not
transient by the client's policy (only 429/502/503/504, dropped connections and timeouts are): there the step must
fail clearly (HTTP 500, the request) without leaving anything half done, and a rerun must converge.
"""
import pytest

from tests.integration.reliability_report import (
    QWEN, fault_env, models, private_deployments, record, with_faults,
)

# label -> (fault fields, module options for this fault)
FAULTS = {
    "429": (dict(status=429), {}),
    "429-retry-after": (dict(status=429, retry_after=1), {}),
    "500": (dict(status=500), {}),
    "502": (dict(status=502), {}),
    "503": (dict(status=503), {}),
    "504": (dict(status=504), {"api_timeout": 1}),  # a timed-out create is looked for 2 x api_timeout
    "drop": (dict(action="drop"), {}),
    "timeout": (dict(action="delay", delay=2), {"api_timeout": 1}),
    "409": (dict(status=409, body={"type": "about:blank", "title": "Conflict", "status": 409,
                                   "detail": "another operation is in progress, retry later"}), {}),
}
CONFLICT_STEPS = ("patch", "scale", "delete")  # 409 "operation in progress" only makes sense there


class Matrix:
    """Runs the steps in order, each module call right after its faults are armed; remembers which step met which
    faults and what each call returned."""

    def __init__(self, sim, run_module):
        self.sim = sim
        self.run_module = run_module
        self.results = {}  # step or rerun name -> module result
        self.steps = []  # (label, step name, [(method, path)], rerun step name or None)

    def call(self, name, task):
        module, args = next(iter(task.items()))
        self.results[name] = self.run_module(module, args)

    def step(self, label, fault, faults_at, task, rerun=False):
        fields, options = FAULTS[fault]
        name = "%s [%s]" % (label, fault)
        module, args = next(iter(task.items()))
        args = dict(args)
        for option, value in options.items():
            args.setdefault("timeout" if module.endswith("ai_inference") else option, value)
        for method, path in faults_at:
            self.sim.control.inject(method, path, **dict(fields))
        self.call(name, {module: args})
        rerun_name = None
        if rerun and self.status(name) == "failed":
            rerun_name = "rerun " + name
            self.call(rerun_name, task)
        self.steps.append((label, name, faults_at, rerun_name))

    def status(self, name):
        result = self.results[name]
        return "failed" if result.get("failed") else "changed" if result.get("changed") else "ok"

    def result(self, name):
        return self.results[name]


def deployment(name, **options):
    spec = dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1)
    spec.update(options)
    return {"inferops.exoscale.ai_deployment": spec}


def deployment_steps(matrix, fault):
    """create (+ readiness poll), PATCH (+ operation poll), scale, API-key reveal + inference, delete."""
    name = "rel-%s" % fault
    definitive = fault != "500"
    if fault != "409":
        create_faults = [("POST", "/v2/ai/deployment")]
        if definitive:  # the first GET of the deployment by id during a create is the readiness poll
            create_faults.append(("GET", "/v2/ai/deployment/*"))
        matrix.step("create deployment", fault, create_faults, deployment(name), rerun=not definitive)
    else:
        matrix.call("create %s" % name, deployment(name))
    patch_faults = [("PATCH", "/v2/ai/deployment/*")] + ([("GET", "/v2/operation/*")] if fault != "409" and definitive else [])
    matrix.step("patch deployment", fault, patch_faults,
                deployment(name, inference_engine_parameters=["--max-model-len=4096"]), rerun=not definitive)
    matrix.step("scale deployment", fault, [("POST", "/v2/ai/deployment/*/scale")], deployment(name, replicas=2),
                rerun=not definitive)
    inference = {"inferops.exoscale.ai_inference": {"deployment": name, "prompt": "ping", "retry_delay": 0.2}}
    if fault != "409" and definitive:
        matrix.step("reveal key and infer", fault,
                    [("GET", "/v2/ai/deployment/*/api-key"), ("POST", "/inference/*/chat/completions")], inference)
    elif fault != "409":
        matrix.step("reveal key", fault, [("GET", "/v2/ai/deployment/*/api-key")], inference, rerun=True)
        matrix.step("infer", fault, [("POST", "/inference/*/chat/completions")], inference, rerun=True)
    matrix.step("delete deployment", fault, [("DELETE", "/v2/ai/deployment/*")],
                deployment(name, state="absent"), rerun=not definitive)


def model_steps(matrix, fault):
    """create (+ readiness poll), delete; the model is the small Qwen, created and deleted once per fault."""
    if fault == "409":
        return
    definitive = fault != "500"
    model = {"inferops.exoscale.ai_model": {"name": "Qwen/Qwen2.5-1.5B-Instruct"}}
    absent = {"inferops.exoscale.ai_model": {"name": "Qwen/Qwen2.5-1.5B-Instruct", "state": "absent"}}
    create_faults = [("POST", "/v2/ai/model")] + ([("GET", "/v2/ai/model/*")] if definitive else [])
    matrix.step("create model", fault, create_faults, model, rerun=not definitive)
    matrix.step("delete model", fault, [("DELETE", "/v2/ai/model/*")], absent, rerun=not definitive)
    if not definitive:  # a 500 while polling readiness: clear failure, rerun converges
        matrix.step("model readiness", fault, [("GET", "/v2/ai/model/*")], model, rerun=True)
        matrix.step("delete model again", fault, [("DELETE", "/v2/ai/model/*")], absent, rerun=True)


GROUPS = {
    "throttling": ["429", "429-retry-after", "409"],
    "gateway": ["502", "503", "504"],
    "connection": ["drop", "timeout"],
    "server-error": ["500"],
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_transient_fault_matrix(run_module, sim, group):
    sim.control.config(speed=200)
    matrix = Matrix(sim, run_module)
    matrix.call("base model", {"inferops.exoscale.ai_model": {"name": QWEN}})
    for fault in GROUPS[group]:
        deployment_steps(matrix, fault)
        model_steps(matrix, fault)
    run = matrix
    requests = sim.control.requests(kind=None)
    state = sim.control.state()
    leftovers = sim.control.faults()

    injected = survived = failed_clearly = 0
    problems = []
    ids = {}  # the deployment of each fault cycle must keep one id from create to delete
    for label, name, faults_at, rerun in matrix.steps:
        injected += len(faults_at)
        result = run.result(name)
        if rerun:
            # 500 = permanent by policy: a clear failure naming the status and the request, then a rerun converges
            message = result["msg"]
            if not ("HTTP 500" in message and "injected fault" in message and "/" in message.split(":")[0]):
                problems.append("%s: unclear failure %r" % (name, message))
            elif run.status(rerun) not in ("ok", "changed"):
                problems.append("%s: rerun failed: %s" % (name, run.result(rerun).get("msg")))
            else:
                failed_clearly += len(faults_at)
            result = run.result(rerun)
        elif run.status(name) not in ("ok", "changed"):
            problems.append("%s: failed: %s" % (name, result.get("msg")))
            continue
        else:
            survived += len(faults_at)
        fault = name.rsplit("[", 1)[1].rstrip("]")
        dep = result.get("deployment")
        if label.endswith("deployment") and dep:
            ids.setdefault(fault, dep["id"])
            if dep["id"] != ids[fault]:
                problems.append("%s: deployment id changed %s -> %s" % (name, ids[fault], dep["id"]))
            if label in ("patch deployment", "scale deployment") and \
                    dep.get("inference_engine_parameters") != ["--max-model-len=4096"]:
                problems.append("%s: lost update: parameters %s" % (name, dep.get("inference_engine_parameters")))
            if label == "scale deployment" and dep.get("replicas") != 2:
                problems.append("%s: lost update: replicas %s" % (name, dep.get("replicas")))
        if label.startswith(("reveal", "infer")) and not result.get("content"):
            problems.append("%s: no answer" % name)

    # No duplicate was ever created: each create request the server processed (200) made the one resource
    # of its cycle, and nothing is left after the deletes.
    created = dict((path, len([r for r in requests if r["method"] == "POST" and r["path"] == path and r["status"] == 200]))
                   for path in ("/v2/ai/deployment", "/v2/ai/model"))
    model_cycles = sum(1 for label, dummy, dummy, dummy in matrix.steps if label in ("create model", "model readiness"))
    duplicates = max(0, created["/v2/ai/deployment"] - len(GROUPS[group])) + max(0, created["/v2/ai/model"] - 1 - model_cycles)
    record("test_transient_fault_matrix[%s]" % group, faults_injected=injected, faults_survived=survived,
           faults_failed_clearly=failed_clearly, duplicates_found=duplicates)
    assert not problems, "\n".join(problems)
    assert duplicates == 0, created
    assert leftovers == [], "faults never reached: %s" % leftovers
    assert private_deployments(state) == [] and models(state, "Qwen/Qwen2.5-1.5B-Instruct") == []
    assert failed_clearly == 0 or group == "server-error"


@pytest.mark.parametrize("resource", ["model", "deployment"])
def test_create_whose_answer_is_lost_after_the_server_created_it(play, sim, resource):
    """drop_after: the server creates, then closes the connection; the module must adopt it, not create twice."""
    sim.control.config(speed=200)
    tasks = []
    if resource == "model":
        path, task = "/v2/ai/model", {"inferops.exoscale.ai_model": {"name": "Qwen/Qwen2.5-1.5B-Instruct"}}
    else:
        path, task = "/v2/ai/deployment", deployment("lost-answer")
        tasks.append({"name": "base model", "inferops.exoscale.ai_model": {"name": QWEN}})
    tasks += [with_faults(sim, dict(task, name="create"), [("POST", path, dict(action="drop_after"))]),
              dict(task, name="create again")]
    run = play(tasks, env=fault_env())
    assert run.rc == 0, run.output[-4000:]
    assert run.status("create") == "changed" and run.status("create again") == "ok"
    state = sim.control.state()
    found = models(state, "Qwen/Qwen2.5-1.5B-Instruct") if resource == "model" else private_deployments(state, "lost-answer")
    posts = [r for r in sim.control.requests() if r["method"] == "POST" and r["path"] == path]
    record("test_create_whose_answer_is_lost[%s]" % resource, faults_injected=1,
           faults_survived=1 if len(found) == 1 else 0, duplicates_found=max(0, len(found) - 1))
    assert len(found) == 1, found
    assert len(posts) == 1 and posts[0]["status"] == 200  # processed once, never sent again
    assert found[0]["id"] == run.result("create")[resource]["id"]
