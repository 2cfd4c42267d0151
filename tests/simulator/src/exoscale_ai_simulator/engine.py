"""The simulated vLLM engine start-up: memory model (weights and KV cache against GPU memory) and the
failures vLLM reports, in its own wording, with the log lines it prints (README: "Memory model and vLLM
start-up failures").

Everything here is a pure function of the model, the GPUs and the engine parameters, so the collection's
preflight and diagnosis can be checked against the same numbers.
"""
import hashlib
import math

from . import catalogue

GIB = 2 ** 30
CUDA_VISIBLE = 0.98667  # CUDA reports a "24 GB" card as 23.68 GiB
DEFAULT_UTILIZATION = 0.9
RESERVE_GIB_PER_GPU = 1.5  # activation peak of the profiling run, CUDA graphs, non-torch allocations
BLOCK_SIZE = 16  # vLLM's KV-cache block: the estimated maximum model length is a multiple of it

CAUSES = ("out_of_memory", "kv_cache", "unsupported_architecture", "unknown_argument", "invalid_argument", "gated", "no_safetensors")
MODEL_CAUSES = ("not_found", "gated", "no_safetensors")

API = "APIServer pid=1"
CORE = "EngineCore_DP0 pid=282"
SUMMARY = "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}"
USAGE = "usage: vllm serve [model_tag] [options]"


def parse_parameters(parameters):
    """{flag: value or None} of inference-engine-parameters entries ("--flag=value", "--flag value", "--flag")."""
    parsed = {}
    for entry in parameters:
        text = entry.strip()
        flag, _sep, value = text.partition("=") if "=" in text else text.partition(" ")
        parsed[flag.strip()] = value.strip() or None
    return parsed


def text_config(config):
    """The language model's part of a config.json (multimodal configs nest it under text_config)."""
    return config.get("text_config") or config


def kv_bytes_per_token(config, kv_cache_dtype=None):
    """2 (K and V) x layers x KV heads x head size x bytes per element, or None when config.json lacks them."""
    text = text_config(config)
    layers, heads = text.get("num_hidden_layers"), text.get("num_attention_heads")
    if not layers or not heads:
        return None
    kv_heads = text.get("num_key_value_heads") or heads
    head_dim = text.get("head_dim") or text["hidden_size"] // heads
    dtype = config.get("torch_dtype") or text.get("torch_dtype") or "bfloat16"
    element = 1 if (kv_cache_dtype or "").startswith("fp8") else (4 if dtype == "float32" else 2)
    return 2 * layers * kv_heads * head_dim * element


def memory_report(model_name, gpu_type, gpu_count, parameters=(), model_size=None):
    """The engine's memory figures for this model on gpu_count GPUs of gpu_type with these parameters (GiB unless named)."""
    known = catalogue.MODELS.get(model_name, {})
    config = known.get("config", {})
    size = known.get("size", 0) if model_size is None else model_size
    flags = parse_parameters(parameters)
    utilization = _number(flags.get("--gpu-memory-utilization"), float, DEFAULT_UTILIZATION)
    capacity = catalogue.GPU_MEMORY_GB.get(gpu_type, 24) * CUDA_VISIBLE
    budget = capacity * utilization * gpu_count
    weights = size / GIB
    reserve = RESERVE_GIB_PER_GPU * gpu_count
    per_token = kv_bytes_per_token(config, flags.get("--kv-cache-dtype"))
    derived = text_config(config).get("max_position_embeddings")
    max_len = _number(flags.get("--max-model-len"), int, derived)
    available = budget - weights - reserve
    report = {"gpu_type": gpu_type, "gpu_count": gpu_count, "capacity_gib": round(capacity, 2), "utilization": utilization,
              "budget_gib": round(budget, 2), "weights_gib": round(weights, 2), "reserve_gib": reserve,
              "kv_available_gib": round(available, 2), "kv_bytes_per_token": per_token, "max_model_len": max_len,
              "derived_max_model_len": derived, "kv_needed_gib": None, "kv_cache_tokens": None, "estimated_max_model_len": None}
    if per_token and max_len:
        report["kv_needed_gib"] = round(max_len * per_token / GIB, 2)
        if available > 0:
            report["kv_cache_tokens"] = int(available * GIB // per_token)
            report["estimated_max_model_len"] = int(available * GIB / per_token / BLOCK_SIZE) * BLOCK_SIZE
    return report


def _number(value, kind, default):
    try:
        number = kind(value) if value is not None else default
    except ValueError:
        return default
    return number if number is None or math.isfinite(number) else default


def _type_errors(parameters, version):
    """argparse's complaint for the first int/float flag whose value is not a number."""
    flags = catalogue.engine_flags(version)
    for flag, value in parse_parameters(parameters).items():
        kind = flags.get(flag, {}).get("type")
        if value is None or kind not in ("int", "float"):
            continue
        try:
            (int if kind == "int" else float)(value)
        except ValueError:
            label = "human_readable_int" if flag == "--max-model-len" else kind
            return f"vllm: error: argument {flag}: invalid {label} value: '{value}'"
    return None


def startup(model_name, gpu_type, gpu_count, parameters, version, forced=None, model_size=None):
    """What happens when vLLM starts: {"ok", "cause", "details", "report", "lines"}.

    lines are [process, level, source, message] (level None: a plain stderr line); logs.py stamps them.
    forced: a cause from CAUSES that happens whatever the numbers say.
    """
    report = memory_report(model_name, gpu_type, gpu_count, parameters, model_size)
    config = catalogue.MODELS.get(model_name, {}).get("config", {})
    architecture = (config.get("architectures") or ["LlamaForCausalLM"])[0]
    lines = [[API, "INFO", "api_server.py:1885", f"vLLM API server version {version}"],
             [API, "INFO", "utils.py:328", "non-default args: " + _args(model_name, gpu_count, parameters)]]
    cause, details = _argument_failure(parameters, version, forced)
    if cause:
        return _result(cause, details, report, lines + [[API, None, None, USAGE], [API, None, None, details]])
    if forced == "gated":
        return _result("gated", *_gated(model_name, report, lines))
    if forced == "unsupported_architecture" or architecture in catalogue.UNSUPPORTED_ARCHITECTURES:
        details = (f"ValueError: Model architectures ['{architecture}'] are not supported for now. Supported architectures: "
                   "dict_keys(['AquilaForCausalLM', 'GemmaForCausalLM', 'Gemma3ForConditionalGeneration', 'GptOssForCausalLM', "
                   "'LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM', ...])")
        return _result("unsupported_architecture", details, report, lines + _traceback(API, details))
    lines.append([API, "INFO", "model.py:547", f"Resolved architecture: {architecture}"])
    if not 0 < report["utilization"] <= 1:
        # vLLM's CacheConfig is a pydantic dataclass (gpu_memory_utilization: Field(gt=0, le=1)): pydantic's own words.
        bound, kind = ("less than or equal to 1", "less_than_equal") if report["utilization"] > 1 else ("greater than 0", "greater_than")
        printed = ["pydantic_core._pydantic_core.ValidationError: 1 validation error for CacheConfig", "gpu_memory_utilization",
                   f"  Input should be {bound} [type={kind}, input_value={report['utilization']}, input_type=float]",
                   f"    For further information visit https://errors.pydantic.dev/2.11/v/{kind}"]
        traceback = _traceback(API, printed[0])[:-1] + [[API, None, None, text] for text in printed]
        return _result("invalid_argument", " ".join(text.strip() for text in printed[:3]), report, lines + traceback)
    if report["max_model_len"] and report["derived_max_model_len"] and report["max_model_len"] > report["derived_max_model_len"]:
        details = (f"ValueError: User-specified max_model_len ({report['max_model_len']}) is greater than the derived max_model_len "
                   f"(max_position_embeddings={report['derived_max_model_len']} or model_max_length=None in model's config.json). "
                   "To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. "
                   "VLLM_ALLOW_LONG_MAX_MODEL_LEN must be used with extreme caution. If the model uses relative position encoding "
                   "(RoPE), positions exceeding derived_max_model_len lead to nan. If the model uses absolute position encoding, "
                   "positions exceeding derived_max_model_len will cause a CUDA array out-of-bounds error.")
        return _result("invalid_argument", details, report, lines + _traceback(API, details))
    if report["max_model_len"]:
        lines.append([API, "INFO", "model.py:1510", f"Using max model len {report['max_model_len']}"])
    lines += [[CORE, "INFO", "core.py:644", "Waiting for init message from front-end."],
              [CORE, "INFO", "gpu_model_runner.py:2338", f"Starting to load model {model_name}..."]]
    if forced == "no_safetensors":
        return _result("no_safetensors", f"RuntimeError: Cannot find any model weights with `{model_name}`", report, lines, engine=True)
    if forced == "out_of_memory" or report["weights_gib"] > report["budget_gib"]:
        return _result("out_of_memory", _oom(report), report, lines, engine=True)
    lines += [[CORE, "INFO", "default_loader.py:267", f"Loading weights took {1 + report['weights_gib'] * 0.3:.2f} seconds"],
              [CORE, "INFO", "gpu_model_runner.py:2392",
               f"Model loading took {report['weights_gib'] / gpu_count:.4f} GiB and {1.5 + report['weights_gib'] * 0.3:.6f} seconds"]]
    if report["kv_available_gib"] <= 0:
        details = "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine."
        return _result("kv_cache", details, report, lines, engine=True)
    wanted, needed, available = report["max_model_len"], report["kv_needed_gib"], report["kv_available_gib"]
    estimate = report["estimated_max_model_len"]
    if forced == "kv_cache" and not (needed is not None and needed > available):
        # Forced although it fits: as if the memory left for the KV cache were half of what is needed.
        wanted = wanted or 131072
        needed = needed or 16.0
        available = round(needed / 2, 2)
        estimate = int(wanted / 2 / BLOCK_SIZE) * BLOCK_SIZE
    lines.append([CORE, "INFO", "gpu_worker.py:298", f"Available KV cache memory: {available:.2f} GiB"])
    if needed is not None and needed > available:
        details = (f"ValueError: To serve at least one request with the models's max seq len ({wanted}), ({needed:.2f} GiB KV cache is "
                   f"needed, which is larger than the available KV cache memory ({available:.2f} GiB). Based on the available "
                   f"memory, the estimated maximum model length is {estimate}. Try increasing `gpu_memory_utilization` or "
                   "decreasing `max_model_len` when initializing the engine.")
        return _result("kv_cache", details, report, lines, engine=True)
    if report["kv_cache_tokens"]:
        concurrency = report["kv_cache_tokens"] / report["max_model_len"]
        lines += [[CORE, "INFO", "kv_cache_utils.py:864", f"GPU KV cache size: {report['kv_cache_tokens']:,} tokens"],
                  [CORE, "INFO", "kv_cache_utils.py:868",
                   f"Maximum concurrency for {report['max_model_len']:,} tokens per request: {concurrency:.2f}x"]]
    lines.append([CORE, "INFO", "core.py:210", "init engine (profile, create kv cache, warmup model) took 12.07 seconds"])
    return {"ok": True, "cause": None, "details": "", "report": report, "lines": lines}


def _argument_failure(parameters, version, forced):
    if forced == "unknown_argument":
        return "unknown_argument", "vllm: error: unrecognized arguments: --foo"
    if forced == "invalid_argument":
        return "invalid_argument", "vllm: error: argument --max-model-len: invalid human_readable_int value: 'lots'"
    message = _type_errors(parameters, version)
    return ("invalid_argument", message) if message else (None, None)


def _args(model_name, gpu_count, parameters):
    pairs = [f"'model_tag': '{model_name}'", f"'model': '{model_name}'"]
    if gpu_count > 1:
        pairs.append(f"'tensor_parallel_size': {gpu_count}")
    for flag, value in parse_parameters(parameters).items():
        pairs.append(f"'{flag.lstrip('-').replace('-', '_')}': {value if value is not None else True!r}")
    return "{" + ", ".join(pairs) + "}"


def _traceback(process, details):
    return [[process, None, None, "Traceback (most recent call last):"],
            [process, None, None, '  File "/usr/local/bin/vllm", line 10, in <module>'],
            [process, None, None, details]]


def _oom(report):
    per_gpu = report["weights_gib"] / report["gpu_count"]
    capacity = report["capacity_gib"]
    tried = max(0.25, min(2.0, per_gpu / 8))
    in_use = min(capacity - 0.02, capacity * report["utilization"] + 0.35)
    free = max(capacity - in_use, 0.01)
    return (f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {tried:.2f} GiB. GPU 0 has a total capacity of "
            f"{capacity:.2f} GiB of which {free * 1024:.2f} MiB is free. Including non-PyTorch memory, this process has "
            f"{in_use:.2f} GiB memory in use. Of the allocated memory {in_use - 0.45:.2f} GiB is allocated by PyTorch, and "
            "81.27 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  "
            "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")


def _gated(model_name, report, lines):
    request_id = hashlib.sha256(model_name.encode()).hexdigest()
    first = f"huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-{request_id[:8]}-{request_id[8:32]})"
    extra = [f"Cannot access gated repo for url https://huggingface.co/{model_name}/resolve/main/config.json.",
             f"Access to model {model_name} is restricted. You must have access to it and be authenticated to access it. Please log in."]
    printed = _traceback(API, first) + [[API, None, None, ""]] + [[API, None, None, line] for line in extra]
    return " ".join([first] + extra), report, lines + printed


def _result(cause, details, report, lines, engine=False):
    if engine:
        lines = lines + [[CORE, "ERROR", "core.py:708", "EngineCore failed to start."],
                         [CORE, "ERROR", "core.py:708", "Traceback (most recent call last):"],
                         [CORE, "ERROR", "core.py:708", details],
                         [API, None, None, SUMMARY]]
    return {"ok": False, "cause": cause, "details": details, "report": report, "lines": lines}


def generic_failure(details):
    """A failure given only as text (the control API's state_details): the old wording, kept for existing tests."""
    return [[CORE, "ERROR", "core.py:708", f"EngineCore failed to start: {details}"], [API, None, None, SUMMARY]]


def _file_run(dep, run):
    """Keep a start-up's log lines under the phase it ends in (logs.py renders them)."""
    dep.setdefault("runs", {})[repr(dep["phases"][-1][1])] = {"cause": run["cause"], "lines": run["lines"]}


def schedule_start(store, dep, steps, forced=None):
    """store.schedule(dep, steps) ending in the engine's start-up: ready, or error with vLLM's reason and log lines."""
    if dep["replicas"] == 0:
        dep["fits"] = True  # nothing starts
        store.schedule(dep, steps)
        return
    run = startup(dep["model"]["name"], dep["gpu-type"], dep["gpu-count"], dep["inference-engine-parameters"],
                  dep["inference-engine-version"], forced)
    dep["fits"] = run["ok"]
    dep["fit_error"] = run["details"]
    store.schedule(dep, steps)
    _file_run(dep, run)


def force(store, dep, cause):
    """The deployment fails now with `cause` (control API), with that cause's state-details and log lines."""
    run = startup(dep["model"]["name"], dep["gpu-type"], dep["gpu-count"], dep["inference-engine-parameters"],
                  dep["inference-engine-version"], cause)
    store.force_deployment_error(dep, run["details"])
    _file_run(dep, run)
    return run
