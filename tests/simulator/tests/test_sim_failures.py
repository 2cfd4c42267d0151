"""vLLM start-up failures driven by the memory model, in vLLM's wording, and forced through the control API."""
import re

import pytest

from exoscale_ai_simulator import catalogue, engine
from exoscale_ai_simulator.control import SimulatorControl

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN7 = "Qwen/Qwen2.5-7B-Instruct"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SUMMARY = "RuntimeError: Engine core initialization failed. See root cause above."


@pytest.fixture
def control(server):
    return SimulatorControl(server.url)


def model(api, name):
    operation = api.ok("POST", "/ai/model", {"name": name, "huggingface-token": "hf_failuretests"})
    api.wait_operation(operation)
    ready = api.wait_state("model", operation["reference"]["id"], ("ready", "error"), timeout=20)
    assert ready["state"] == "ready", ready
    return ready


def deploy(api, name, parameters=(), gpu_type="gpua5000", gpu_count=1, dep_name="dep"):
    """The deployment once it is ready or in error, with its log messages."""
    fields = {"gpu-type": gpu_type, "gpu-count": gpu_count, "inference-engine-parameters": list(parameters)}
    deployment = api.ready_deployment(model(api, name), name=dep_name, **fields)
    logs = [line["message"] for line in api.ok("GET", f"/ai/deployment/{deployment['id']}/logs")["logs"]]
    return deployment, logs


def root_cause(logs, details):
    """The log line that carries the state-details (vLLM's process prefix before it)."""
    return next(line for line in logs if line.endswith(details))


def test_weights_larger_than_the_gpus_are_cuda_out_of_memory(api):
    deployment, logs = deploy(api, "openai/gpt-oss-20b", gpu_type="gpu3080ti")
    assert deployment["state"] == "error"
    details = deployment["state-details"]
    assert details.startswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate ")
    assert "GPU 0 has a total capacity of 11.84 GiB of which" in details
    assert logs[-1] == f"(APIServer pid=1) {SUMMARY} Failed core proc(s): {{}}"
    assert re.match(r"^\(EngineCore_DP0 pid=\d+\) ERROR \d\d-\d\d \d\d:\d\d:\d\d \[core\.py:\d+\] torch\.OutOfMemoryError", logs[-2])
    assert any("EngineCore failed to start." in line for line in logs)
    assert not any("Available KV cache memory" in line for line in logs)


def test_kv_cache_too_small_for_the_default_max_model_len(api):
    deployment, logs = deploy(api, LLAMA)
    report = engine.memory_report(LLAMA, "gpua5000", 1)
    assert deployment["state"] == "error"
    details = deployment["state-details"]
    # 2 x 32 layers x 8 KV heads x 128 x 2 bytes = 128 KiB per token, x 131072 tokens = 16 GiB.
    assert report["kv_bytes_per_token"] == 131072 and report["kv_needed_gib"] == 16.0
    expected = int(report["kv_available_gib"] * 2 ** 30 / 131072 / 16) * 16
    assert (f"ValueError: To serve at least one request with the models's max seq len (131072), (16.00 GiB KV cache is needed, which "
            f"is larger than the available KV cache memory ({report['kv_available_gib']:.2f} GiB). Based on the available memory, "
            f"the estimated maximum model length is {report['estimated_max_model_len']}.") in details
    assert abs(report["estimated_max_model_len"] - expected) <= 64 and 30000 < expected < 40000  # the report rounds GiB to 0.01
    assert f"Available KV cache memory: {report['kv_available_gib']:.2f} GiB" in "\n".join(logs)
    assert logs[-1].endswith(SUMMARY + " Failed core proc(s): {}") and root_cause(logs, details)


def test_max_model_len_that_fits_is_ready_and_patching_it_restarts(api):
    deployment, logs = deploy(api, LLAMA, ["--max-model-len=8192"])
    assert deployment["state"] == "ready", deployment
    assert any("GPU KV cache size:" in line for line in logs) and any("Using max model len 8192" in line for line in logs)
    # A restart with a longer context fails, a shorter one serves again.
    api.wait_operation(api.ok("PATCH", f"/ai/deployment/{deployment['id']}", {"inference-engine-parameters": ["--max-model-len=131072"]}))
    failed = api.wait_state("deployment", deployment["id"], ("ready", "error"))
    assert failed["state"] == "error" and "max seq len (131072)" in failed["state-details"]
    api.wait_operation(api.ok("PATCH", f"/ai/deployment/{deployment['id']}", {"inference-engine-parameters": ["--max-model-len=16384"]}))
    assert api.wait_state("deployment", deployment["id"], ("ready", "error"))["state"] == "ready"


def test_gpu_memory_utilization_and_kv_cache_dtype_are_honoured(api):
    lower = engine.memory_report(QWEN7, "gpua5000", 1, ["--gpu-memory-utilization=0.7"])
    assert lower["budget_gib"] == pytest.approx(23.68 * 0.7, abs=0.01)
    deployment, _logs = deploy(api, QWEN7, ["--gpu-memory-utilization=0.7"], dep_name="tight")
    assert deployment["state"] == "error" and "available KV cache memory (0.89 GiB)" in deployment["state-details"]
    deployment, _logs = deploy(api, QWEN7, ["--gpu-memory-utilization=0.7", "--kv-cache-dtype=fp8"], dep_name="fp8")
    assert deployment["state"] == "ready"
    assert engine.memory_report(QWEN7, "gpua5000", 1, ["--kv-cache-dtype=fp8"])["kv_bytes_per_token"] * 2 == lower["kv_bytes_per_token"]
    none_left = engine.startup(QWEN7, "gpua5000", 1, ["--gpu-memory-utilization=0.65"], "0.28.0")
    assert none_left["cause"] == "kv_cache" and none_left["details"].startswith("ValueError: No available memory for the cache blocks.")


def test_tensor_parallel_over_gpu_count(api):
    deployment, logs = deploy(api, "openai/gpt-oss-20b", ["--max-model-len=32768"], gpu_type="gpu3080ti", gpu_count=2)
    assert deployment["state"] == "ready", deployment
    assert any("'tensor_parallel_size': 2" in line for line in logs)


def test_unsupported_architecture(api):
    deployment, logs = deploy(api, "google-t5/t5-small")
    assert deployment["state"] == "error"
    assert deployment["state-details"].startswith("ValueError: Model architectures ['T5ForConditionalGeneration'] are not supported for now.")
    assert logs[-1].startswith("(APIServer pid=1) ValueError: Model architectures") and not any(SUMMARY in line for line in logs)


def test_invalid_engine_argument_values(api):
    deployment, logs = deploy(api, QWEN, ["--max-model-len=lots"])
    assert deployment["state"] == "error"
    assert deployment["state-details"] == "vllm: error: argument --max-model-len: invalid human_readable_int value: 'lots'"
    assert logs[-2:] == ["(APIServer pid=1) usage: vllm serve [model_tag] [options]", "(APIServer pid=1) " + deployment["state-details"]]
    longer, _logs = deploy(api, QWEN, ["--max-model-len=65536"], dep_name="long")
    assert longer["state"] == "error" and "User-specified max_model_len (65536) is greater than the derived max_model_len " \
        "(max_position_embeddings=32768" in longer["state-details"]


@pytest.mark.parametrize("cause", engine.CAUSES)
def test_each_cause_can_be_forced_on_a_named_deployment(api, control, cause):
    control.force_failure(cause, deployment="doomed")
    assert control.failures() == [{"deployment": "doomed", "cause": cause, "count": 1}]
    deployment, logs = deploy(api, QWEN, dep_name="doomed")
    assert deployment["state"] == "error", deployment
    details = deployment["state-details"]
    wording = {"out_of_memory": "CUDA out of memory", "kv_cache": "estimated maximum model length is 16384",
               "unsupported_architecture": "Model architectures ['Qwen2ForCausalLM'] are not supported",
               "unknown_argument": "vllm: error: unrecognized arguments: --foo",
               "invalid_argument": "vllm: error: argument --max-model-len: invalid",
               "gated": "huggingface_hub.errors.GatedRepoError: 401 Client Error", "no_safetensors": "Cannot find any model weights"}[cause]
    assert wording in details and any(wording in line for line in logs)
    assert (logs[-1].endswith(SUMMARY + " Failed core proc(s): {}")) == (cause in ("out_of_memory", "kv_cache", "no_safetensors"))
    assert control.failures() == []
    # Only the named deployment, only once.
    other, _logs = deploy(api, QWEN, dep_name="doomed")
    assert other["state"] == "ready"


def test_error_with_cause_on_an_existing_deployment_and_reset(api, control):
    deployment, _logs = deploy(api, QWEN)
    answer = control.error_deployment(deployment["id"], cause="kv_cache")
    current = api.ok("GET", f"/ai/deployment/{deployment['id']}")
    assert current["state"] == "error" and current["state-details"] == answer["state_details"]
    assert "KV cache is needed" in current["state-details"]
    logs = [line["message"] for line in api.ok("GET", f"/ai/deployment/{deployment['id']}/logs")["logs"]]
    assert logs[-1].endswith(SUMMARY + " Failed core proc(s): {}") and "KV cache is needed" in logs[-2]
    with pytest.raises(RuntimeError, match="allowed values"):
        control.error_deployment(deployment["id"], cause="cosmic-rays")
    with pytest.raises(RuntimeError, match="allowed values"):
        control.force_failure("cosmic-rays", deployment="x")
    control.force_failure("gated", model=QWEN, count=2)
    control.reset()
    assert control.failures() == []


@pytest.mark.parametrize("cause,fails_after", [("not_found", "creating"), ("gated", "creating"), ("no_safetensors", "downloading")])
def test_model_causes_can_be_forced(api, control, server, cause, fails_after):
    control.force_failure(cause, model=QWEN)
    operation = api.ok("POST", "/ai/model", {"name": QWEN})
    final = api.wait_state("model", operation["reference"]["id"], ("ready", "error"))
    assert final["state"] == "error"
    stored = server.store.zones["ch-gva-2"]["models"][final["id"]]
    assert (stored["download_until"] > stored["creating_until"]) == (fails_after == "downloading")
    assert model(api, QWEN)["state"] == "ready"


def test_generic_forced_error_keeps_the_old_wording(api, control):
    deployment, _logs = deploy(api, QWEN)
    control.error_deployment(deployment["id"], "GPU fell off the bus")
    logs = [line["message"] for line in api.ok("GET", f"/ai/deployment/{deployment['id']}/logs")["logs"]]
    assert "EngineCore failed to start: GPU fell off the bus" in logs[-2] and logs[-1].endswith(SUMMARY + " Failed core proc(s): {}")


def test_memory_table_covers_every_family_with_a_source():
    assert set(catalogue.GPU_MEMORY_GB) == {"gpu3080ti", "gpua5000", "gpua30", "gpu3", "gpurtx6000pro", "gpu2", "gpu"}
    assert all(catalogue.GPU_FAMILIES[family]["memory"] == catalogue.GPU_MEMORY_GB[family] * catalogue.GB for family in catalogue.GPU_FAMILIES)
    assert engine.memory_report(QWEN, "gpua5000", 1)["capacity_gib"] == 23.68
