"""Static knowledge of the simulated world: zones, Hugging Face repos, GPU families, engine flags, timings."""

ZONES = ("at-vie-1", "at-vie-2", "bg-sof-1", "ch-dk-2", "ch-gva-2", "de-fra-1", "de-muc-1", "hr-zag-1")
DEFAULT_ZONE = "ch-gva-2"
ORG_UUID = "5e8d2b0c-9a4f-4c1e-8a53-0d7c6b2f9e11"

GB = 1_000_000_000

# Hugging Face repos the simulated Hub and downloader know (hub.py serves them under /hf).
# size: bytes of the weights (safetensors, or the GGUF files); gated: False, "auto" or "manual" (needs a
# huggingface-token with access, see hub_token_access); format "gguf": no safetensors, so the download ends
# in error; parameters: the Hub's `safetensors.parameters` (elements per dtype; gpt-oss's MXFP4 blocks are
# U8, counts approximate); config: the repo's real config.json values (the keys vLLM and the KV-cache
# estimate read; gemma-3 nests the text model under text_config as the real file does).
_QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu", "rope_theta": 1000000.0,
          "max_position_embeddings": 32768, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-06, "sliding_window": 32768,
          "use_sliding_window": False, "bos_token_id": 151643, "eos_token_id": 151645}
_LLAMA3 = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "rope_theta": 500000.0,
           "max_position_embeddings": 131072, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-05, "vocab_size": 128256,
           "num_attention_heads": 32, "num_key_value_heads": 8, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
           "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
_GPT_OSS = {"architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880,
            "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "max_position_embeddings": 131072,
            "initial_context_length": 4096, "sliding_window": 128, "num_experts_per_tok": 4, "vocab_size": 201088,
            "torch_dtype": "bfloat16", "rope_theta": 150000, "quantization_config": {"quant_method": "mxfp4"},
            "rope_scaling": {"factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0, "rope_type": "yarn",
                             "original_max_position_embeddings": 4096}}

MODELS = {
    "openai/gpt-oss-120b": {"size": 65_250_000_000, "license": "apache-2.0", "parameters": {"BF16": 2_167_920_000, "U8": 60_914_160_000},
                            "config": dict(_GPT_OSS, num_hidden_layers=36, num_local_experts=128)},
    "openai/gpt-oss-20b": {"size": 13_760_000_000, "license": "apache-2.0", "parameters": {"BF16": 1_804_459_584, "U8": 10_151_080_832},
                           "config": dict(_GPT_OSS, num_hidden_layers=24, num_local_experts=32)},
    "Qwen/Qwen2.5-0.5B-Instruct": {"size": 988_097_824, "license": "apache-2.0", "parameters": {"BF16": 494_032_768},
                                   "config": dict(_QWEN2, hidden_size=896, intermediate_size=4864, num_attention_heads=14,
                                                  num_hidden_layers=24, num_key_value_heads=2, vocab_size=151936,
                                                  tie_word_embeddings=True, max_window_layers=21)},
    "Qwen/Qwen2.5-1.5B-Instruct": {"size": 3_087_467_144, "license": "apache-2.0", "parameters": {"BF16": 1_543_714_304},
                                   "config": dict(_QWEN2, hidden_size=1536, intermediate_size=8960, num_attention_heads=12,
                                                  num_hidden_layers=28, num_key_value_heads=2, vocab_size=151936,
                                                  tie_word_embeddings=True, max_window_layers=21)},
    "Qwen/Qwen2.5-7B-Instruct": {"size": 15_231_233_024, "license": "apache-2.0", "parameters": {"BF16": 7_615_616_512},
                                 "config": dict(_QWEN2, hidden_size=3584, intermediate_size=18944, num_attention_heads=28,
                                                num_hidden_layers=28, num_key_value_heads=4, vocab_size=152064,
                                                tie_word_embeddings=False, max_window_layers=28)},
    "Qwen/Qwen3-8B": {"size": 16_381_470_720, "license": "apache-2.0", "parameters": {"BF16": 8_190_735_360},
                      "config": {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 4096,
                                 "intermediate_size": 12288, "num_attention_heads": 32, "num_hidden_layers": 36,
                                 "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 40960,
                                 "torch_dtype": "bfloat16", "vocab_size": 151936, "rope_theta": 1000000, "rms_norm_eps": 1e-06,
                                 "tie_word_embeddings": False, "hidden_act": "silu", "bos_token_id": 151643, "eos_token_id": 151645}},
    "mistralai/Mistral-7B-Instruct-v0.3": {"size": 14_496_047_104, "license": "apache-2.0", "parameters": {"BF16": 7_248_023_552},
                                           "config": {"architectures": ["MistralForCausalLM"], "model_type": "mistral",
                                                      "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
                                                      "num_hidden_layers": 32, "num_key_value_heads": 8,
                                                      "max_position_embeddings": 32768, "torch_dtype": "bfloat16",
                                                      "vocab_size": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-05,
                                                      "sliding_window": None, "tie_word_embeddings": False, "hidden_act": "silu",
                                                      "bos_token_id": 1, "eos_token_id": 2}},
    "google/gemma-3-4b-it": {"size": 8_600_158_944, "gated": "manual", "license": "gemma", "parameters": {"BF16": 4_300_079_472},
                             "config": {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                                        "torch_dtype": "bfloat16", "mm_tokens_per_image": 256,
                                        "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
                                                        "num_attention_heads": 8, "num_hidden_layers": 34, "num_key_value_heads": 4,
                                                        "head_dim": 256, "max_position_embeddings": 131072, "sliding_window": 1024,
                                                        "vocab_size": 262208, "rope_theta": 1000000.0,
                                                        "rope_scaling": {"factor": 8.0, "rope_type": "linear"}},
                                        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "image_size": 896,
                                                          "num_hidden_layers": 27, "patch_size": 14}}},
    "meta-llama/Llama-3.1-8B-Instruct": {"size": 16_060_522_496, "gated": "manual", "license": "llama3.1",
                                         "parameters": {"BF16": 8_030_261_248},
                                         "config": dict(_LLAMA3, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                                        head_dim=128, tie_word_embeddings=False)},
    "meta-llama/Llama-3.2-1B-Instruct": {"size": 2_471_645_608, "gated": "manual", "license": "llama3.2",
                                         "parameters": {"BF16": 1_235_814_400},
                                         "config": dict(_LLAMA3, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                                                        head_dim=64, tie_word_embeddings=True,
                                                        rope_scaling=dict(_LLAMA3["rope_scaling"], factor=32.0))},
    # vLLM has no T5 (encoder-decoder) support: deploying it fails with "architectures ... are not supported".
    "google-t5/t5-small": {"size": 242_041_896, "license": "apache-2.0", "parameters": {"F32": 60_506_624},
                           "config": {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": 512,
                                      "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_heads": 8, "n_positions": 512,
                                      "vocab_size": 32128, "is_encoder_decoder": True, "feed_forward_proj": "relu"}},
    "ggml-org/gpt-oss-120b-GGUF": {"size": 63_390_000_000, "format": "gguf", "license": "apache-2.0",
                                   "gguf": {"total": 116_829_156_672, "architecture": "gpt-oss", "context_length": 131072}},
    "ggml-org/gpt-oss-20b-GGUF": {"size": 12_110_000_000, "format": "gguf", "license": "apache-2.0",
                                  "gguf": {"total": 20_914_757_184, "architecture": "gpt-oss", "context_length": 131072}},
}

# Architectures the simulated vLLM refuses ("Model architectures [...] are not supported for now").
UNSUPPORTED_ARCHITECTURES = ("T5ForConditionalGeneration",)

# Hugging Face tokens: which ones the simulated Hub accepts and what they may read (documented in README).
HUB_TOKEN_PREFIX = "hf_"
HUB_TOKEN_MIN_LENGTH = 8
HUB_NO_ACCESS_PREFIX = "hf_noaccess"


def hub_token_access(token):
    """"none" (no token), "invalid", "public" (valid, no gated repo granted) or "gated" (valid, every gated repo)."""
    if not token:
        return "none"
    if not token.startswith(HUB_TOKEN_PREFIX) or len(token) < HUB_TOKEN_MIN_LENGTH:
        return "invalid"
    return "public" if token.startswith(HUB_NO_ACCESS_PREFIX) else "gated"


# GPU memory per family, nominal GB (source: Exoscale's GPU offers, collected in the project's API facts:
# gpu3080ti RTX 3080 Ti 12 GB, gpua5000 RTX A5000 24 GB, gpua30 A30 24 GB, gpu3 A40 48 GB,
# gpurtx6000pro RTX PRO 6000 Blackwell 96 GB, gpu2 V100 16 GB, gpu P100 16 GB).
GPU_MEMORY_GB = {"gpu3080ti": 12, "gpua5000": 24, "gpua30": 24, "gpu3": 48, "gpurtx6000pro": 96, "gpu2": 16, "gpu": 16}

# GPU families offered in every zone by default ("uniform"): memory per GPU (bytes) and the initial inventory.
GPU_FAMILIES = {
    "gpua5000": {"memory": GPU_MEMORY_GB["gpua5000"] * GB, "free": 16, "authorized": True},
    "gpu3080ti": {"memory": GPU_MEMORY_GB["gpu3080ti"] * GB, "free": 8, "authorized": True},
    "gpurtx6000pro": {"memory": GPU_MEMORY_GB["gpurtx6000pro"] * GB, "free": 8, "authorized": True},
    "gpu3": {"memory": GPU_MEMORY_GB["gpu3"] * GB, "free": 0, "authorized": False},
}
MAX_GPU_COUNT = 8

# Per-zone presets of the GPU families (POST /_sim/zones {"preset": NAME}); zones a preset does not name keep the
# uniform GPU_FAMILIES. "exoscale-2026" is the example of Exoscale's "Limits and Quotas" page (2026,
# `exo dedicated-inference deployment instance-type`): gpu3080ti and gpua5000 in at-vie-2, gpurtx6000pro not
# authorized in ch-dk-2 (no signed GPU end-user certificate), gpu3 and gpurtx6000pro in de-fra-1, gpurtx6000pro in
# hr-zag-1. Capacities are the simulator's choice (the page gives none).
ZONE_PRESETS = {
    "exoscale-2026": {
        "at-vie-2": {"gpu3080ti": {"free": 8, "authorized": True}, "gpua5000": {"free": 16, "authorized": True}},
        "ch-dk-2": {"gpurtx6000pro": {"free": 8, "authorized": False}},
        "de-fra-1": {"gpu3": {"free": 8, "authorized": True}, "gpurtx6000pro": {"free": 8, "authorized": True}},
        "hr-zag-1": {"gpurtx6000pro": {"free": 8, "authorized": True}},
    },
}

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
