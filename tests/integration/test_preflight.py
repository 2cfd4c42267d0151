"""Preflight checks: each check refuses (in check mode too) before any write, with its numbers; preflight_skip
lets it through; the request budget of preflight per create, scale and converged run.

The refusals of issue 20 run as real playbooks (several refused tasks per run, in check mode and for real, each
result asserted by task name, no write in the whole run); the request counts and the per-task request logs are
module logic, checked in process (``run_module``); the starting states (models, a deployment) are built in process.
"""
import json
import os
import re
from tests.integration.conftest import warnings_of

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN3 = "Qwen/Qwen3-8B"
GPT_OSS = "openai/gpt-oss-20b"
GATED = "meta-llama/Llama-3.2-1B-Instruct"
GGUF = "ggml-org/gpt-oss-20b-GGUF"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def deployment(task, name, check=False, **options):
    spec = dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1)
    spec.update(options)
    entry = {"name": task, "inferops.exoscale.ai_deployment": spec, "ignore_errors": True}
    if check:
        entry["check_mode"] = True
    return entry


def model(task, name, check=False, **options):
    entry = {"name": task, "inferops.exoscale.ai_model": dict(name=name, **options), "ignore_errors": True}
    if check:
        entry["check_mode"] = True
    return entry


def both_modes(builder, label, *args, **options):
    """The same task in check mode and for real."""
    return [builder("%s (check)" % label, *args, check=True, **options), builder(label, *args, **options)]


def play_refusals(play, sim, tasks, env=None):
    """Run ``tasks`` (none of which may write) from a clean request log; the run and every request it sent."""
    sim.control.clear_requests()
    run = play(tasks, env=env)
    requests = sim.control.requests(kind=None)
    assert writes(requests) == [], requests
    return run, requests


def in_process(run_module, sim, module_name, args, **options):
    """``module_name`` run in process from a clean request log: its result and the requests it sent."""
    sim.control.clear_requests()
    result = run_module(module_name, args, **options)
    return result, sim.control.requests(kind=None)


def upload(run_module, *names, **options):
    for name in names:
        result = run_module("ai_model", dict(name=name, **options))
        assert not result.get("failed"), result


TOKENS = {"T_NOACCESS": "hf_noaccess_0123456789", "T_INVALID": "not-a-token", "T_READER": "hf_reader_0123456789"}


def env_ref(name):
    """A secret as a real job passes it: from the environment, never written in the playbook."""
    return "{{ lookup('ansible.builtin.env', '%s') }}" % name


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] in WRITE_METHODS]


def assert_refused(run, label, *words):
    result = run.result(label)
    assert run.status(label) == "failed", (label, result)
    for word in words:
        assert word in result["msg"], (label, word, result["msg"])
    return result


def assert_refused_in_process(result, requests, *words):
    assert result.get("failed") and result["changed"] is False, result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert writes(requests) == [], requests
    return result


def test_deployment_checks_refuse_before_any_write_in_check_mode_too(play, sim, run_module):
    sim.control.limits(gpua5000=4)
    upload(run_module, QWEN, GPT_OSS, QWEN3)
    tasks = (both_modes(deployment, "quota", "big", gpu_count=2, replicas=3)
             + both_modes(deployment, "unknown family", "nope", gpu_type="gpuh100")
             + both_modes(deployment, "unauthorized family", "nope", gpu_type="gpu3")
             + both_modes(deployment, "weights too big", "oss", model=GPT_OSS, gpu_type="gpu3080ti")
             + both_modes(deployment, "value not allowed", "dtype", inference_engine_parameters=["--dtype=float99"])
             + both_modes(deployment, "unknown flag", "flag", inference_engine_parameters=["--foo=1"])
             + [deployment("quota skipped", "big", check=True, gpu_count=2, replicas=3, preflight_skip=["quota"]),
                deployment("fit skipped", "oss", check=True, model=GPT_OSS, gpu_type="gpu3080ti",
                           preflight_skip=["fit"]),
                deployment("kv cache warned", "qwen3", check=True, model=QWEN3)])
    run, dummy = play_refusals(play, sim, tasks)
    for label in ("quota", "quota (check)"):
        result = assert_refused(run, label, "gpu_count x replicas = 2 x 3 needs 6 gpua5000 GPU(s)",
                                "quota is 4 with 0 in use, so 4 are available", "preflight_skip: [quota]")
        assert result["needed"] == 6 and result["limit"] == 4 and result["available"] == 4
    for label in ("unknown family", "unknown family (check)"):
        assert_refused(run, label, "'gpuh100' is not a GPU family of this zone", "gpua5000")
    for label in ("unauthorized family", "unauthorized family (check)"):
        assert_refused(run, label, "'gpu3' is not authorized")
    for label in ("weights too big", "weights too big (check)"):
        result = assert_refused(run, label, "the weights of %s (12.81 GiB) do not fit the 10.66 GiB" % GPT_OSS,
                                "1 x gpu3080ti (11.84 GiB each", "Raise gpu_count to 2")
        assert result["check"] == "fit" and result["weights"] == 13760000000
    for label in ("value not allowed", "value not allowed (check)"):
        assert_refused(run, label, "--dtype=float99 is not an allowed value", "bfloat16, float, float16")
    for label in ("unknown flag", "unknown flag (check)"):
        assert_refused(run, label, "--foo=1 is not known to engine version 0.28.0 (the default)")
    for label in ("quota skipped", "fit skipped"):
        assert run.status(label) == "changed", run.result(label)
    warned = run.result("kv cache warned")
    assert run.status("kv cache warned") == "changed", warned
    # Qwen3-8B: 36 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes = 144 KiB per token; 40960 tokens = 5.62 GiB,
    # but 23.68 GiB x 0.9 - 15.26 GiB of weights - 1.5 GiB reserve leaves 4.56 GiB: 33172 tokens.
    assert any("needs about 5.62 GiB, but only about 4.56 GiB remain" in w and "--max-model-len=33172" in w
               for w in warned.get("warnings", [])), warned
    # The requests of that one check, in process: the Hub's config.json only.
    result, requests = in_process(run_module, sim, "ai_deployment", dict(name="qwen3", model=QWEN3,
                                  gpu_type="gpua5000", gpu_count=1), check_mode=True)
    assert result["changed"] and any("--max-model-len=33172" in w for w in warnings_of(result)), result
    assert [r["path"] for r in requests if r["kind"] == "hub"] == ["/hf/%s/resolve/main/config.json" % QWEN3]
    assert writes(requests) == []


def test_scale_and_replacement_count_only_the_gpus_they_add(sim, run_module):
    sim.control.limits(gpua5000=4)
    upload(run_module, QWEN)
    pair = dict(name="pair", model=QWEN, gpu_type="gpua5000")
    assert run_module("ai_deployment", dict(pair, gpu_count=2, replicas=1))["changed"]

    def deploy(check_mode=False, **options):
        return in_process(run_module, sim, "ai_deployment", dict(pair, **options), check_mode=check_mode)

    for check_mode in (True, False):
        result, requests = deploy(check_mode, gpu_count=2, replicas=3)
        result = assert_refused_in_process(result, requests, "scaling 'pair' from 1 to 3 replica(s) of 2 GPU(s) needs 4",
                                           "quota is 4 with 2 in use, so 2 are available")
        assert result["needed"] == 4
    result, requests = deploy(True, gpu_count=2, replicas=2)
    assert result["changed"] and not result.get("failed") and writes(requests) == [], result
    result, requests = deploy(True, gpu_count=4, replicas=1, recreate=True)
    assert result["changed"] and not result.get("failed") and writes(requests) == [], result
    result, requests = deploy(gpu_count=4, replicas=2, recreate=True)
    assert_refused_in_process(result, requests, "needs 8 gpua5000 GPU(s)",
                              "(2 freed by the replaced deployment), so 4 are available")
    result, requests = deploy(gpu_count=4, replicas=1, recreate=True)
    assert result["changed"] and not result.get("failed"), result
    assert result["deployment"]["gpu_count"] == 4


def test_huggingface_check_refuses_with_the_cause_before_the_model_is_created(play, sim, run_module):
    tasks = (both_modes(model, "missing repository", "nobody/no-such-model")
             + both_modes(model, "gated without token", GATED)
             + both_modes(model, "gated without access", GATED, huggingface_token=env_ref("T_NOACCESS"))
             + both_modes(model, "invalid token", GATED, huggingface_token=env_ref("T_INVALID"))
             + both_modes(model, "no safetensors", GGUF))
    run, dummy = play_refusals(play, sim, tasks, env=TOKENS)
    expected = {"missing repository": ["Hugging Face has no model repository 'nobody/no-such-model'"],
                "gated without token": ["%s is gated (manual approval): set huggingface_token" % GATED],
                "gated without access": ["has no access yet", "huggingface.co/%s" % GATED],
                "invalid token": ["refused huggingface_token as invalid credentials"],
                "no safetensors": ["%s has no safetensors weights (weights: .gguf)" % GGUF]}
    causes = {"missing repository": "not_found", "gated without token": "gated", "gated without access": "gated",
              "invalid token": "invalid_token", "no safetensors": "no_safetensors"}
    for label, words in expected.items():
        for case in (label, label + " (check)"):
            result = assert_refused(run, case, *(words + ["preflight_skip: [huggingface]"]))
            assert result["cause"] == causes[label]
            assert "hf_noaccess_0123456789" not in json.dumps(result) and "not-a-token" not in json.dumps(result)
    for token in TOKENS.values():
        assert token not in run.output
    # What the check reads when it lets a model through, in process.
    access, requests = in_process(run_module, sim, "ai_model", dict(name=GATED, huggingface_token=TOKENS["T_READER"]),
                                  check_mode=True)
    assert access["changed"] and not access.get("failed"), access
    assert TOKENS["T_READER"] not in json.dumps(access)
    hub_paths = [r["path"] for r in requests if r["kind"] == "hub"]
    assert hub_paths == ["/hf/api/models/%s" % GATED, "/hf/%s/resolve/main/config.json" % GATED]
    skipped, requests = in_process(run_module, sim, "ai_model", dict(name=GGUF, preflight_skip=["huggingface"]),
                                   check_mode=True)
    assert skipped["changed"] and not skipped.get("failed") and [r for r in requests if r["kind"] == "hub"] == []
    unreachable, requests = in_process(run_module, sim, "ai_model",
                                       dict(name=QWEN, huggingface_api_url="http://127.0.0.1:9"))
    assert unreachable["changed"] and not unreachable.get("failed"), unreachable
    assert any("Hugging Face check skipped: the Hub did not answer" in w for w in warnings_of(unreachable))
    assert ("POST", "/v2/ai/model") in writes(requests)


def count_until_first_write(requests, path=None):
    """(API GETs, Hub GETs) before the first write (to ``path`` when given): the lookups and checks of a task."""
    api = hub = 0
    for entry in requests:
        if entry["method"] in WRITE_METHODS and (path is None or entry["path"] == path):
            break
        if entry["kind"] == "hub":
            hub += 1
        elif entry["kind"] == "api":
            api += 1
    return api, hub


def test_request_budget_of_preflight(sim, run_module):
    """Benchmark rows: the extra GETs of preflight per create and per scale (target <= 2), none when converged."""
    skip = ["quota", "fit"]  # the checks preflight added; gpu_type and engine_parameters existed before
    spec = dict(model=QWEN, gpu_type="gpua5000", gpu_count=1, inference_engine_parameters=["--max-model-len=4096"])
    upload(run_module, QWEN)
    requests = {}
    for label, name, options in (("create without the new checks", "before", dict(preflight_skip=skip)),
                                 ("create", "after", {}),
                                 ("scale without the new checks", "before", dict(replicas=2, preflight_skip=skip)),
                                 ("scale", "after", dict(replicas=2)),
                                 ("converged without the new checks", "before", dict(replicas=2, preflight_skip=skip)),
                                 ("converged", "after", dict(replicas=2))):
        result, requests[label] = in_process(run_module, sim, "ai_deployment", dict(spec, name=name, **options))
        assert not result.get("failed"), (label, result)
    rows = {}
    for label in ("create", "scale", "converged"):
        before = requests[label + " without the new checks"]
        after = requests[label]
        if label == "converged":
            counted = (len([r for r in before if r["kind"] == "api"]), len([r for r in before if r["kind"] == "hub"]),
                       len([r for r in after if r["kind"] == "api"]), len([r for r in after if r["kind"] == "hub"]))
        else:
            first_write = "/v2/ai/deployment" if label == "create" else None
            counted = count_until_first_write(before, first_write) + count_until_first_write(after, first_write)
        rows[label] = dict(before_api=counted[0], before_hub=counted[1], after_api=counted[2], after_hub=counted[3],
                           extra=counted[2] + counted[3] - counted[0] - counted[1])
    report = os.environ.get("PREFLIGHT_BUDGET_REPORT")
    if report:
        with open(report, "w") as handle:
            json.dump(rows, handle, indent=2, sort_keys=True)
    print("preflight request budget: %s" % json.dumps(rows, sort_keys=True))
    assert rows["create"]["extra"] <= 2 and rows["create"]["after_hub"] - rows["create"]["before_hub"] == 1, rows
    assert rows["scale"]["extra"] <= 2 and rows["scale"]["after_hub"] == 0, rows
    assert rows["converged"]["extra"] == 0 and rows["converged"]["after_hub"] == 0, rows
    assert not [r for r in requests["converged"] if r["path"].startswith("/v2/quota")]
    assert writes(requests["converged"]) == []


def test_an_unknown_check_name_is_refused_naming_the_checks(sim, run_module):
    result = run_module("ai_deployment", {"name": "x", "preflight_skip": ["everything"]})
    message = result["msg"]
    assert result.get("failed"), result
    for word in ("preflight_skip", "everything", "quota", "gpu_type", "fit", "engine_parameters"):
        assert word in message, message
    assert sim.control.requests() == []


def test_kv_estimate_of_a_gated_model_reads_config_with_the_token(sim, run_module):
    reader = TOKENS["T_READER"]
    spec = dict(name="llama", model=GATED, gpu_type="gpua5000", gpu_count=1,
                inference_engine_parameters=["--max-model-len=200000"])
    upload(run_module, GATED, huggingface_token=reader)
    without, dummy = in_process(run_module, sim, "ai_deployment", spec, check_mode=True)
    assert without["changed"] and not without.get("failed"), without
    skipped = warnings_of(without)
    assert any("KV-cache estimate skipped" in w and "gated" in w and "huggingface_token" in w for w in skipped), skipped
    refused, requests = in_process(run_module, sim, "ai_deployment", dict(spec, huggingface_token=reader),
                                   check_mode=True)
    # Llama-3.2-1B: max_position_embeddings 131072; 200000 is more than vLLM accepts: refused (issue 20), not warned.
    assert_refused_in_process(refused, requests, "more than the max_position_embeddings of %s (131072)" % GATED)
    hub = [(r["path"], r["status"]) for r in requests if r["kind"] == "hub"]
    assert hub == [("/hf/%s/resolve/main/config.json" % GATED, 200)], hub
    for result in (without, refused):
        assert reader not in json.dumps(result)


def test_values_vllm_refuses_are_refused_before_any_post_in_check_mode_too(play, sim, run_module):
    """Issue 20: --max-num-seqs=abc, --gpu-memory-utilization=1.5 and a --max-model-len above the model's maximum
    used to be sent (or only warned about); now each is refused, in check mode too, with no write at all."""
    upload(run_module, QWEN)
    tasks = (both_modes(deployment, "max-num-seqs abc", "seqs", inference_engine_parameters=["--max-num-seqs=abc"])
             + both_modes(deployment, "gmu 1.5", "gmu", inference_engine_parameters=["--gpu-memory-utilization=1.5"])
             + both_modes(deployment, "length too large", "len", inference_engine_parameters=["--max-model-len=1000000"])
             + [deployment("gmu skipped", "gmu", check=True, preflight_skip=["engine_parameters"],
                           inference_engine_parameters=["--gpu-memory-utilization=1.5"])])
    run, dummy = play_refusals(play, sim, tasks)
    for label in ("max-num-seqs abc", "max-num-seqs abc (check)"):
        result = assert_refused(run, label, "--max-num-seqs=abc is not an integer", "preflight_skip: [engine_parameters]")
        assert result["plan"]["refusal"] == result["msg"] and result["changed"] is False
    for label in ("gmu 1.5", "gmu 1.5 (check)"):
        assert_refused(run, label, "--gpu-memory-utilization=1.5 is out of range", "in (0.0, 1.0]")
    for label in ("length too large", "length too large (check)"):
        assert_refused(run, label, "--max-model-len=1000000 is more than the max_position_embeddings",
                       "preflight_skip: [fit]")
    assert run.status("gmu skipped") == "changed"


def test_a_model_not_uploaded_yet_is_fitted_in_check_mode_and_before_ai_model_uploads_it(play, sim):
    """Issue 20: the fit check ran only for uploaded models; now it uses the Hub's metadata, so check mode refuses
    what the run would refuse, and ai_model with the intended GPUs refuses before uploading 13 GB."""
    tasks = [deployment("deploy (check)", "oss", check=True, model=GPT_OSS, gpu_type="gpu3080ti"),
             model("model (check)", GPT_OSS, check=True, gpu_type="gpu3080ti", gpu_count=1),
             model("model", GPT_OSS, gpu_type="gpu3080ti", gpu_count=1),
             model("model fits", QWEN, check=True, gpu_type="gpua5000")]
    run, dummy = play_refusals(play, sim, tasks)
    for label in ("deploy (check)", "model (check)", "model"):
        result = assert_refused(run, label, "the weights of %s (12.81 GiB) do not fit" % GPT_OSS)
        assert "gpu3 " not in result["msg"].split("more memory per GPU")[-1].split(")")[0]  # not authorized: not suggested
    assert run.status("model fits") == "changed"


def test_warnings_are_shown_when_the_plan_is_made_before_the_wait(play, sim, run_module):
    """Issue 20: preflight warnings printed only after the wait. The plan's warning is shown live (a progress
    line) before the deployment's first state, and it is in the plan of the result."""
    upload(run_module, QWEN3)
    run = play([{"name": "deploy", "inferops.exoscale.ai_deployment": dict(
        name="warned", model=QWEN3, gpu_type="gpua5000", gpu_count=1, preflight_skip=["quota"])}])
    result = run.result("deploy")
    assert any("KV cache" in w for w in result["plan"]["warnings"]), result
    out = run.stdout
    shown = out.index("ai_deployment warned: plan warning: Model fit: the KV cache")
    first_state = re.search(r"ai_deployment warned: (creating|preparing|deploying)", out)
    assert first_state and shown < first_state.start(), out
