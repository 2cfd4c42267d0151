"""Diagnosis: a deployment that fails for each cause says why and what to change, in the message and the
``diagnosis`` result (check mode too); a model in error gets its cause from the Hub check. The cause matrix and the
timeout run in process; playbooks where templating (the suggested length, a token from the environment) or the
progress output is the point."""
import json

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN3 = "Qwen/Qwen3-8B"
GATED = "meta-llama/Llama-3.2-1B-Instruct"
GGUF = "ggml-org/gpt-oss-20b-GGUF"

# simulator cause -> (collection cause, words the fix must contain)
FORCED = {
    "out_of_memory": ("oom", ["raise gpu_count (now 1", "gpua5000"]),
    "kv_cache": ("kv_cache", ["--max-model-len=", "--gpu-memory-utilization"]),
    "unsupported_architecture": ("unsupported_architecture", ["inference_engine_version"]),
    "unknown_argument": ("engine_argument", ["Remove --foo from inference_engine_parameters"]),
    "invalid_argument": ("engine_argument", ["Correct the value of --max-model-len"]),
    "gated": ("gated", ["huggingface_token", "recreate=true"]),
    "no_safetensors": ("no_safetensors", ["safetensors"]),
}


def hub_env(sim):
    return {"HF_ENDPOINT": sim.base + "/hf"}


def deploy(task, name, check=False, **options):
    spec = dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1, preflight_skip=["fit"])
    spec.update(options)
    entry = {"name": task, "inferops.exoscale.ai_deployment": spec, "ignore_errors": True}
    if check:
        entry["check_mode"] = True
    return entry


def upload(run_module, name=QWEN):
    assert not run_module("ai_model", {"name": name}).get("failed")


def test_each_forced_cause_is_diagnosed_with_its_fix_in_check_mode_too(sim, run_module):
    for cause in FORCED:
        sim.control.force_failure(cause, deployment=cause.replace("_", "-"))
    upload(run_module)
    results = {}
    for check_mode, prefix in ((False, "create"), (True, "again")):
        for cause in FORCED:
            results["%s %s" % (prefix, cause)] = run_module(
                "ai_deployment", deploy("", cause.replace("_", "-"))["inferops.exoscale.ai_deployment"],
                check_mode=check_mode)
    for cause, (diagnosed, words) in FORCED.items():
        for label in ("create %s" % cause, "again %s" % cause):
            result = results[label]
            assert result.get("failed"), (label, result)
            found = result.get("diagnosis")
            assert found and found["cause"] == diagnosed, (label, found, result["msg"])
            assert found["evidence"] and all(line.strip() for line in found["evidence"])
            for word in words:
                assert word in found["fix"], (label, word, found["fix"])
            assert "Cause (%s)" % diagnosed in result["msg"] and "Fix: " in result["msg"], result["msg"]
            assert "recreate=true" in result["msg"] and result["deployment"]["state"] == "error"


def test_kv_cache_failure_from_the_memory_model_quotes_the_length_that_fits(play, sim, run_module):
    """Qwen3-8B on one A5000 with its full 40960-token context: preflight warns, vLLM fails, the diagnosis quotes
    vLLM's own estimate, and the suggested length deploys."""
    upload(run_module, QWEN3)
    run = play([dict(deploy("full context", "qwen3", model=QWEN3, preflight_skip=[]), register="full_context"),
                {"name": "use the suggested length", "inferops.exoscale.ai_deployment": {
                    "name": "qwen3", "recreate": True,
                    "inference_engine_parameters": ["--max-model-len={{ full_context.diagnosis.max_model_len }}"]}}],
               env=hub_env(sim))
    result = run.result("full context")
    assert run.status("full context") == "failed", result
    assert any("--max-model-len=33172" in warning for warning in result.get("warnings", [])), result
    found = result["diagnosis"]
    assert found["cause"] == "kv_cache" and found["max_model_len"] == 33168, found
    assert "max seq len (40960 tokens)" in found["summary"] and "add --max-model-len=33168" in found["fix"]
    assert any("estimated maximum model length is 33168" in line for line in found["evidence"])
    fixed = run.result("use the suggested length")
    assert run.status("use the suggested length") == "changed", fixed
    assert fixed["deployment"]["state"] == "ready"
    assert fixed["deployment"]["inference_engine_parameters"] == ["--max-model-len=33168"]


def test_model_errors_get_their_cause_from_the_hub(play, sim):
    """With the Hub check skipped the create goes through and the download fails; the failure names the cause."""
    skip = {"preflight_skip": ["huggingface"]}
    cases = {"missing": ("nobody/no-such-model", {}, "not_found", "exact Hugging Face repository id"),
             "gated": (GATED, {"huggingface_token": "{{ lookup('ansible.builtin.env', 'T_TOKEN') }}"}, "gated",
                       "Accept the licence"),
             "gguf": (GGUF, {}, "no_safetensors", "safetensors")}
    tasks = [{"name": label, "inferops.exoscale.ai_model": dict(name=repo, **dict(skip, **extra)), "ignore_errors": True}
             for label, (repo, extra, dummy, dummy2) in cases.items()]
    tasks += [{"name": "%s again" % label, "check_mode": True, "ignore_errors": True,
               "inferops.exoscale.ai_model": dict(name=repo, **extra)} for label, (repo, extra, dummy, dummy2) in cases.items()]
    # The token comes from the environment, as in a real job (Ansible itself shows a failed task's source lines).
    run = play(tasks, env=dict(hub_env(sim), T_TOKEN="hf_noaccess_0123456789"))
    for label, (repo, dummy, cause, words) in cases.items():
        for task in (label, "%s again" % label):
            result = run.result(task)
            assert run.status(task) == "failed", (task, result)
            assert result["model"]["state"] == "error", (task, result)
            assert result["diagnosis"]["cause"] == cause and words in result["diagnosis"]["fix"], (task, result)
            assert "Cause (%s)" % cause in result["msg"] and repo in result["msg"]
            assert "hf_noaccess_0123456789" not in json.dumps(result)
    assert "hf_noaccess_0123456789" not in run.output


def test_a_wait_that_times_out_returns_the_diagnosis_of_the_log_tail(sim, run_module):
    upload(run_module)
    sim.control.config(speed=1)  # about a minute to ready: a 4 s wait times out while it deploys
    result = run_module("ai_deployment", deploy("slow", "slow", wait_timeout=4)["inferops.exoscale.ai_deployment"])
    assert result.get("failed"), result
    assert "Raise wait_timeout" in result["msg"]
    found = result["diagnosis"]
    assert found["cause"] == "unknown" and found["evidence"], found  # still starting: the last lines, no cause
    assert any("accepted" in line or "Pulling" in line or "vLLM" in line for line in found["evidence"]), found


def test_the_root_cause_is_quoted_once_and_utilization_is_an_engine_argument(play, sim, run_module):
    """A failed start-up: vLLM's root-cause line once in the message and once in the evidence, the progress line
    short; --gpu-memory-utilization out of range is an engine argument; an unsupported architecture on the newest
    engine version is not told to try a newer one."""
    sim.control.force_failure("out_of_memory", deployment="oom")
    sim.control.force_failure("unsupported_architecture", deployment="arch")
    sim.control.force_failure("unsupported_architecture", deployment="arch-old")
    upload(run_module)
    run = play([deploy("oom", "oom"),
                deploy("utilization", "utilization", preflight_skip=["fit", "engine_parameters"],
                       inference_engine_parameters=["--gpu-memory-utilization=1.5"]),
                deploy("arch", "arch"),
                deploy("arch old", "arch-old", inference_engine_version="0.20.0", preflight_skip=["fit"])],
               env=hub_env(sim))
    oom = run.result("oom")
    root = oom["deployment"]["state_details"]
    assert root.startswith("torch.OutOfMemoryError: CUDA out of memory") and oom["diagnosis"]["cause"] == "oom"
    assert oom["msg"].count(root) == 1, oom["msg"]
    assert len([line for line in oom["diagnosis"]["evidence"] if "CUDA out of memory. Tried" in line]) == 1
    progress = [line for line in run.stdout.splitlines() if line.startswith("ai_deployment oom:")]
    assert progress and all(root not in line and len(line) < 200 for line in progress), progress

    utilization = run.result("utilization")["diagnosis"]
    assert utilization["cause"] == "engine_argument", utilization
    assert "--gpu-memory-utilization=1.5" in utilization["summary"] and "at most 1" in utilization["fix"]
    assert any("Input should be less than or equal to 1" in line for line in utilization["evidence"]), utilization

    arch = run.result("arch")["diagnosis"]
    assert arch["cause"] == "unsupported_architecture" and "newer" not in arch["fix"], arch
    assert "0.28.0 is already the newest" in arch["fix"]
    old = run.result("arch old")["diagnosis"]
    assert old["cause"] == "unsupported_architecture" and "newer vLLM version (up to 0.28.0" in old["fix"], old
