# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Preflight checks: pure checks with hand-computed figures, and the requests a deployment plan's checks send."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils import engine, fit, gpu, preflight
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import Plan
from ansible_collections.inferops.exoscale.plugins.modules.ai_deployment import DeploymentModule
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from tests.unit.plugins.module_utils.exo_fakes import json_response

HELP = [
    {"name": "max_model_len", "flags": ["--max-model-len"], "type": "int", "allowed-values": []},
    {"name": "dtype", "flags": ["--dtype"], "type": "choice",
     "allowed-values": ["auto", "bfloat16", "float", "float16", "float32", "half"]},
    {"name": "enforce_eager", "flags": ["--enforce-eager"], "type": "bool", "allowed-values": []},
    {"name": "quantization", "flags": ["--quantization", "-q"], "type": "choice", "allowed-values": ["awq", "fp8"]},
    {"name": "gpu_memory_utilization", "flags": ["--gpu-memory-utilization"], "type": "float", "allowed-values": []},
]
INSTANCE_TYPES = [{"family": "gpua5000", "authorized": True}, {"family": "gpu3080ti", "authorized": True},
                  {"family": "gpu3", "authorized": False}]
# config.json values of the real repositories (the parts the estimate reads).
LLAMA_31_8B = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_attention_heads": 32,
               "num_key_value_heads": 8, "num_hidden_layers": 32, "max_position_embeddings": 131072,
               "torch_dtype": "bfloat16"}
LLAMA_SIZE = 16060522496
QWEN25_7B = {"hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "num_hidden_layers": 28,
             "max_position_embeddings": 32768, "sliding_window": 131072, "use_sliding_window": False,
             "torch_dtype": "bfloat16"}
GPT_OSS_20B = {"num_hidden_layers": 24, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
               "hidden_size": 2880, "sliding_window": 128, "max_position_embeddings": 131072,
               "layer_types": ["sliding_attention", "full_attention"] * 12}
GEMMA3_4B = {"architectures": ["Gemma3ForConditionalGeneration"],
             "text_config": {"num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4,
                             "head_dim": 256, "hidden_size": 2560, "sliding_window": 1024, "sliding_window_pattern": 6,
                             "max_position_embeddings": 131072}}


class Warnings(list):
    def __call__(self, message):
        self.append(message)


# ---------------------------------------------------------------------------------------------------------
# engine parameters

def test_engine_options():
    assert engine.options(["--max-model-len=4096", "--dtype half", " --enforce-eager ", "-q=awq"]) == {
        "--max-model-len": "4096", "--dtype": "half", "--enforce-eager": None, "-q": "awq"}


def test_unknown_flag_is_refused_naming_the_known_ones():
    with pytest.raises(Refused) as caught:
        engine.check(HELP, "0.28.0", ["--max-model-len=4096", "--foo=1"])
    assert "--foo=1 is not known to engine version 0.28.0" in str(caught.value)
    assert "--max-model-len" in str(caught.value) and "preflight_skip: [engine_parameters]" in str(caught.value)


@pytest.mark.parametrize("parameter", ["--dtype=float99", "--dtype float99", "-q=gguf"])
def test_value_outside_the_allowed_values_is_refused(parameter):
    with pytest.raises(Refused) as caught:
        engine.check(HELP, None, [parameter])
    message = str(caught.value)
    # The default version is named by its number (issue 19): the message says which help it was checked against.
    assert "is not an allowed value for engine version 0.28.0 (the default)" in message
    assert caught.value.details["allowed"] in (HELP[1]["allowed-values"], HELP[3]["allowed-values"])


@pytest.mark.parametrize("parameters", [[], ["--dtype=half", "--enforce-eager", "--max-model-len=4k", "-q awq"],
                                        ["--quantization=fp8"]])
def test_known_flags_with_allowed_values_pass(parameters):
    engine.check(HELP, "0.28.0", parameters)


# ---------------------------------------------------------------------------------------------------------
# GPU family

def test_gpu_type_unknown_and_unauthorized():
    with pytest.raises(Refused, match=r"'gpuh100' is not a GPU family of this zone; choose one of: gpu3, gpu3080ti, gpua5000"):
        preflight.check_gpu_type(INSTANCE_TYPES, "gpuh100")
    with pytest.raises(Refused, match=r"'gpu3' is not authorized .* authorized families: gpu3080ti, gpua5000"):
        preflight.check_gpu_type(INSTANCE_TYPES, "gpu3")
    preflight.check_gpu_type(INSTANCE_TYPES, "gpua5000")


# ---------------------------------------------------------------------------------------------------------
# quota

def test_quota_refusal_names_every_number():
    with pytest.raises(Refused) as caught:
        preflight.check_quota({"limit": 16, "usage": 4}, "gpua5000", 24, what="gpu_count x replicas = 8 x 3")
    message = str(caught.value)
    assert "gpu_count x replicas = 8 x 3 needs 24 gpua5000 GPU(s)" in message
    assert "quota is 16 with 4 in use, so 12 are available" in message
    assert caught.value.details == dict(check="quota", gpu_type="gpua5000", needed=24, usage=4, limit=16, freed=0,
                                        available=12)


def test_quota_counts_what_a_replacement_frees():
    assert preflight.check_quota({"limit": 8, "usage": 8}, "gpua5000", 4, freed=4)["available"] == 4
    with pytest.raises(Refused, match=r"\(4 freed by the replaced deployment\), so 4 are available"):
        preflight.check_quota({"limit": 8, "usage": 8}, "gpua5000", 5, freed=4)


@pytest.mark.parametrize("quota", [{"limit": -1, "usage": 100}, {"limit": 24, "usage": 0}, {"limit": 30, "usage": 6}])
def test_quota_with_room_passes(quota):
    assert preflight.check_quota(quota, "gpua5000", 24)["needed"] == 24


@settings(derandomize=True, deadline=None)
@given(st.integers(0, 64), st.integers(0, 64), st.integers(1, 64), st.integers(0, 16))
def test_quota_refuses_exactly_when_the_need_exceeds_the_room(limit, usage, needed, freed):
    room = max(0, limit - usage + freed)
    try:
        figures = preflight.check_quota({"limit": limit, "usage": usage}, "gpu", needed, freed)
    except Refused:
        assert needed > room
    else:
        assert needed <= room and figures["available"] == room


# ---------------------------------------------------------------------------------------------------------
# fit

@pytest.mark.parametrize("text, tokens", [("4096", 4096), ("32k", 32000), ("32K", 32768), ("1M", 1048576),
                                          ("1.5k", 1500), ("-1", None), ("auto", None), ("", None)])
def test_parse_length(text, tokens):
    assert engine.parse_length(text) == tokens


def test_kv_layout_of_real_configs():
    assert fit.kv_layout(LLAMA_31_8B) == dict(per_token=2 * 8 * 128, full_layers=32, sliding_layers=0,
                                                    window=None, max_position_embeddings=131072, dtype="bfloat16")
    assert fit.kv_layout(QWEN25_7B)["sliding_layers"] == 0  # use_sliding_window: false
    oss = fit.kv_layout(GPT_OSS_20B)
    assert (oss["full_layers"], oss["sliding_layers"], oss["window"], oss["per_token"]) == (12, 12, 128, 1024)
    gemma = fit.kv_layout(GEMMA3_4B)
    assert (gemma["full_layers"], gemma["sliding_layers"], gemma["window"]) == (5, 29, 1024)
    assert gemma["max_position_embeddings"] == 131072
    with pytest.raises(ValueError):
        fit.kv_layout({"model_type": "mystery"})


def test_kv_cache_bytes_by_hand():
    layout = fit.kv_layout(LLAMA_31_8B)
    assert fit.kv_cache_bytes(layout, 131072, 2) == 131072 * 131072  # 128 KiB per token, 16 GiB in all
    oss = fit.kv_layout(GPT_OSS_20B)
    assert fit.kv_cache_bytes(oss, 1000, 2) == 1024 * 2 * (12 * 1000 + 12 * 128)


@settings(derandomize=True, deadline=None)
@given(st.sampled_from([LLAMA_31_8B, QWEN25_7B, GPT_OSS_20B, GEMMA3_4B]), st.integers(10 ** 6, 10 ** 11),
       st.sampled_from([1, 2, 4]))
def test_largest_length_is_the_largest_that_fits(config, budget, value_bytes):
    layout = fit.kv_layout(config)
    length = fit.largest_length(layout, budget, value_bytes)
    assert fit.kv_cache_bytes(layout, length, value_bytes) <= budget
    assert fit.kv_cache_bytes(layout, length + 1, value_bytes) > budget


def test_weights_too_big_are_refused_with_the_figures_and_a_way_out():
    warnings = Warnings()
    with pytest.raises(Refused) as caught:
        fit.check_fit("gpu3080ti", 1, LLAMA_SIZE, [], LLAMA_31_8B, warnings, "meta-llama/Llama-3.1-8B-Instruct")
    message = str(caught.value)
    # a 12 GB card: 12 x 23.68/24 GiB = 11.84 GiB as CUDA reports it, x 0.9 = 10.656 GiB
    assert "weights of meta-llama/Llama-3.1-8B-Instruct (14.96 GiB) do not fit the 10.66 GiB vLLM may use" in message
    assert "1 x gpu3080ti (11.84 GiB each, NVIDIA GeForce RTX 3080 Ti 12 GB) x 0.9" in message
    assert "Raise gpu_count to 2" in message and "gpua5000" in message
    assert caught.value.details["budget"] == 11441792876 and warnings == []


def test_gpu_memory_utilization_moves_the_budget():
    with pytest.raises(Refused, match=r"do not fit the 11.84 GiB .* x 0.5 gpu-memory-utilization"):
        fit.check_fit("gpua5000", 1, 15 * gpu.GIB, ["--gpu-memory-utilization=0.5"], None, Warnings())
    figures = fit.check_fit("gpua5000", 1, 15 * gpu.GIB, ["--gpu-memory-utilization 0.95"], None, Warnings())
    assert figures["budget"] == 24154896072  # 23.68 GiB x 0.95


def test_kv_cache_too_big_warns_with_the_largest_length_that_fits():
    warnings = Warnings()
    figures = fit.check_fit("gpua5000", 1, LLAMA_SIZE, [], LLAMA_31_8B, warnings, "llama")
    # 23.68 GiB x 0.9 = 22 883 585 752 bytes - 16 060 522 496 weights - 1.5 GiB reserve, at 128 KiB per token
    assert figures["kv_cache_available"] == 5212450520
    assert figures["max_model_len"] == 131072 and figures["max_model_len_fits"] == 39767
    assert len(warnings) == 1
    assert "the model's max_position_embeddings (131072, vLLM's default --max-model-len)" in warnings[0]
    assert "needs about 16.00 GiB, but only about 4.85 GiB remain" in warnings[0]
    assert "set --max-model-len=39767 or lower" in warnings[0]


def test_no_memory_left_for_the_kv_cache():
    warnings = Warnings()
    figures = fit.check_fit("gpua5000", 1, 22 * 10 ** 9, ["--max-model-len=1024"], LLAMA_31_8B, warnings)
    assert figures["max_model_len_fits"] == 0
    assert len(warnings) == 1 and "No memory is left for the KV cache" in warnings[0]


def test_length_above_the_model_maximum_is_refused():
    """vLLM refuses it at start-up, so it is refused, not warned (preflight_skip: [fit] overrides)."""
    with pytest.raises(Refused) as caught:
        fit.check_fit("gpua5000", 2, LLAMA_SIZE, ["--max-model-len=200000"], LLAMA_31_8B, Warnings(), "llama")
    assert "more than the max_position_embeddings of llama (131072)" in str(caught.value)
    assert "preflight_skip: [fit]" in str(caught.value)


def test_kv_cache_for_a_given_length_that_fits_says_nothing():
    warnings = Warnings()
    figures = fit.check_fit("gpua5000", 1, LLAMA_SIZE, ["--max-model-len=16k"], LLAMA_31_8B, warnings)
    assert warnings == [] and figures["max_model_len"] == 16000


def test_fp8_kv_cache_doubles_what_fits():
    plain = fit.check_fit("gpua5000", 1, LLAMA_SIZE, [], LLAMA_31_8B, Warnings())
    fp8 = fit.check_fit("gpua5000", 1, LLAMA_SIZE, ["--kv-cache-dtype=fp8"], LLAMA_31_8B, Warnings())
    assert fp8["max_model_len_fits"] - 2 * plain["max_model_len_fits"] in (0, 1)  # floors


def test_two_gpus_fit_the_full_context():
    warnings = Warnings()
    fit.check_fit("gpua5000", 2, LLAMA_SIZE, [], LLAMA_31_8B, warnings)
    assert warnings == []


@pytest.mark.parametrize("gpu_type, weights, parameters, config, words", [
    ("gpuh100", LLAMA_SIZE, [], LLAMA_31_8B, "GPU memory of family gpuh100 is not known"),
    ("gpua5000", 0, [], LLAMA_31_8B, "size of m is not known yet"),
    ("gpua5000", LLAMA_SIZE, ["--gpu-memory-utilization=1.5"], LLAMA_31_8B, "not a fraction"),
    ("gpua5000", LLAMA_SIZE, [], {"model_type": "mystery"}, "KV-cache estimate skipped for m"),
])
def test_what_cannot_be_checked_is_skipped_with_a_warning(gpu_type, weights, parameters, config, words):
    warnings = Warnings()
    fit.check_fit(gpu_type, 1, weights, parameters, config, warnings, "m")
    assert len(warnings) == 1 and words in warnings[0]


def test_auto_length_is_not_estimated():
    warnings = Warnings()
    fit.check_fit("gpua5000", 1, LLAMA_SIZE, ["--max-model-len=-1"], LLAMA_31_8B, warnings)
    assert warnings == []


# ---------------------------------------------------------------------------------------------------------
# A deployment plan's checks: the requests they send

def check_deployment(client, action, wanted, warn, skip=(), current=None, model=None, hub_client=None):
    """The checks of the plan ``action`` with ``wanted``; returns the model the context resolved.

    An update's plan (its changes) comes from the driver itself; a create's or replacement's from ``wanted``.
    """
    if action == "update":
        params = dict(name=current["name"], id=None, model=None, gpu_type=None, gpu_count=None, replicas=None,
                      inference_engine_version=None, inference_engine_parameters=None, state="present", recreate=False)
        params.update(wanted)
        plan = DeploymentModule(params=params).decide(current)
    else:
        plan = Plan(action, current, dict(wanted))
    resolve = model if callable(model) else (lambda: model)
    context = preflight.check_deployment_plan(client, plan, warn, skip=skip, hub_client=hub_client,
                                              model=None if model is None else (lambda ref: resolve()))
    return context.get("model")


class Router:
    def __init__(self, routes):
        self.routes = routes

    def __call__(self, request):
        key = (request.method, request.url.path[len("/v2"):])
        assert key in self.routes, "unexpected request %s %s" % key
        return self.routes[key]


def routes(quota=None, help_entries=None):
    return Router({
        ("GET", "/ai/instance-type"): json_response(200, {"instance-types": INSTANCE_TYPES}),
        ("GET", "/quota/gpua5000"): json_response(200, dict({"resource": "gpua5000", "limit": 16, "usage": 0},
                                                            **(quota or {}))),
        ("GET", "/ai/help/inference-engine-parameters"): json_response(200, {"parameters": help_entries or HELP}),
    })


class FakeHub:
    def __init__(self, config=None, info=None, error=None, config_error=None):
        self.config_answer, self.info, self.error, self.config_error = config, info, error, config_error
        self.calls = []

    def config(self, repo_id):
        self.calls.append(("config", repo_id))
        if self.config_error:
            raise self.config_error
        return self.config_answer

    def model_info(self, repo_id):
        self.calls.append(("model_info", repo_id))
        if self.error:
            raise self.error
        return self.info


MODEL = {"id": "0d9c4e1a-5b7f-4b8e-9a53-6f0e2f6a1b11", "name": "meta-llama/Llama-3.1-8B-Instruct",
         "state": "ready", "model-size": LLAMA_SIZE}
WANTED = dict(model=MODEL["name"], gpu_type="gpua5000", gpu_count=1, replicas=1, inference_engine_version=None,
              inference_engine_parameters=None)
CURRENT = {"id": "c5a7b1f2-8c1e-4f1e-9d7e-3a2b1c0d9e8f", "name": "llama", "gpu-type": "gpua5000", "gpu-count": 2,
           "replicas": 2, "inference-engine-version": "0.28.0", "inference-engine-parameters": ["--max-model-len=4096"]}


def paths(server):
    return [r.url.path[len("/v2"):] for r in server.requests]


def test_create_sends_instance_types_and_quota_and_reads_config_once(make_api):
    client, server, dummy = make_api(route=routes())
    warnings, hub_client = Warnings(), FakeHub(config=LLAMA_31_8B)
    resolved = check_deployment(client, "create", dict(WANTED, inference_engine_parameters=["--max-model-len=8192"]),
                                          warnings, model=lambda: MODEL, hub_client=lambda: hub_client)
    assert resolved == MODEL
    assert paths(server) == ["/ai/instance-type", "/ai/help/inference-engine-parameters", "/quota/gpua5000"]
    assert hub_client.calls == [("config", MODEL["name"])] and warnings == []


def test_create_refuses_on_quota_before_resolving_the_model(make_api):
    client, server, dummy = make_api(route=routes(quota={"usage": 14}))
    resolved = []
    with pytest.raises(Refused) as caught:
        check_deployment(client, "create", dict(WANTED, gpu_count=2, replicas=2), Warnings(),
                                   model=lambda: resolved.append(1))
    assert "gpu_count x replicas = 2 x 2 needs 4 gpua5000 GPU(s)" in str(caught.value)
    assert "so 2 are available" in str(caught.value)
    assert resolved == [] and paths(server) == ["/ai/instance-type", "/quota/gpua5000"]


def test_skipped_checks_send_nothing(make_api):
    client, server, dummy = make_api(route=routes())
    hub_client = FakeHub(config=LLAMA_31_8B)
    check_deployment(client, "create", WANTED, Warnings(), skip=["quota", "gpu_type", "fit"], model=MODEL,
                               hub_client=hub_client)
    assert paths(server) == [] and hub_client.calls == []


def test_replace_counts_the_gpus_the_old_deployment_frees(make_api):
    client, dummy, dummy2 = make_api(route=routes(quota={"limit": 4, "usage": 4}))
    check_deployment(client, "replace", dict(WANTED, gpu_count=4, replicas=1), Warnings(), current=CURRENT,
                               skip=["fit"])
    with pytest.raises(Refused, match="needs 5 gpua5000"):
        check_deployment(client, "replace", dict(WANTED, gpu_count=5, replicas=1), Warnings(),
                                   current=CURRENT, skip=["fit"])


def test_quota_that_cannot_be_read_is_skipped_with_a_warning(make_api):
    client, dummy, dummy2 = make_api(route=Router({
        ("GET", "/ai/instance-type"): json_response(200, {"instance-types": INSTANCE_TYPES}),
        ("GET", "/quota/gpua5000"): json_response(404, {"detail": "quota for resource 'gpua5000' not found"})}))
    warnings = Warnings()
    check_deployment(client, "create", WANTED, warnings, skip=["fit"])
    assert len(warnings) == 1 and warnings[0].startswith("GPU quota check skipped")


def test_scale_up_checks_only_the_added_gpus(make_api):
    client, server, dummy = make_api(route=routes(quota={"limit": 8, "usage": 4}))
    check_deployment(client, "update", {"replicas": 4}, Warnings(), current=CURRENT)
    assert paths(server) == ["/quota/gpua5000"]
    with pytest.raises(Refused) as caught:
        check_deployment(client, "update", {"replicas": 5}, Warnings(), current=CURRENT)
    assert "scaling 'llama' from 2 to 5 replica(s) of 2 GPU(s) needs 6 gpua5000 GPU(s)" in str(caught.value)


@pytest.mark.parametrize("wanted", [{"replicas": 2}, {"replicas": 0}, {"replicas": None}, {"name": "renamed"},
                                    {"inference_engine_parameters": ["--max-model-len=4096"]}])
def test_update_that_adds_no_gpus_and_changes_no_engine_setting_sends_nothing(make_api, wanted):
    client, server, dummy = make_api(route=routes())
    check_deployment(client, "update", wanted, Warnings(), current=CURRENT)
    assert paths(server) == []


def test_update_of_engine_parameters_checks_allowed_values(make_api):
    client, server, dummy = make_api(route=routes())
    with pytest.raises(Refused, match="--dtype=float99 is not an allowed value for engine version 0.28.0"):
        check_deployment(client, "update", {"inference_engine_parameters": ["--dtype=float99"]}, Warnings(),
                                   current=CURRENT)
    assert paths(server) == ["/ai/help/inference-engine-parameters"]
    assert server.requests[0].url.params["version"] == "0.28.0"


def test_unknown_engine_version_is_refused(make_api):
    client, dummy, dummy2 = make_api(route=Router({
        ("GET", "/ai/instance-type"): json_response(200, {"instance-types": INSTANCE_TYPES}),
        ("GET", "/ai/help/inference-engine-parameters"): json_response(400, {"detail": "version: unknown"})}))
    with pytest.raises(Refused, match="inference_engine_version '9.9.9' is not known to the API"):
        check_deployment(client, "create", dict(WANTED, inference_engine_version="9.9.9"), Warnings())


def test_unreadable_config_skips_only_the_kv_estimate(make_api):
    client, dummy, dummy2 = make_api(route=routes())
    warnings = Warnings()
    gated = ExoscaleError("GET config.json: HTTP 403", status=403)
    gated.error_code = "GatedRepo"
    check_deployment(client, "create", WANTED, warnings, model=MODEL, hub_client=FakeHub(config_error=gated))
    assert len(warnings) == 1 and "config.json of meta-llama/Llama-3.1-8B-Instruct could not be read" in warnings[0]
    assert "huggingface_token" in warnings[0]
    with pytest.raises(Refused, match="do not fit"):
        check_deployment(client, "create", dict(WANTED, gpu_type="gpu3080ti"), warnings, model=MODEL,
                                   skip=["quota"], hub_client=FakeHub(config_error=gated))


def test_predicted_model_is_fitted_from_the_hub(make_api):
    """A model not uploaded yet (check mode, or created in the same play) is fitted from the Hub's metadata."""
    client, dummy, dummy2 = make_api(route=routes())
    info = {"siblings": [{"rfilename": "model.safetensors", "size": LLAMA_SIZE}]}
    hub_client, warnings = FakeHub(config=LLAMA_31_8B, info=info), Warnings()
    check_deployment(client, "create", WANTED, warnings, model={"id": None, "name": MODEL["name"]},
                     hub_client=hub_client)
    assert hub_client.calls == [("model_info", MODEL["name"]), ("config", MODEL["name"])]
    assert len(warnings) == 1 and "the KV cache for the model's max_position_embeddings" in warnings[0]
    with pytest.raises(Refused, match="do not fit"):
        check_deployment(client, "create", dict(WANTED, gpu_type="gpu3080ti"), warnings, skip=["quota"],
                         model={"id": None, "name": MODEL["name"]}, hub_client=FakeHub(config=LLAMA_31_8B, info=info))


# ---------------------------------------------------------------------------------------------------------
# Hugging Face check for models

def hub_error(status, code=None, message=None):
    error = ExoscaleError("GET /api/models/x: HTTP %d" % status, status=status)
    error.error_code, error.error_message = code, message
    return error


SAFETENSORS_INFO = {"id": "Qwen/Qwen3-8B", "gated": False,
                    "siblings": [{"rfilename": "model.safetensors", "size": 16381470720}],
                    "safetensors": {"parameters": {"BF16": 8190735360}, "total": 8190735360}}
GATED_INFO = dict(SAFETENSORS_INFO, id="meta-llama/Llama-3.1-8B-Instruct", gated="manual")
GGUF_INFO = {"id": "ggml-org/gpt-oss-20b-GGUF", "gated": False, "gguf": {"total": 20},
             "siblings": [{"rfilename": "gpt-oss-20b-mxfp4.gguf", "size": 12110000000}, {"rfilename": "README.md"}]}


def test_huggingface_model_that_is_fine():
    hub_client = FakeHub(info=SAFETENSORS_INFO)
    figures = preflight.check_huggingface_model(hub_client, "Qwen/Qwen3-8B", None, Warnings())
    assert figures == dict(check="huggingface", repo="Qwen/Qwen3-8B", gated=False, safetensors=True, size=16381470720)
    assert hub_client.calls == [("model_info", "Qwen/Qwen3-8B")]


@pytest.mark.parametrize("hub_client, token, cause, words", [
    (FakeHub(error=hub_error(404, "RepoNotFound")), None, "not_found", "has no model repository 'org/m'"),
    (FakeHub(error=hub_error(401)), "hf_x", "not_found", "has no model repository"),
    (FakeHub(error=hub_error(401, message="Invalid credentials in Authorization header")), "hf_bad", "invalid_token",
     "invalid credentials"),
    (FakeHub(info=GGUF_INFO), None, "no_safetensors", "has no safetensors weights (weights: .gguf)"),
    (FakeHub(info=GATED_INFO), None, "gated", "is gated (manual approval): set huggingface_token"),
    (FakeHub(info=GATED_INFO, config_error=hub_error(403, "GatedRepo")), "hf_x", "gated", "has no access yet"),
    (FakeHub(info=GATED_INFO, config_error=hub_error(401)), "hf_x", "gated", "has no access yet"),
])
def test_huggingface_refusals_name_the_cause(hub_client, token, cause, words):
    with pytest.raises(Refused) as caught:
        preflight.check_huggingface_model(hub_client, "org/m", token, Warnings())
    assert caught.value.details["cause"] == cause
    assert words in str(caught.value) and "preflight_skip: [huggingface]" in str(caught.value)


def test_gated_model_with_a_token_that_reads_it_passes_with_two_requests():
    hub_client = FakeHub(info=GATED_INFO, config=LLAMA_31_8B)
    assert preflight.check_huggingface_model(hub_client, "org/m", "hf_x", Warnings())["gated"] == "manual"
    assert [call[0] for call in hub_client.calls] == ["model_info", "config"]


@pytest.mark.parametrize("hub_client", [FakeHub(error=hub_error(503)), FakeHub(error=ExoscaleError("ConnectError")),
                                        FakeHub(info=GATED_INFO, config_error=hub_error(502))])
def test_unreachable_hub_warns_and_goes_on(hub_client):
    warnings = Warnings()
    preflight.check_huggingface_model(hub_client, "org/m", "hf_x", warnings)
    assert len(warnings) == 1 and "did not answer" in warnings[0]


def test_model_diagnosis_from_the_hub():
    found = preflight.model_diagnosis(FakeHub(info=GGUF_INFO), "ggml-org/gpt-oss-20b-GGUF", None)
    assert found["cause"] == "no_safetensors" and "preflight_skip" not in found["summary"]
    assert preflight.model_diagnosis(FakeHub(info=GATED_INFO, config_error=hub_error(403, "GatedRepo")), "m",
                                     "hf_x")["cause"] == "gated"
    assert preflight.model_diagnosis(FakeHub(info=SAFETENSORS_INFO), "m", None) is None
    assert preflight.model_diagnosis(FakeHub(error=hub_error(503)), "m", None) is None
