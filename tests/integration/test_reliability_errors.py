"""Permanent faults and bad inputs: each fails with a message that names the cause (field, HTTP status or
state, operation id) and what to do next; inputs that can be checked locally send no API request at all."""
import time
import uuid

from exoscale.api.v2 import Client

from tests.integration.reliability_report import QWEN, fault_body, private_deployments, record

DEP = "inferops.exoscale.ai_deployment"
MODEL = "inferops.exoscale.ai_model"
INFER = "inferops.exoscale.ai_inference"
MISSING_ID = str(uuid.UUID(int=12345))


def small(**options):
    spec = dict(name="bad", model=QWEN, gpu_type="gpua5000", gpu_count=1)
    spec.update(options)
    return {DEP: spec}


def role(name=QWEN, **role_vars):
    """The role, in a block whose rescue records the failure message as ``refused <label>``."""
    if name is not None:
        role_vars["serve_model_name"] = name
    return {"block": [{"name": "include", "ansible.builtin.include_role": {"name": "inferops.exoscale.serve_model"},
                       "vars": role_vars}],
            "rescue": [{"name": "refused", "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}}]}


# (label, task, expected substrings). Checked without any API request:
LOCAL = [
    ("gpu_count 0", small(gpu_count=0), ["gpu_count", "between 1 and 8", "got 0"]),
    ("gpu_count 9", small(gpu_count=9), ["gpu_count", "between 1 and 8", "got 9"]),
    ("negative replicas", small(replicas=-2), ["replicas", "0 or more", "-2"]),
    ("empty deployment name", small(name=""), ["name must not be empty"]),
    ("blank model", small(model="  "), ["model must not be empty"]),
    ("engine parameters not a list", small(inference_engine_parameters={"max-model-len": 4096}),
     ["inference_engine_parameters", "list"]),
    ("engine parameter without flag", small(inference_engine_parameters=["max-model-len=4096"]),
     ["inference_engine_parameters", "--max-model-len=4096"]),
    ("engine version not a version", small(inference_engine_version="latest"), ["inference_engine_version", "0.28.0", "latest"]),
    ("deployment wait_timeout 0", small(wait_timeout=0), ["wait_timeout", "positive"]),
    ("neither name nor id", {DEP: {"model": QWEN}}, ["name", "id", "required"]),
    ("recreate not a bool", small(recreate="maybe"), ["recreate", "bool"]),
    ("deployment state unknown", small(state="gone"), ["state", "present", "absent"]),
    ("malformed zone", {MODEL: {"name": QWEN, "zone": "Geneva"}}, ["zone", "Geneva", "ch-gva-2"]),
    ("malformed api_url", {MODEL: {"name": QWEN, "api_url": "ftp://example.com/v2"}}, ["api_url", "http(s)", "https://api-ch-gva-2.exoscale.com/v2"]),
    ("api_timeout 0", {"inferops.exoscale.ai_model_info": {"api_timeout": 0}}, ["api_timeout", "positive"]),
    ("empty model name", {MODEL: {"name": ""}}, ["name", "Hugging Face repository id", "Qwen/Qwen2.5-0.5B-Instruct"]),
    ("model wait_timeout -1", {MODEL: {"name": QWEN, "wait_timeout": -1}}, ["wait_timeout", "positive"]),
    ("model state unknown", {MODEL: {"name": QWEN, "state": "gone"}}, ["state", "present", "absent"]),
    ("log_lines -1", {"inferops.exoscale.ai_deployment_info": {"log_lines": -1}}, ["log_lines", "0 or more"]),
    ("visibility unknown", {"inferops.exoscale.ai_deployment_info": {"visibility": "mine"}}, ["visibility", "private", "public", "all"]),
    ("deployment and url", {INFER: {"deployment": "x", "url": "http://127.0.0.1:9/v1", "inference_api_key": "k", "prompt": "hi"}},
     ["mutually exclusive", "deployment", "url"]),
    ("prompt and messages", {INFER: {"deployment": "x", "prompt": "hi", "messages": [{"role": "user", "content": "hi"}]}},
     ["mutually exclusive", "prompt", "messages"]),
    ("message without role", {INFER: {"deployment": "x", "messages": [{"content": "hi"}]}},
     ["messages[0]", "role", "system, user or assistant"]),
    ("bad regex in expect", {INFER: {"deployment": "x", "prompt": "hi", "expect": "(unclosed"}},
     ["expect", "regular expression"]),
    ("max_tokens 0", {INFER: {"deployment": "x", "prompt": "hi", "max_tokens": 0}}, ["max_tokens", "at least 1"]),
    ("url not http", {INFER: {"url": "inference.example.com/v1", "inference_api_key": "k", "prompt": "hi"}},
     ["url", "http(s) URL"]),
    ("url without key", {INFER: {"url": "http://127.0.0.1:9/v1", "prompt": "hi"}}, ["url", "inference_api_key"]),
    ("negative retries", {INFER: {"deployment": "x", "prompt": "hi", "retries": -1}}, ["retries", "0 or more"]),
    ("inference timeout 0", {INFER: {"deployment": "x", "prompt": "hi", "timeout": 0}}, ["timeout", "positive"]),
    ("api_key without secret", {"inferops.exoscale.ai_model_info": {"api_key": "EXOabc", "api_secret": ""}},
     ["api_secret is set to an empty value", "EXOSCALE_API_SECRET"]),
    ("role gpu_count not a number", role(serve_model_gpu_count="many"), ["serve_model_gpu_count", "int"]),
    ("role state unknown", role(serve_model_state="gone"), ["serve_model_state", "present", "absent"]),
    ("role with an empty model name", role(name=""), ["name must be a Hugging Face repository id", "empty"]),
]
# Need lookups (GET) but must send no write:
REMOTE = [
    ("unknown GPU family", small(gpu_type="gpuh100"), ["gpu_type", "gpuh100", "gpu3080ti, gpua5000, gpurtx6000pro"]),
    ("unauthorized GPU family", small(gpu_type="gpu3"), ["gpu_type", "gpu3", "not authorized", "gpua5000"]),
    ("unknown engine flag", small(inference_engine_parameters=["--max-model-length=4096"]),
     ["inference_engine_parameters", "--max-model-length=4096", "known flags", "--max-model-len"]),
    ("unknown engine version", small(inference_engine_version="9.9.9"), ["inference_engine_version", "9.9.9", "0.28.0"]),
    ("replicas 0 on create", small(replicas=0), ["replicas", "at least 1", "scale to 0"]),
    ("deployment id that does not exist", small(id=MISSING_ID), [MISSING_ID, "name without id"]),
    ("model id that does not exist", {MODEL: {"id": MISSING_ID}}, [MISSING_ID, "name without id"]),
    ("model that does not exist", small(model="nobody/nothing"), ["model", "nobody/nothing", "ai_model"]),
    ("missing create options", {DEP: {"name": "new-one"}}, ["gpu_count", "gpu_type", "model"]),
    ("immutable change without recreate", small(name="existing", gpu_count=2),
     ["gpu_count", "1 -> 2", "recreate=true"]),
    ("ambiguous name", small(name="twin", replicas=2), ["2 deployments are named 'twin'", "set id"]),
    ("inference on a missing deployment", {INFER: {"deployment": "nothing-here", "prompt": "hi"}},
     ["nothing-here", "does not exist", "ai_deployment"]),
    ("role gpu_count 0", role(serve_model_gpu_count=0), ["gpu_count", "between 1 and 8"]),
    ("role unknown GPU family", role(serve_model_gpu_type="gpuh100", serve_model_deployment_name="role-bad"),
     ["gpu_type", "gpuh100", "gpua5000"]),
]


def failing(label, task):
    if "block" in task:
        return dict(task, name=label, rescue=[dict(task["rescue"][0], name="refused " + label)])
    return dict(task, name=label, ignore_errors=True)


def playbook_outcomes(run, cases):
    """``{label: (status, message)}`` of the cases a playbook ran (a role case: its rescue's message)."""
    outcomes = {}
    for label, task, dummy in cases:
        if "block" in task:
            refused = [r for r in run.records if r["task"] == "refused " + label]
            if refused:
                outcomes[label] = ("failed", refused[-1]["result"].get("msg", ""))
        elif [r for r in run.records if r["task"] == label]:
            outcomes[label] = (run.status(label), run.result(label).get("msg", ""))
    return outcomes


def in_process_outcomes(run_module, cases):
    """The module cases, run in process: argument checks are module logic (no playbook needed)."""
    outcomes = {}
    for label, task, dummy in cases:
        [(module, args)] = task.items()
        result = run_module(module, args)
        outcomes[label] = ("failed" if result.get("failed") else "changed" if result.get("changed") else "ok",
                           result.get("msg", ""))
    return outcomes


def check_messages(outcomes, cases):
    problems = []
    for label, dummy, words in cases:
        if label not in outcomes:
            problems.append("%s: did not run" % label)
            continue
        status, message = outcomes[label]
        if status != "failed":
            problems.append("%s: not refused (%s)" % (label, status))
            continue
        missing = [word for word in words if word not in message]
        if missing:
            problems.append("%s: %s not in %r" % (label, missing, message))
    return problems


def split_cases(cases):
    """(module cases, role cases): the role's own checks (argument_specs, its assert) need a real play."""
    return [c for c in cases if "block" not in c[1]], [c for c in cases if "block" in c[1]]


def test_bad_inputs_are_refused_clearly(play, sim, run_module):
    sim.control.config(speed=200)
    local_modules, local_roles = split_cases(LOCAL)
    remote_modules, remote_roles = split_cases(REMOTE)
    outcomes = in_process_outcomes(run_module, local_modules)
    local = play([failing(label, task) for label, task, dummy in local_roles])
    outcomes.update(playbook_outcomes(local, local_roles))
    local_requests = sim.control.requests(kind=None)
    setup = play([{"name": "model", MODEL: {"name": QWEN}},
                  dict(small(name="existing"), name="existing"),
                  dict(small(name="twin"), name="twin", register="twin")])
    assert setup.rc == 0, setup.output[-3000:]
    # A second twin that is ready: a copy its maker kept. One still starting, made seconds after the first, could be
    # a concurrent creator's copy, which the module waits out instead of refusing (resource.raced).
    client = Client(sim.key, sim.secret, url=sim.url)
    twin = client.wait(client.create_deployment(
        name="twin", model={"name": QWEN}, gpu_type="gpua5000", gpu_count=1, replicas=1)["id"], max_wait_time=60)
    deadline = time.monotonic() + 60
    while client.get_deployment(id=twin["reference"]["id"])["state"] != "ready":
        assert time.monotonic() < deadline, "the second twin did not get ready"
        time.sleep(0.1)
    before = sim.control.state()
    sim.control.clear_requests()
    outcomes.update(in_process_outcomes(run_module, remote_modules))
    remote = play([failing(label, task) for label, task, dummy in remote_roles])
    outcomes.update(playbook_outcomes(remote, remote_roles))
    remote_writes = [(r["method"], r["path"]) for r in sim.control.requests(kind=None) if r["method"] != "GET"]
    after = sim.control.state()
    problems = check_messages(outcomes, LOCAL + REMOTE)
    record("test_bad_inputs_are_refused_clearly", bad_inputs=len(LOCAL) + len(REMOTE))
    assert not problems, "\n".join(problems)
    assert local_requests == [], "locally detectable inputs sent requests: %s" % local_requests
    assert remote_writes == []
    assert sorted(d["id"] for d in private_deployments(after)) == sorted(d["id"] for d in private_deployments(before))


def test_permanent_faults_name_the_cause_and_the_next_step(sim, run_module):
    """Module logic, in process: the simulator's timings and faults set from the test between the cases."""
    sim.control.config(speed=100)
    assert not run_module(MODEL, {"name": QWEN}).get("failed")
    sim.control.inventory(gpurtx6000pro={"free": 0, "authorized": True})
    sim.control.fail_next_operation(count=1, reason="incorrect", message="the weights could not be fetched")

    def slow(speed):
        return lambda: sim.control.config(speed=speed)

    def arm(*faults):
        return lambda: [sim.control.inject(**fault_body(method, path, **fault)) for method, path, fault in faults]

    def break_doomed():
        doomed = [d for d in private_deployments(sim.control.state()) if d["name"] == "doomed"]
        sim.control.error_deployment(doomed[0]["id"], "CUDA out of memory while loading")

    # (label, task, expected words or None for a step that must succeed, before, after)
    cases = [
        ("operation failure", {MODEL: {"name": "Qwen/Qwen2.5-1.5B-Instruct"}},
         ["Operation", "state failure", "reason: incorrect", "the weights could not be fetched", "run the task again"]),
        ("wrong secret", {"inferops.exoscale.ai_model_info": {"api_secret": "wrong-secret-0123456789"}},
         ["HTTP 403", "/ai/model", "Check api_key and api_secret"]),
        ("wrong key", {"inferops.exoscale.ai_model_info": {"api_key": "EXOunknownkey00000000000000"}},
         ["HTTP 403", "Check api_key and api_secret"]),
        ("404", {"inferops.exoscale.ai_instance_type_info": {"zone": "ch-gva-2"}}, ["HTTP 404", "GET /ai/instance-type"],
         arm(("GET", "/v2/ai/instance-type", dict(status=404)))),
        ("insufficient GPUs", small(name="big", gpu_type="gpurtx6000pro"),
         ["HTTP 412", "gpurtx6000pro", "ai_instance_type_info"]),
        ("gated model without token", {MODEL: {"name": "meta-llama/Llama-3.1-8B-Instruct", "preflight_skip": ["huggingface"]}},
         ["state error", "gated", "huggingface_token", "recreate=true"]),
        ("unknown repository", {MODEL: {"name": "nobody/no-such-model", "preflight_skip": ["huggingface"]}},
         ["state error", "repository exists", "recreate=true"]),
        ("gated model refused before the create", {MODEL: {"name": "meta-llama/Llama-3.2-1B-Instruct"}},
         ["Hugging Face", "gated", "huggingface_token", "preflight_skip"]),
        ("unknown repository refused before the create", {MODEL: {"name": "nobody/another-missing-model"}},
         ["no model repository", "repository id", "preflight_skip"]),
        ("wait timeout", small(name="slow", wait_timeout=1), ["timed out", "waiting for", "Raise wait_timeout"],
         slow(1), slow(100)),
        ("deployment created without waiting", small(name="doomed", wait=False), None, None, break_doomed),
        ("deployment error during the wait", small(name="doomed"),
         ["state error", "CUDA out of memory while loading", "Last log lines", "recreate=true"]),
    ]
    outcomes, results = {}, {}
    for case in cases:
        label, task, words = case[:3]
        before, after = (tuple(case[3:]) + (None, None))[:2]
        if before:
            before()
        [(module, args)] = task.items()
        results[label] = result = run_module(module, args)
        outcomes[label] = ("failed" if result.get("failed") else "changed" if result.get("changed") else "ok",
                           result.get("msg", ""))
        if words is None:
            assert not result.get("failed"), (label, result)
        if after:
            after()
    checked = [case[:3] for case in cases if case[2] is not None]
    problems = check_messages(outcomes, checked)
    op_failure = results["operation failure"]
    if not op_failure.get("api_error", {}).get("operation_id") or op_failure["api_error"]["operation_id"] not in op_failure["msg"]:
        problems.append("operation failure: no operation id in %r" % op_failure)
    record("test_permanent_faults", permanent_faults=len(checked))
    assert not problems, "\n".join(problems)
