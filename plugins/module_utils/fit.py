# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Model fit: the weights and the KV cache of a model against the memory of the GPUs it is to run on.

Pure arithmetic over a model's size and its ``config.json``: nothing here sends a request.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils import engine, gpu
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

DEFAULT_GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default for --gpu-memory-utilization
# Per GPU, what vLLM keeps besides weights and KV cache (activation peak of its profile run, CUDA graphs,
# non-PyTorch memory): about 1 to 2 GiB for 7-8B models; an estimate, used for the KV-cache warning only.
RESERVE_PER_GPU = 3 * gpu.GIB // 2
SKIP_HINT = engine.SKIP_HINT


def kv_layout(config):
    """From a config.json: ``{per_token, full_layers, sliding_layers, window, max_position_embeddings, dtype}``.

    ``per_token`` is the bytes of K and V for one token in one layer at 1 byte per value. Multimodal configs
    keep the language model under ``text_config``. Raises ValueError when a needed key is missing.
    """
    text = config
    if "num_hidden_layers" not in config and isinstance(config.get("text_config"), dict):
        text = config["text_config"]
    try:
        layers = int(text["num_hidden_layers"])
        heads = int(text["num_attention_heads"])
        kv_heads = int(text.get("num_key_value_heads") or heads)
        head_dim = int(text.get("head_dim") or int(text["hidden_size"]) // heads)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("config.json has no usable %s" % exc)
    window = text.get("sliding_window")
    sliding = 0
    if window and text.get("use_sliding_window") is not False:
        if isinstance(text.get("layer_types"), list):
            sliding = sum(1 for kind in text["layer_types"] if kind == "sliding_attention")
        elif isinstance(text.get("sliding_window_pattern"), int) and text["sliding_window_pattern"] > 0:
            sliding = layers - layers // text["sliding_window_pattern"]
    return dict(per_token=2 * kv_heads * head_dim, full_layers=layers - sliding, sliding_layers=sliding,
                window=int(window) if sliding else None,
                max_position_embeddings=text.get("max_position_embeddings") or config.get("max_position_embeddings"),
                dtype=text.get("torch_dtype") or text.get("dtype") or config.get("torch_dtype"))


def kv_value_bytes(options):
    """Bytes per cached value: 1 for an fp8 KV cache, 4 for --dtype float32, else 2 (vLLM's auto is fp16/bf16)."""
    if str(options.get("--kv-cache-dtype") or "").startswith("fp8"):
        return 1
    if options.get("--dtype") in ("float32", "float"):
        return 4
    return 2


def kv_cache_bytes(layout, tokens, value_bytes):
    window = min(layout["window"] or 0, tokens)
    return layout["per_token"] * value_bytes * (layout["full_layers"] * tokens + layout["sliding_layers"] * window)


def largest_length(layout, budget, value_bytes):
    """The largest max model length whose KV cache fits in ``budget`` bytes."""
    units = budget // (layout["per_token"] * value_bytes)  # token-layers that fit
    all_layers = layout["full_layers"] + layout["sliding_layers"]
    if not layout["sliding_layers"] or units <= all_layers * layout["window"]:
        return int(units // all_layers)
    if not layout["full_layers"]:
        return None  # only sliding layers: any length fits once the windows do
    return int((units - layout["sliding_layers"] * layout["window"]) // layout["full_layers"])


def gpu_memory_utilization(options):
    value = options.get("--gpu-memory-utilization")
    if value is None:
        return DEFAULT_GPU_MEMORY_UTILIZATION
    try:
        fraction = float(value)
    except ValueError:
        return None
    return fraction if 0 < fraction <= 1 else None


def check_fit(gpu_type, gpu_count, weights, parameters, config, warn, model_name="the model", families=None):
    """Weights against GPU memory x gpu_count x gpu-memory-utilization (refuse); a --max-model-len above the
    model's maximum (refuse); KV cache against the rest (warn).

    ``weights`` is the model size in bytes (None or 0: unknown); ``config`` the model's config.json (None:
    unknown, no KV-cache estimate); ``families`` the GPU families the zone offers and the organization may use
    (or a callable giving them; None: unknown), the only ones a refusal suggests. Returns the figures.
    """
    per_gpu = gpu.memory_bytes(gpu_type)
    if per_gpu is None:
        warn("Fit check skipped: the GPU memory of family %s is not known to the collection (known: %s)."
             % (gpu_type, ", ".join(sorted(gpu.GPU_FAMILIES))))
        return None
    options = engine.options(parameters)
    fraction = gpu_memory_utilization(options)
    if fraction is None:
        warn("Fit check skipped: --gpu-memory-utilization=%s is not a fraction between 0 and 1."
             % options["--gpu-memory-utilization"])
        return None
    budget = int(per_gpu * gpu_count * fraction)
    figures = dict(check="fit", gpu_type=gpu_type, gpu_count=gpu_count, gpu_memory=per_gpu,
                   gpu_memory_utilization=fraction, budget=budget, weights=weights or None)
    where = "%d x %s (%s each, %s) x %s gpu-memory-utilization" % (
        gpu_count, gpu_type, gpu.gibibytes(per_gpu), gpu.card(gpu_type), fraction)
    if not weights:
        warn("Fit check skipped: the size of %s is not known yet." % model_name)
        return figures
    if weights > budget:
        fitting = [count for count in range(gpu_count + 1, 9) if weights <= per_gpu * count * fraction]
        families = families() if callable(families) else families
        larger = sorted(family for family in gpu.GPU_FAMILIES if (families is None or family in families)
                        and weights <= gpu.memory_bytes(family) * gpu_count * fraction)
        raise Refused(
            "Model fit: the weights of %s (%s) do not fit the %s vLLM may use on %s. Raise gpu_count%s, choose a"
            " gpu_type with more memory per GPU%s, or serve a smaller or quantized model.%s"
            % (model_name, gpu.gibibytes(weights), gpu.gibibytes(budget), where,
               " to %d" % fitting[0] if fitting else "", " (%s)" % ", ".join(larger) if larger else "",
               SKIP_HINT % "fit"), details=figures)
    if config is None:
        return figures
    try:
        layout = kv_layout(config)
    except ValueError as exc:
        warn("KV-cache estimate skipped for %s: %s." % (model_name, exc))
        return figures
    given = options.get("--max-model-len")
    length = engine.parse_length(given) if given is not None else layout["max_position_embeddings"]
    if given is not None and (length is None or length <= 0):
        return figures  # -1/auto: vLLM picks the length that fits
    if not length:
        return figures
    maximum = layout["max_position_embeddings"]
    if given is not None and maximum and length > maximum:
        raise Refused("Model fit: --max-model-len=%s is more than the max_position_embeddings of %s (%d): vLLM refuses"
                      " it at start-up. Set --max-model-len=%d or lower in inference_engine_parameters.%s"
                      % (given, model_name, maximum, maximum, SKIP_HINT % "fit"),
                      details=dict(figures, max_model_len=int(length), max_position_embeddings=maximum))
    value_bytes = kv_value_bytes(options)
    remaining = budget - weights - RESERVE_PER_GPU * gpu_count
    needed = kv_cache_bytes(layout, int(length), value_bytes)
    fits = largest_length(layout, max(remaining, 0), value_bytes)
    figures.update(max_model_len=int(length), kv_cache=needed, kv_cache_available=remaining, max_model_len_fits=fits)
    if needed > remaining:
        source = "--max-model-len=%s" % given if given is not None else (
            "the model's max_position_embeddings (%d, vLLM's default --max-model-len)" % length)
        if fits <= 0:
            advice = "No memory is left for the KV cache: raise gpu_count or --gpu-memory-utilization, or choose a" \
                     " gpu_type with more memory."
        else:
            advice = ("The largest --max-model-len that fits is about %d: set --max-model-len=%d or lower in"
                      " inference_engine_parameters, or raise gpu_count or --gpu-memory-utilization." % (fits, fits))
        warn("Model fit: the KV cache for %s needs about %s, but only about %s remain on %s after the weights (%s)"
             " and vLLM's reserve (%s per GPU). %s vLLM would fail to start."
             % (source, gpu.gibibytes(needed), gpu.gibibytes(max(remaining, 0)), where, gpu.gibibytes(weights),
                gpu.gibibytes(RESERVE_PER_GPU), advice))
    return figures
