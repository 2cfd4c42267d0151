"""Static knowledge of the simulated world: zones, Hugging Face repos, GPU families, engine flags, timings."""

ZONES = ("at-vie-1", "at-vie-2", "bg-sof-1", "ch-dk-2", "ch-gva-2", "de-fra-1", "de-muc-1", "hr-zag-1")
DEFAULT_ZONE = "ch-gva-2"
ORG_UUID = "5e8d2b0c-9a4f-4c1e-8a53-0d7c6b2f9e11"

GB = 1_000_000_000

# Hugging Face repos the simulated downloader knows. size: bytes of safetensors weights.
# gated: needs a huggingface-token; format "gguf": no safetensors, so the download ends in error.
MODELS = {
    "openai/gpt-oss-120b": {"size": 65_250_000_000},
    "openai/gpt-oss-20b": {"size": 13_760_000_000},
    "Qwen/Qwen2.5-0.5B-Instruct": {"size": 988_097_824},
    "Qwen/Qwen2.5-1.5B-Instruct": {"size": 3_087_467_144},
    "Qwen/Qwen2.5-7B-Instruct": {"size": 15_231_233_024},
    "Qwen/Qwen3-8B": {"size": 16_381_470_720},
    "mistralai/Mistral-7B-Instruct-v0.3": {"size": 14_496_047_104},
    "google/gemma-3-4b-it": {"size": 8_600_000_000, "gated": True},
    "meta-llama/Llama-3.1-8B-Instruct": {"size": 16_060_522_496, "gated": True},
    "meta-llama/Llama-3.2-1B-Instruct": {"size": 2_471_645_608, "gated": True},
    "ggml-org/gpt-oss-120b-GGUF": {"size": 63_390_000_000, "format": "gguf"},
    "ggml-org/gpt-oss-20b-GGUF": {"size": 12_110_000_000, "format": "gguf"},
}

# GPU families: memory per GPU (bytes) and the initial inventory of every zone.
GPU_FAMILIES = {
    "gpua5000": {"memory": 24 * GB, "free": 16, "authorized": True},
    "gpu3080ti": {"memory": 12 * GB, "free": 8, "authorized": True},
    "gpurtx6000pro": {"memory": 96 * GB, "free": 8, "authorized": True},
    "gpu3": {"memory": 48 * GB, "free": 0, "authorized": False},
}
MAX_GPU_COUNT = 8

# Seconds at speed 1; every duration is divided by the speed.
TIMINGS = {
    "operation": 1.0,
    "model_creating": 2.0,
    "model_download_base": 3.0,
    "model_download_per_gb": 0.9,
    "deployment_creating": 5.0,
    "deployment_preparing": 15.0,
    "deployment_deploying": 40.0,
    "deployment_scaling": 10.0,
    "deployment_updating": 20.0,
}

ENGINE_VERSIONS = ("0.12.0", "0.15.1", "0.16.0", "0.17.0", "0.18.0", "0.18.1", "0.19.0", "0.19.1", "0.20.0", "0.20.1",
                   "0.20.2", "0.21.0", "0.22.0", "0.22.1", "0.23.0", "0.24.0", "0.25.0", "0.25.1", "0.26.0", "0.27.0",
                   "0.27.1", "0.28.0")
DEFAULT_ENGINE_VERSION = "0.28.0"


def _param(name, flags, kind, default, description, section, allowed=None, since=None):
    return {"name": name, "flags": flags, "type": kind, "default": default, "allowed-values": allowed or [],
            "description": description, "section": section, "since": since}


ENGINE_PARAMETERS = [
    _param("max_model_len", ["--max-model-len"], "int", "", "Model context length (prompt and output). Defaults to the model config.",
           "ModelConfig"),
    _param("dtype", ["--dtype"], "choice", "auto", "Data type for model weights and activations.", "ModelConfig",
           ["auto", "bfloat16", "float", "float16", "float32", "half"]),
    _param("quantization", ["--quantization", "-q"], "choice", "", "Method used to quantize the weights.", "ModelConfig",
           ["awq", "bitsandbytes", "compressed-tensors", "fp8", "gptq", "marlin", "mxfp4"]),
    _param("enforce_eager", ["--enforce-eager"], "bool", "false", "Always use eager-mode PyTorch instead of CUDA graphs.", "ModelConfig"),
    _param("trust_remote_code", ["--trust-remote-code"], "bool", "false", "Trust remote code from Hugging Face.", "ModelConfig"),
    _param("seed", ["--seed"], "int", "0", "Random seed for reproducibility.", "ModelConfig"),
    _param("tokenizer_mode", ["--tokenizer-mode"], "choice", "auto", "Tokenizer mode.", "ModelConfig", ["auto", "mistral", "slow"]),
    _param("served_model_name", ["--served-model-name"], "str", "", "The model name(s) used in the API.", "ModelConfig"),
    _param("generation_config", ["--generation-config"], "str", "auto", "Folder path to the generation config.", "ModelConfig"),
    _param("tensor_parallel_size", ["--tensor-parallel-size", "-tp"], "int", "1", "Number of tensor parallel groups.", "ParallelConfig"),
    _param("pipeline_parallel_size", ["--pipeline-parallel-size", "-pp"], "int", "1", "Number of pipeline parallel groups.",
           "ParallelConfig"),
    _param("gpu_memory_utilization", ["--gpu-memory-utilization"], "float", "0.9", "Fraction of GPU memory used by the model executor.",
           "CacheConfig"),
    _param("kv_cache_dtype", ["--kv-cache-dtype"], "choice", "auto", "Data type for kv cache storage.", "CacheConfig",
           ["auto", "fp8", "fp8_e4m3", "fp8_e5m2"]),
    _param("enable_prefix_caching", ["--enable-prefix-caching", "--no-enable-prefix-caching"], "bool", "true",
           "Whether to enable prefix caching.", "CacheConfig"),
    _param("swap_space", ["--swap-space"], "float", "4", "CPU swap space size (GiB) per GPU.", "CacheConfig"),
    _param("max_num_seqs", ["--max-num-seqs"], "int", "256", "Maximum number of sequences per iteration.", "SchedulerConfig"),
    _param("max_num_batched_tokens", ["--max-num-batched-tokens"], "int", "", "Maximum number of tokens per iteration.", "SchedulerConfig"),
    _param("enable_chunked_prefill", ["--enable-chunked-prefill", "--no-enable-chunked-prefill"], "bool", "",
           "Chunk prefill requests based on max_num_batched_tokens.", "SchedulerConfig"),
    _param("async_scheduling", ["--async-scheduling"], "bool", "false", "Schedule the next step while the current one runs.",
           "SchedulerConfig", since="0.20.0"),
    _param("enable_auto_tool_choice", ["--enable-auto-tool-choice"], "bool", "false", "Enable auto tool choice for supported models.",
           "Frontend"),
    _param("tool_call_parser", ["--tool-call-parser"], "choice", "", "Tool call parser for the model.", "Frontend",
           ["hermes", "llama3_json", "mistral", "openai", "pythonic"]),
    _param("reasoning_parser", ["--reasoning-parser"], "choice", "", "Reasoning parser for the model.", "Frontend",
           ["deepseek_r1", "openai_gptoss", "qwen3"], since="0.18.0"),
    _param("chat_template", ["--chat-template"], "str", "", "The file path or inline chat template.", "Frontend"),
    _param("limit_mm_per_prompt", ["--limit-mm-per-prompt"], "str", "", "Maximum input items per prompt for each modality.",
           "MultiModalConfig"),
]


def _version_key(version):
    return tuple(int(part) for part in version.split("."))


def engine_parameters(version):
    """The help entries for an engine version (parameters introduced later are absent)."""
    entries = []
    for entry in ENGINE_PARAMETERS:
        if entry["since"] and _version_key(version) < _version_key(entry["since"]):
            continue
        entries.append({key: value for key, value in entry.items() if key != "since"})
    return entries


def engine_flags(version):
    """Map every flag of a version to its help entry."""
    return {flag: entry for entry in engine_parameters(version) for flag in entry["flags"]}


# Exoscale-managed public deployments present in every zone (stable ids per zone).
PUBLIC_DEPLOYMENTS = [
    {"name": "gpt-oss-120b", "model": "openai/gpt-oss-120b", "gpu-type": "gpurtx6000pro", "gpu-count": 1, "replicas": 2},
    {"name": "qwen3-8b", "model": "Qwen/Qwen3-8B", "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1},
]
