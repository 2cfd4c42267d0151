"""Preflight checks in real playbooks: each check refuses (in check mode too) before any write, with its numbers;
preflight_skip lets it through; the request budget of preflight per create, scale and converged run."""
import json
import os
import re

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN3 = "Qwen/Qwen3-8B"
GPT_OSS = "openai/gpt-oss-20b"
GATED = "meta-llama/Llama-3.2-1B-Instruct"
GGUF = "ggml-org/gpt-oss-20b-GGUF"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def hub_env(sim):
    return {"HF_ENDPOINT": sim.base + "/hf"}


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
    """The same task in check mode and for real, each after its own marker."""
    return [("%s (check)" % label, builder("%s (check)" % label, *args, check=True, **options)),
            (label, builder(label, *args, **options))]


def run_cases(play, sim, markers, setup, cases, env=None):
    tasks = list(setup)
    for label, task in cases:
        tasks += [markers.task(label.replace(" ", "-").replace("(", "").replace(")", "")), task]
    run = play(tasks, env=dict(hub_env(sim), **(env or {})))
    groups = markers.split(sim.control.requests(kind=None))
    by_label = dict((label, groups[label.replace(" ", "-").replace("(", "").replace(")", "")]) for label, dummy in cases)
    return run, by_label


TOKENS = {"T_NOACCESS": "hf_noaccess_0123456789", "T_INVALID": "not-a-token", "T_READER": "hf_reader_0123456789"}


def env_ref(name):
    """A secret as a real job passes it: from the environment, never written in the playbook."""
    return "{{ lookup('ansible.builtin.env', '%s') }}" % name


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] in WRITE_METHODS]


def assert_refused(run, requests, label, *words):
    result = run.result(label)
    assert run.status(label) == "failed", (label, result)
    for word in words:
        assert word in result["msg"], (label, word, result["msg"])
    assert writes(requests[label]) == [], (label, requests[label])
    return result


def test_deployment_checks_refuse_before_any_write_in_check_mode_too(play, sim, markers):
    sim.control.limits(gpua5000=4)
    setup = [{"name": "model %s" % name, "inferops.exoscale.ai_model": {"name": name}} for name in (QWEN, GPT_OSS, QWEN3)]
    cases = (both_modes(deployment, "quota", "big", gpu_count=2, replicas=3)
             + both_modes(deployment, "unknown family", "nope", gpu_type="gpuh100")
             + both_modes(deployment, "unauthorized family", "nope", gpu_type="gpu3")
             + both_modes(deployment, "weights too big", "oss", model=GPT_OSS, gpu_type="gpu3080ti")
             + both_modes(deployment, "value not allowed", "dtype", inference_engine_parameters=["--dtype=float99"])
             + both_modes(deployment, "unknown flag", "flag", inference_engine_parameters=["--foo=1"])
             + [("quota skipped", deployment("quota skipped", "big", check=True, gpu_count=2, replicas=3,
                                             preflight_skip=["quota"])),
                ("fit skipped", deployment("fit skipped", "oss", check=True, model=GPT_OSS, gpu_type="gpu3080ti",
                                           preflight_skip=["fit"])),
                ("kv cache warned", deployment("kv cache warned", "qwen3", check=True, model=QWEN3))])
    run, requests = run_cases(play, sim, markers, setup, cases)
    for label in ("quota", "quota (check)"):
        result = assert_refused(run, requests, label, "gpu_count x replicas = 2 x 3 needs 6 gpua5000 GPU(s)",
                                "quota is 4 with 0 in use, so 4 are available", "preflight_skip: [quota]")
        assert result["needed"] == 6 and result["limit"] == 4 and result["available"] == 4
    for label in ("unknown family", "unknown family (check)"):
        assert_refused(run, requests, label, "'gpuh100' is not a GPU family of this zone", "gpua5000")
    for label in ("unauthorized family", "unauthorized family (check)"):
        assert_refused(run, requests, label, "'gpu3' is not authorized")
    for label in ("weights too big", "weights too big (check)"):
        result = assert_refused(run, requests, label, "the weights of %s (12.81 GiB) do not fit the 10.66 GiB" % GPT_OSS,
                                "1 x gpu3080ti (11.84 GiB each", "Raise gpu_count to 2")
        assert result["check"] == "fit" and result["weights"] == 13760000000
    for label in ("value not allowed", "value not allowed (check)"):
        assert_refused(run, requests, label, "--dtype=float99 is not an allowed value", "bfloat16, float, float16")
    for label in ("unknown flag", "unknown flag (check)"):
        assert_refused(run, requests, label, "--foo=1 is not known to engine version 0.28.0 (the default)")
    for label in ("quota skipped", "fit skipped"):
        assert run.status(label) == "changed", run.result(label)
        assert writes(requests[label]) == []
    warned = run.result("kv cache warned")
    assert run.status("kv cache warned") == "changed", warned
    # Qwen3-8B: 36 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes = 144 KiB per token; 40960 tokens = 5.62 GiB,
    # but 23.68 GiB x 0.9 - 15.26 GiB of weights - 1.5 GiB reserve leaves 4.56 GiB: 33172 tokens.
    assert any("needs about 5.62 GiB, but only about 4.56 GiB remain" in w and "--max-model-len=33172" in w
               for w in warned.get("warnings", [])), warned
    assert [r["path"] for r in requests["kv cache warned"] if r["kind"] == "hub"] == ["/hf/%s/resolve/main/config.json" % QWEN3]


def test_scale_and_replacement_count_only_the_gpus_they_add(play, sim, markers):
    sim.control.limits(gpua5000=4)
    setup = [{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
             {"name": "two gpus",
              "inferops.exoscale.ai_deployment": dict(name="pair", model=QWEN, gpu_type="gpua5000", gpu_count=2, replicas=1)}]
    cases = (both_modes(deployment, "scale beyond the quota", "pair", gpu_count=2, replicas=3)
             + [("scale within the quota", deployment("scale within the quota", "pair", check=True, gpu_count=2,
                                                      replicas=2)),
                ("replacement within the quota", deployment("replacement within the quota", "pair", check=True,
                                                            gpu_count=4, replicas=1, recreate=True)),
                ("replacement beyond the quota", deployment("replacement beyond the quota", "pair", gpu_count=4,
                                                            replicas=2, recreate=True)),
                ("replacement", deployment("replacement", "pair", gpu_count=4, replicas=1, recreate=True))])
    run, requests = run_cases(play, sim, markers, setup, cases)
    for label in ("scale beyond the quota", "scale beyond the quota (check)"):
        result = assert_refused(run, requests, label, "scaling 'pair' from 1 to 3 replica(s) of 2 GPU(s) needs 4",
                                "quota is 4 with 2 in use, so 2 are available")
        assert result["needed"] == 4
    assert run.status("scale within the quota") == "changed", run.result("scale within the quota")
    assert run.status("replacement within the quota") == "changed", run.result("replacement within the quota")
    assert_refused(run, requests, "replacement beyond the quota", "needs 8 gpua5000 GPU(s)",
                   "(2 freed by the replaced deployment), so 4 are available")
    assert run.status("replacement") == "changed", run.result("replacement")
    assert run.result("replacement")["deployment"]["gpu_count"] == 4


def test_huggingface_check_refuses_with_the_cause_before_the_model_is_created(play, sim, markers):
    cases = (both_modes(model, "missing repository", "nobody/no-such-model")
             + both_modes(model, "gated without token", GATED)
             + both_modes(model, "gated without access", GATED, huggingface_token=env_ref("T_NOACCESS"))
             + both_modes(model, "invalid token", GATED, huggingface_token=env_ref("T_INVALID"))
             + both_modes(model, "no safetensors", GGUF)
             + [("gated with access", model("gated with access", GATED, check=True,
                                            huggingface_token=env_ref("T_READER"))),
                ("check skipped", model("check skipped", GGUF, check=True, preflight_skip=["huggingface"])),
                ("hub unreachable", model("hub unreachable", QWEN, huggingface_api_url="http://127.0.0.1:9"))])
    run, requests = run_cases(play, sim, markers, [], cases, env=TOKENS)
    expected = {"missing repository": ["Hugging Face has no model repository 'nobody/no-such-model'"],
                "gated without token": ["%s is gated (manual approval): set huggingface_token" % GATED],
                "gated without access": ["has no access yet", "huggingface.co/%s" % GATED],
                "invalid token": ["refused huggingface_token as invalid credentials"],
                "no safetensors": ["%s has no safetensors weights (weights: .gguf)" % GGUF]}
    causes = {"missing repository": "not_found", "gated without token": "gated", "gated without access": "gated",
              "invalid token": "invalid_token", "no safetensors": "no_safetensors"}
    for label, words in expected.items():
        for case in (label, label + " (check)"):
            result = assert_refused(run, requests, case, *(words + ["preflight_skip: [huggingface]"]))
            assert result["cause"] == causes[label]
            assert "hf_noaccess_0123456789" not in json.dumps(result) and "not-a-token" not in json.dumps(result)
    access = requests["gated with access"]
    assert run.status("gated with access") == "changed", run.result("gated with access")
    hub_paths = [r["path"] for r in access if r["kind"] == "hub"]
    assert hub_paths == ["/hf/api/models/%s" % GATED, "/hf/%s/resolve/main/config.json" % GATED]
    assert run.status("check skipped") == "changed" and [r for r in requests["check skipped"] if r["kind"] == "hub"] == []
    unreachable = run.result("hub unreachable")
    assert run.status("hub unreachable") == "changed", unreachable
    assert any("Hugging Face check skipped: the Hub did not answer" in w for w in unreachable["warnings"])
    assert ("POST", "/v2/ai/model") in writes(requests["hub unreachable"])
    for token in TOKENS.values():
        assert token not in run.output


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


def test_request_budget_of_preflight(play, sim, markers):
    """Benchmark rows: the extra GETs of preflight per create and per scale (target <= 2), none when converged."""
    skip = ["quota", "fit"]  # the checks preflight added; gpu_type and engine_parameters existed before
    spec = dict(model=QWEN, gpu_type="gpua5000", gpu_count=1, inference_engine_parameters=["--max-model-len=4096"])

    def dep(label, name, **options):
        return {"name": label, "inferops.exoscale.ai_deployment": dict(spec, name=name, **options)}

    cases = [("create without the new checks", dep("create without the new checks", "before", preflight_skip=skip)),
             ("create", dep("create", "after")),
             ("scale without the new checks", dep("scale without the new checks", "before", replicas=2,
                                                  preflight_skip=skip)),
             ("scale", dep("scale", "after", replicas=2)),
             ("converged without the new checks", dep("converged without the new checks", "before", replicas=2,
                                                      preflight_skip=skip)),
             ("converged", dep("converged", "after", replicas=2))]
    run, requests = run_cases(play, sim, markers, [{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}}], cases)
    assert not run.failed_tasks(), run.output[-3000:]
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


def test_an_unknown_check_name_is_refused_naming_the_checks(play, sim):
    run = play([{"name": "bad skip", "inferops.exoscale.ai_deployment": {"name": "x", "preflight_skip": ["everything"]},
                 "ignore_errors": True}])
    message = run.result("bad skip")["msg"]
    assert run.status("bad skip") == "failed"
    for word in ("preflight_skip", "everything", "quota", "gpu_type", "fit", "engine_parameters"):
        assert word in message, message
    assert sim.control.requests() == []


def test_kv_estimate_of_a_gated_model_reads_config_with_the_token(play, sim, markers):
    reader = env_ref("T_READER")
    spec = dict(model=GATED, gpu_type="gpua5000", gpu_count=1, inference_engine_parameters=["--max-model-len=200000"])
    setup = [{"name": "gated model", "inferops.exoscale.ai_model": {"name": GATED, "huggingface_token": reader}}]
    cases = [("without token", {"name": "without token", "check_mode": True,
                                "inferops.exoscale.ai_deployment": dict(spec, name="llama")}),
             ("with token", {"name": "with token", "check_mode": True,
                             "inferops.exoscale.ai_deployment": dict(spec, name="llama", huggingface_token=reader)})]
    run, requests = run_cases(play, sim, markers, setup, cases, env=TOKENS)
    assert run.status("without token") == "changed" and run.status("with token") == "failed", run.output[-2000:]
    skipped = run.result("without token")["warnings"]
    assert any("KV-cache estimate skipped" in w and "gated" in w and "huggingface_token" in w for w in skipped), skipped
    refused = run.result("with token")
    # Llama-3.2-1B: max_position_embeddings 131072; 200000 is more than vLLM accepts: refused (issue 20), not warned.
    assert "more than the max_position_embeddings of %s (131072)" % GATED in refused["msg"], refused["msg"]
    hub = [(r["path"], r["status"]) for r in requests["with token"] if r["kind"] == "hub"]
    assert hub == [("/hf/%s/resolve/main/config.json" % GATED, 200)], hub
    for token in TOKENS.values():
        assert token not in run.output


def test_values_vllm_refuses_are_refused_before_any_post_in_check_mode_too(play, sim, markers):
    """Issue 20: --max-num-seqs=abc, --gpu-memory-utilization=1.5 and a --max-model-len above the model's maximum
    used to be sent (or only warned about); now each is refused, in check mode too, with no write at all."""
    setup = [{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}}]
    cases = (both_modes(deployment, "max-num-seqs abc", "seqs", inference_engine_parameters=["--max-num-seqs=abc"])
             + both_modes(deployment, "gmu 1.5", "gmu", inference_engine_parameters=["--gpu-memory-utilization=1.5"])
             + both_modes(deployment, "length too large", "len", inference_engine_parameters=["--max-model-len=1000000"])
             + [("gmu skipped", deployment("gmu skipped", "gmu", check=True, preflight_skip=["engine_parameters"],
                                           inference_engine_parameters=["--gpu-memory-utilization=1.5"]))])
    run, requests = run_cases(play, sim, markers, setup, cases)
    for label in ("max-num-seqs abc", "max-num-seqs abc (check)"):
        result = assert_refused(run, requests, label, "--max-num-seqs=abc is not an integer", "preflight_skip: [engine_parameters]")
        assert result["plan"]["refusal"] == result["msg"] and result["changed"] is False
    for label in ("gmu 1.5", "gmu 1.5 (check)"):
        assert_refused(run, requests, label, "--gpu-memory-utilization=1.5 is out of range", "in (0.0, 1.0]")
    for label in ("length too large", "length too large (check)"):
        assert_refused(run, requests, label, "--max-model-len=1000000 is more than the max_position_embeddings",
                       "preflight_skip: [fit]")
    assert run.status("gmu skipped") == "changed" and writes(requests["gmu skipped"]) == []


def test_a_model_not_uploaded_yet_is_fitted_in_check_mode_and_before_ai_model_uploads_it(play, sim, markers):
    """Issue 20: the fit check ran only for uploaded models; now it uses the Hub's metadata, so check mode refuses
    what the run would refuse, and ai_model with the intended GPUs refuses before uploading 13 GB."""
    cases = [("deploy (check)", deployment("deploy (check)", "oss", check=True, model=GPT_OSS, gpu_type="gpu3080ti")),
             ("model (check)", model("model (check)", GPT_OSS, check=True, gpu_type="gpu3080ti", gpu_count=1)),
             ("model", model("model", GPT_OSS, gpu_type="gpu3080ti", gpu_count=1)),
             ("model fits", model("model fits", QWEN, check=True, gpu_type="gpua5000"))]
    run, requests = run_cases(play, sim, markers, [], cases)
    for label in ("deploy (check)", "model (check)", "model"):
        result = assert_refused(run, requests, label, "the weights of %s (12.81 GiB) do not fit" % GPT_OSS)
        assert "gpu3 " not in result["msg"].split("more memory per GPU")[-1].split(")")[0]  # not authorized: not suggested
    assert run.status("model fits") == "changed"
    assert all(r["path"] != "/v2/ai/model" or r["method"] != "POST" for r in sim.control.requests(kind=None))


def test_warnings_are_shown_when_the_plan_is_made_before_the_wait(play, sim, markers):
    """Issue 20: preflight warnings printed only after the wait. The plan's warning is shown live (a progress
    line) before the deployment's first state, and it is in the plan of the result."""
    run = play([{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN3}},
                {"name": "deploy", "inferops.exoscale.ai_deployment": dict(
                    name="warned", model=QWEN3, gpu_type="gpua5000", gpu_count=1,
                    preflight_skip=["quota"])}], env=hub_env(sim))
    result = run.result("deploy")
    assert any("KV cache" in w for w in result["plan"]["warnings"]), result
    out = run.stdout
    shown = out.index("ai_deployment warned: plan warning: Model fit: the KV cache")
    first_state = re.search(r"ai_deployment warned: (creating|preparing|deploying)", out)
    assert first_state and shown < first_state.start(), out
