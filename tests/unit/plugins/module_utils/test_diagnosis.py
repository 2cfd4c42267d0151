# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Diagnosis of vLLM log tails: every cause, in vLLM's own wording, with the fix it names."""

import json

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils import ai, diagnosis
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline

PREFIX = "2026-11-23T10:00:01.123Z gpua5000-c5a7b1f2-0 "
STARTUP = [PREFIX + "INFO [api_server.py] vLLM API server version 0.28.0",
           PREFIX + "INFO [gpu_model_runner.py] Starting to load model meta-llama/Llama-3.1-8B-Instruct..."]
SUMMARY = PREFIX + "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}"
KV_V1 = (PREFIX + "ValueError: To serve at least one request with the models's max seq len (131072), (16.00 GiB KV"
         " cache is needed, which is larger than the available KV cache memory (9.77 GiB). Based on the available"
         " memory, the estimated maximum model length is 80000. Try increasing `gpu_memory_utilization` or decreasing"
         " `max_model_len` when initializing the engine.")
KV_V0 = (PREFIX + "ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that can"
         " be stored in KV cache (21152). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when"
         " initializing the engine.")
KV_NONE = (PREFIX + "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`"
           " when initializing the engine.")
OOM = (PREFIX + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of"
       " 23.68 GiB of which 1.02 GiB is free. Including non-PyTorch memory, this process has 22.65 GiB memory in use.")
ARCH = (PREFIX + "ValueError: Model architectures ['XForCausalLM'] are not supported for now. Supported architectures:"
        " dict_keys(['AquilaModel', 'LlamaForCausalLM', 'Qwen2ForCausalLM'])")
UNRECOGNIZED = PREFIX + "vllm: error: unrecognized arguments: --foo --bar=1"
INVALID_CHOICE = (PREFIX + "api_server.py: error: argument --dtype: invalid choice: 'float99' (choose from 'auto',"
                  " 'half', 'float16', 'bfloat16', 'float', 'float32')")
INVALID_INT = PREFIX + "vllm serve: error: argument --max-model-len: invalid human_readable_int value: 'lots'"
TOO_LONG = (PREFIX + "ValueError: User-specified max_model_len (262144) is greater than the derived max_model_len"
            " (max_position_embeddings=131072 or model_max_length=None in model's config.json). To allow overriding"
            " this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.")
GATED = (PREFIX + "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6747) Cannot access"
         " gated repo for url https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/resolve/main/config.json."
         " Access to model meta-llama/Llama-3.1-8B-Instruct is restricted. You must have access to it and be"
         " authenticated to access it. Please log in.")
NO_WEIGHTS = PREFIX + "RuntimeError: Cannot find any model weights with `/models/ggml-org/gpt-oss-20b-GGUF`"
NOT_FOUND = (PREFIX + "huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error. Repository Not Found for url:"
             " https://huggingface.co/api/models/nobody/missing.")

DEPLOYMENT = {"id": "c5a7b1f2-8c1e-4f1e-9d7e-3a2b1c0d9e8f", "name": "llama", "state": "error", "gpu-type": "gpua5000",
              "gpu-count": 1, "replicas": 1, "inference-engine-version": "0.28.0",
              "inference-engine-parameters": ["--max-model-len=131072"],
              "model": {"id": "0d9c4e1a-5b7f-4b8e-9a53-6f0e2f6a1b11", "name": "meta-llama/Llama-3.1-8B-Instruct"}}


def test_kv_cache_v1_quotes_the_length_vllm_says_fits_and_changes_the_given_flag():
    found = diagnosis.diagnose(STARTUP + [KV_V1, SUMMARY], DEPLOYMENT)
    assert found["cause"] == "kv_cache"
    assert found["max_model_len"] == 80000
    assert found["evidence"] == [KV_V1]
    assert "change --max-model-len=131072 to --max-model-len=80000" in found["fix"]
    assert "16.00 GiB needed, 9.77 GiB available" in found["summary"]


def test_kv_cache_without_the_flag_says_add_it():
    found = diagnosis.diagnose([KV_V1], dict(DEPLOYMENT, **{"inference-engine-parameters": []}))
    assert "add --max-model-len=80000" in found["fix"]


def test_kv_cache_older_wording_quotes_the_tokens_the_cache_holds():
    found = diagnosis.diagnose([KV_V0])
    assert found["cause"] == "kv_cache" and found["max_model_len"] == 21152
    assert "--max-model-len=21152" in found["fix"]


def test_no_memory_left_for_the_cache_blocks_asks_for_more_gpus():
    found = diagnosis.diagnose([KV_NONE], DEPLOYMENT)
    assert found["cause"] == "kv_cache" and "max_model_len" not in found
    assert "raise gpu_count (now 1" in found["fix"]


def test_cuda_out_of_memory_quotes_the_figures_and_names_the_options():
    found = diagnosis.diagnose(STARTUP + [OOM, SUMMARY], DEPLOYMENT)
    assert found["cause"] == "oom"
    assert "2.00 GiB requested, 1.02 GiB free of 23.68 GiB" in found["summary"]
    assert "gpu_count (now 1" in found["fix"] and "gpua5000" in found["fix"]
    assert found["evidence"] == [OOM]


def test_state_details_count_as_a_line():
    found = diagnosis.diagnose([], dict(DEPLOYMENT, **{"state-details": "CUDA out of memory"}))
    assert found["cause"] == "oom" and found["evidence"] == ["state-details: CUDA out of memory"]


def test_unsupported_architecture_names_it_and_the_engine_version():
    found = diagnosis.diagnose([ARCH, SUMMARY], DEPLOYMENT)
    assert found["cause"] == "unsupported_architecture"
    assert "'XForCausalLM'" in found["summary"] and "0.28.0" in found["summary"]
    assert "inference_engine_version" in found["fix"]


@pytest.mark.parametrize("line, words", [
    (UNRECOGNIZED, ["Remove --foo --bar=1 from inference_engine_parameters"]),
    (INVALID_CHOICE, ["Set --dtype to one of 'auto', 'half'", "(not 'float99')"]),
    (INVALID_INT, ["Correct the value of --max-model-len"]),
])
def test_engine_argument(line, words):
    found = diagnosis.diagnose(STARTUP + [line], DEPLOYMENT)
    assert found["cause"] == "engine_argument" and found["evidence"] == [line]
    for word in words:
        assert word in found["fix"]


def test_max_model_len_above_the_model_maximum_names_the_maximum():
    deployment = dict(DEPLOYMENT, **{"inference-engine-parameters": ["--max-model-len=256k"]})
    found = diagnosis.diagnose([TOO_LONG, SUMMARY], deployment)
    assert found["cause"] == "engine_argument" and found["max_model_len"] == 131072
    assert "change --max-model-len=256k to --max-model-len=131072 or lower" in found["fix"]


def test_gated_download():
    found = diagnosis.diagnose(STARTUP + [GATED, SUMMARY], DEPLOYMENT)
    assert found["cause"] == "gated" and found["evidence"] == [GATED]
    assert "huggingface_token" in found["fix"] and "meta-llama/Llama-3.1-8B-Instruct" in found["fix"]


def test_no_safetensors():
    found = diagnosis.diagnose([NO_WEIGHTS, SUMMARY])
    assert found["cause"] == "no_safetensors" and "safetensors" in found["fix"]


def test_repository_not_found():
    assert diagnosis.diagnose([NOT_FOUND])["cause"] == "not_found"


def test_unknown_keeps_the_last_lines():
    lines = ["%sINFO line %d" % (PREFIX, index) for index in range(12)] + [SUMMARY]
    found = diagnosis.diagnose(lines)
    assert found["cause"] == "unknown"
    assert found["evidence"] == lines[-diagnosis.MAX_EVIDENCE_LINES:]


def test_nothing_at_all_is_unknown_with_no_evidence():
    assert diagnosis.diagnose([]) == dict(diagnosis.diagnose(None), cause="unknown", evidence=[])


def test_an_argument_error_wins_over_a_memory_message_next_to_it():
    assert diagnosis.diagnose([OOM, UNRECOGNIZED])["cause"] == "engine_argument"
    assert diagnosis.diagnose([OOM, GATED])["cause"] == "gated"


def test_evidence_lines_are_bounded_and_deduplicated():
    found = diagnosis.diagnose([OOM] * 3 + [OOM.replace("2.00", "%d.00" % n) for n in range(3, 12)])
    assert len(found["evidence"]) == diagnosis.MAX_EVIDENCE_LINES
    assert len(set(found["evidence"])) == len(found["evidence"])
    long_line = PREFIX + "x" * 5000
    assert len(diagnosis.diagnose([long_line])["evidence"][0]) <= diagnosis.MAX_LINE_CHARS + 4


def test_describe_says_cause_and_fix():
    text = diagnosis.describe(diagnosis.diagnose([KV_V1]))
    assert text.startswith("Cause (kv_cache): ") and "Fix: " in text


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.lists(st.text(max_size=200), max_size=30))
def test_any_log_gives_a_known_cause(lines):
    found = diagnosis.diagnose(lines)
    assert found["cause"] in diagnosis.CAUSES
    assert set(found) >= {"cause", "summary", "evidence", "fix"}
    assert all(line.strip() for line in found["evidence"])


# ---------------------------------------------------------------------------------------------------------
# ai.py: a deployment in error, and a wait that timed out, carry the diagnosis (fake server, fake clock)

def _deployment_routes(states, log_lines):
    answers = list(states)

    def route(request):
        if request.url.path.endswith("/logs"):
            assert request.url.params["tail"] == str(ai.DIAGNOSIS_LOG_LINES)
            entries = [{"time": "t", "node": "n", "message": line} for line in log_lines]
            return httpx.Response(200, content=json.dumps({"logs": entries}).encode(),
                                  headers={"Content-Type": "application/json"})
        state = answers.pop(0) if len(answers) > 1 else answers[0]
        body = dict(DEPLOYMENT, state=state)
        return httpx.Response(200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return route


def test_a_wait_that_times_out_diagnoses_the_log(make_api, clock):
    client, dummy, dummy2 = make_api(route=_deployment_routes(["deploying"], STARTUP + [OOM]), sleep=clock.sleep)
    with pytest.raises(ai.ResourceWaitTimeout) as caught:
        ai.wait_deployment_ready(client, DEPLOYMENT["id"], Deadline(60, clock=clock))
    assert caught.value.diagnosis["cause"] == "oom"
    assert "Raise wait_timeout" in str(caught.value) and "Cause (oom)" in str(caught.value)


def test_a_wait_that_times_out_with_a_quiet_log_keeps_its_message(make_api, clock):
    client, dummy, dummy2 = make_api(route=_deployment_routes(["deploying"], STARTUP), sleep=clock.sleep)
    with pytest.raises(ai.ResourceWaitTimeout) as caught:
        ai.wait_deployment_ready(client, DEPLOYMENT["id"], Deadline(60, clock=clock))
    assert caught.value.diagnosis["cause"] == "unknown" and "Cause (" not in str(caught.value)


def test_a_deployment_in_error_says_cause_and_fix_before_the_log_lines(make_api, clock):
    client, dummy, dummy2 = make_api(route=_deployment_routes(["deploying", "error"], STARTUP + [KV_V1, SUMMARY]),
                                     sleep=clock.sleep)
    with pytest.raises(ai.ResourceFailed) as caught:
        ai.wait_deployment_ready(client, DEPLOYMENT["id"], Deadline(600, clock=clock))
    message = str(caught.value)
    assert caught.value.diagnosis["cause"] == "kv_cache" and caught.value.diagnosis["max_model_len"] == 80000
    assert message.index("Cause (kv_cache)") < message.index("Last log lines:") < message.index(SUMMARY)
    assert "recreate=true" in message
