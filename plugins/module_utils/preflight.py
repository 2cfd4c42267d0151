# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Preflight: what can be known before a write, so a task refuses at once instead of failing after a long wait.

Deployments (create, replacement, scale, update): the GPU family exists and is authorized, the engine
parameters are known flags with allowed values, the GPU quota has room, the model's weights fit the GPUs
and the KV cache fits what remains. Models: the Hugging Face repository exists, can be read with the
token, and has safetensors weights.

Every check is a pure function of data already fetched; ``check_deployment`` and ``check_huggingface_model``
fetch what the checks need (each lookup at most once) and run them. A refusal is ``Refused`` with the
numbers that decide it; a doubt is a warning through the ``warn`` callable.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.inferops.exoscale.plugins.module_utils import ai, gpu, hub
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

DEPLOYMENT_CHECKS = ("quota", "gpu_type", "fit", "engine_parameters")
MODEL_CHECKS = ("huggingface",)
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default for --gpu-memory-utilization
# Per GPU, what vLLM keeps besides weights and KV cache (activation peak of its profile run, CUDA graphs,
# non-PyTorch memory): about 1 to 2 GiB for 7-8B models; an estimate, used for the KV-cache warning only.
RESERVE_PER_GPU = 3 * gpu.GIB // 2
LENGTH_PATTERN = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([kKmMgG]?)$")
LENGTH_UNITS = {"": 1, "k": 1000, "K": 1024, "m": 1000 ** 2, "M": 1024 ** 2, "g": 1000 ** 3, "G": 1024 ** 3}
SKIP_HINT = " (to skip this check: preflight_skip: [%s])"
WEIGHT_SUFFIXES = (".gguf", ".bin", ".pt", ".pth", ".onnx")  # weights that are not safetensors


# ---------------------------------------------------------------------------------------------------------
# Engine parameters

def engine_options(parameters):
    """``["--max-model-len=4096", "--enforce-eager"]`` -> ``{"--max-model-len": "4096", "--enforce-eager": None}``."""
    options = {}
    for parameter in parameters or []:
        parameter = parameter.strip()
        flag = ai.engine_flag(parameter)
        rest = parameter[len(flag):].lstrip("=").strip() if flag else ""
        options[flag] = rest or None
    return options


def check_engine_parameters(help_entries, version, parameters):
    """Each flag is known to the engine version and, where the help lists allowed values, its value is one of them."""
    by_flag = dict((flag, entry) for entry in help_entries for flag in entry.get("flags") or [])
    unknown = [p for p in parameters or [] if ai.engine_flag(p) not in by_flag]
    if unknown:
        raise Refused("inference_engine_parameters: %s %s not known to engine version %s; known flags: %s.%s"
                      % (", ".join(unknown), "is" if len(unknown) == 1 else "are", version or "(default)",
                         ", ".join(sorted(by_flag)), SKIP_HINT % "engine_parameters"),
                      details=dict(check="engine_parameters", unknown=unknown, version=version))
    for flag, value in sorted(engine_options(parameters).items()):
        allowed = [str(v) for v in by_flag[flag].get("allowed-values") or []]
        if allowed and value is not None and value not in allowed:
            raise Refused("inference_engine_parameters: %s=%s is not an allowed value for engine version %s;"
                          " allowed values of %s: %s.%s"
                          % (flag, value, version or "(default)", flag, ", ".join(allowed), SKIP_HINT % "engine_parameters"),
                          details=dict(check="engine_parameters", flag=flag, value=value, allowed=allowed,
                                       version=version))


def fetch_engine_help(client, version):
    try:
        return ai.engine_parameters(client, version)
    except ExoscaleError as exc:
        if exc.status == 400:
            raise Refused("inference_engine_version %r is not known to the API: %s" % (version, exc.api_message))
        raise


# ---------------------------------------------------------------------------------------------------------
# GPU family

def check_gpu_type(instance_types, gpu_type):
    families = dict((t.get("family"), t.get("authorized")) for t in instance_types)
    authorized = sorted(f for f, ok in families.items() if ok)
    if gpu_type not in families:
        raise Refused("gpu_type %r is not a GPU family of this zone; choose one of: %s."
                      % (gpu_type, ", ".join(sorted(families)) or "(none)"),
                      details=dict(check="gpu_type", gpu_type=gpu_type, families=sorted(families)))
    if not families[gpu_type]:
        raise Refused("gpu_type %r is not authorized for your organization in this zone; authorized families: %s."
                      " Ask Exoscale support for access or choose another family."
                      % (gpu_type, ", ".join(authorized) or "(none)"),
                      details=dict(check="gpu_type", gpu_type=gpu_type, authorized=authorized))


# ---------------------------------------------------------------------------------------------------------
# GPU quota

def check_quota(quota, gpu_type, needed, freed=0, what=None):
    """Refuse when ``needed`` GPUs of ``gpu_type`` exceed the quota's room (plus what a replaced deployment frees).

    ``quota`` is ``{limit, usage, ...}`` as ``ai.gpu_quota`` gives it (``limit`` -1: unlimited). Returns the figures.
    """
    limit, usage = quota.get("limit", -1), quota.get("usage", 0) or 0
    figures = dict(check="quota", gpu_type=gpu_type, needed=needed, usage=usage, limit=limit, freed=freed)
    if limit is None or limit < 0:
        return dict(figures, available=None)
    available = max(0, limit - usage + freed)
    figures["available"] = available
    if needed > available:
        raise Refused(
            "GPU quota: %s needs %d %s GPU(s), but the organization's %s quota is %d with %d in use%s, so %d %s"
            " available. Lower gpu_count or replicas, scale other %s deployments down, or ask Exoscale support for a"
            " higher quota (inferops.exoscale.ai_quota_info shows it).%s"
            % (what or "this deployment", needed, gpu_type, gpu_type, limit, usage,
               " (%d freed by the replaced deployment)" % freed if freed else "", available,
               "is" if available == 1 else "are", gpu_type, SKIP_HINT % "quota"),
            details=figures)
    return figures


def fetch_quota(client, gpu_type, warn):
    """The family's quota, or None (with a warning) when the API does not give it."""
    try:
        return ai.gpu_quota(client, gpu_type).get(gpu_type)
    except ExoscaleError as exc:
        warn("GPU quota check skipped: the quota of %s could not be read (%s)." % (gpu_type, exc))
        return None


# ---------------------------------------------------------------------------------------------------------
# Model fit: weights and KV cache against GPU memory

def parse_length(value):
    """vLLM's human-readable int: ``4096``, ``32k`` (x1000), ``32K`` (x1024), ``1m``, ``1M``; None if not one."""
    match = LENGTH_PATTERN.match(str(value).strip()) if value is not None else None
    if not match:
        return None
    return int(float(match.group(1)) * LENGTH_UNITS[match.group(2)])


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


def check_fit(gpu_type, gpu_count, weights, parameters, config, warn, model_name="the model"):
    """Weights against GPU memory x gpu_count x gpu-memory-utilization (refuse); KV cache against the rest (warn).

    ``weights`` is the model size in bytes (None or 0: unknown); ``config`` the model's config.json (None:
    unknown, no KV-cache estimate). Returns the figures.
    """
    per_gpu = gpu.memory_bytes(gpu_type)
    if per_gpu is None:
        warn("Fit check skipped: the GPU memory of family %s is not known to the collection (known: %s)."
             % (gpu_type, ", ".join(sorted(gpu.GPU_FAMILIES))))
        return None
    options = engine_options(parameters)
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
        larger = sorted(family for family in gpu.GPU_FAMILIES
                        if weights <= gpu.memory_bytes(family) * gpu_count * fraction)
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
    length = parse_length(given) if given is not None else layout["max_position_embeddings"]
    if given is not None and (length is None or length <= 0):
        return figures  # -1/auto: vLLM picks the length that fits
    if not length:
        return figures
    maximum = layout["max_position_embeddings"]
    if given is not None and maximum and length > maximum:
        warn("Model fit: --max-model-len=%s is more than the max_position_embeddings of %s (%d): vLLM refuses it."
             " Set --max-model-len=%d or lower." % (given, model_name, maximum, maximum))
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


def fetch_config(hub_client, repo_id, warn):
    """The model's config.json from the Hub, or None (with a warning) when it cannot be read."""
    if hub_client is None or not repo_id:
        return None
    try:
        return hub_client.config(repo_id)
    except ExoscaleError as exc:
        kind = hub.error_kind(exc)
        reason = {"gated": "the repository is gated: give huggingface_token (or HF_TOKEN) of an account with access",
                  "not_found": "the Hub has no such repository", "invalid_token": "huggingface_token is not valid"
                  }.get(kind, "the Hub did not answer (%s)" % exc)
        warn("KV-cache estimate skipped: config.json of %s could not be read: %s." % (repo_id, reason))
        return None


# ---------------------------------------------------------------------------------------------------------
# Deployment checks, fetching what they need

def _changed(wanted, current, option, api_key):
    value = wanted.get(option)
    return value is not None and value != (current or {}).get(api_key)


def check_deployment(client, action, wanted, warn, skip=(), current=None, model=None, hub_client=None):
    """Run the deployment checks before a write; raise Refused, warn, and return the model (resolved when needed).

    ``action``: ``create``, ``replace`` (``current`` is the deployment it deletes) or ``update`` (``current``
    is the deployment; covers scale and PATCH). ``wanted`` has the module's option names (gpu_type,
    gpu_count, replicas, inference_engine_version, inference_engine_parameters). ``model`` is the model
    object (with ``model-size``) or a callable returning it: it is called after the cheap checks, so a bad
    gpu_type is refused before a wait for a model. ``hub_client`` (or a callable returning one) reads
    config.json for the KV-cache estimate. Requests: instance types (create/replace), engine help (when a
    version or parameters are given or change), the family's quota (when GPUs are added), config.json on the
    Hub (create/replace); nothing when nothing is checked.
    """
    skip = set(skip or ())
    version = wanted.get("inference_engine_version")
    parameters = wanted.get("inference_engine_parameters")
    if action == "update":
        gpu_type, gpu_count = current.get("gpu-type"), current.get("gpu-count") or 1
        engine_changed = (_changed(wanted, current, "inference_engine_version", "inference-engine-version")
                          or (parameters is not None
                              and parameters != (current.get("inference-engine-parameters") or [])))
        if engine_changed and "engine_parameters" not in skip:
            version = version or current.get("inference-engine-version")
            if parameters is None:
                parameters = current.get("inference-engine-parameters") or []
            check_engine_parameters(fetch_engine_help(client, version), version, parameters)
        replicas, before = wanted.get("replicas"), current.get("replicas") or 0
        if replicas is not None and replicas > before and "quota" not in skip and gpu_type:
            quota = fetch_quota(client, gpu_type, warn)
            if quota:
                check_quota(quota, gpu_type, (replicas - before) * gpu_count,
                            what="scaling %r from %d to %d replica(s) of %d GPU(s)"
                                 % (current.get("name"), before, replicas, gpu_count))
        return None

    gpu_type, gpu_count = wanted["gpu_type"], wanted["gpu_count"]
    replicas = wanted.get("replicas") or 1
    if "gpu_type" not in skip:
        check_gpu_type(ai.list_instance_types(client), gpu_type)
    if (version or parameters) and "engine_parameters" not in skip:
        check_engine_parameters(fetch_engine_help(client, version), version, parameters)
    if "quota" not in skip:
        quota = fetch_quota(client, gpu_type, warn)
        if quota:
            freed = 0
            if action == "replace" and current and current.get("gpu-type") == gpu_type:
                freed = (current.get("gpu-count") or 0) * (current.get("replicas") or 0)
            check_quota(quota, gpu_type, gpu_count * replicas, freed,
                        what="gpu_count x replicas = %d x %d" % (gpu_count, replicas))
    resolved = model() if callable(model) else model
    # A model predicted in check mode (an earlier task would create it) has no id and no size yet.
    if "fit" not in skip and resolved is not None and resolved.get("id"):
        name = resolved.get("name") or wanted.get("model")
        config = None
        if gpu.memory_bytes(gpu_type) and resolved.get("model-size"):
            config = fetch_config(hub_client() if callable(hub_client) else hub_client, name, warn)
        check_fit(gpu_type, gpu_count, resolved.get("model-size"), parameters, config, warn, model_name=name)
    return resolved


# ---------------------------------------------------------------------------------------------------------
# Hugging Face check for models

def check_model_info(repo_id, info, token):
    """Refuse a repository without safetensors weights, or a gated one without a token; return the figures."""
    found = hub.weights(info)
    gated = info.get("gated") or False
    figures = dict(check="huggingface", repo=repo_id, gated=gated, safetensors=found["safetensors"], size=found["size"])
    if not found["safetensors"]:
        formats = sorted(set(name.rsplit(".", 1)[-1] for name in found["files"] if name.endswith(WEIGHT_SUFFIXES)))
        raise _hub_refused("Hugging Face: %s has no safetensors weights (%s), and Exoscale can only serve"
                           " safetensors. Choose a repository with safetensors weights, for example the original model"
                           " a GGUF was made from." % (repo_id, "weights: %s" % ", ".join("." + f for f in formats)
                                                       if formats else "no weight files"),
                           figures, "no_safetensors")
    if gated and not token:
        raise _hub_refused("Hugging Face: %s is gated (%s approval): set huggingface_token to a token of an account"
                           " that accepted its licence on https://huggingface.co/%s." % (repo_id, gated, repo_id),
                           figures, "gated")
    return figures


def _hub_refused(reason, figures, cause):
    return Refused(reason + SKIP_HINT % "huggingface", details=dict(figures, cause=cause, reason=reason))


def _hub_refusal(repo_id, kind, figures=None):
    figures = figures or dict(check="huggingface", repo=repo_id)
    messages = {
        "not_found": "Hugging Face has no model repository %r (or it is private and huggingface_token cannot see it):"
                     " check the exact repository id, case included." % repo_id,
        "invalid_token": "Hugging Face refused huggingface_token as invalid credentials: give a valid token (hf_...).",
        "gated": "Hugging Face: %s is gated and the account of huggingface_token has no access yet: accept its licence"
                 " on https://huggingface.co/%s with that account (and wait for approval), or use another token."
                 % (repo_id, repo_id),
        "forbidden": "Hugging Face refused access to %s with huggingface_token: give the token read access to it."
                     % repo_id,
    }
    return _hub_refused(messages[kind], figures, kind)


def check_huggingface_model(hub_client, repo_id, token, warn):
    """Ask the Hub before a model create: exists, readable with the token when gated, safetensors, size.

    One request (model info), two for a gated repository with a token (config.json proves the token can read
    it). Refuses with the cause; when the Hub does not answer, warns and returns None.
    """
    try:
        info = hub_client.model_info(repo_id)
    except ExoscaleError as exc:
        kind = hub.error_kind(exc)
        if kind == "unreachable":
            warn("Hugging Face check skipped: the Hub did not answer (%s)." % exc)
            return None
        raise _hub_refusal(repo_id, kind)
    figures = check_model_info(repo_id, info, token)
    if figures["gated"]:
        try:
            hub_client.config(repo_id)
        except ExoscaleError as exc:
            kind = hub.error_kind(exc)
            if kind == "unreachable":
                warn("Hugging Face access check skipped for gated %s: the Hub did not answer (%s)." % (repo_id, exc))
            elif exc.status != 404:  # 404: the repository has no config.json, which says nothing about access
                # A 401 without an error code on a file of a repository that exists means: no access.
                raise _hub_refusal(repo_id, "gated" if kind == "not_found" else kind, figures)
    return figures


def model_diagnosis(hub_client, repo_id, token):
    """Why a model download ended in ``error``, from the Hub: a diagnosis like ``diagnosis.diagnose`` gives, or None."""
    try:
        check_huggingface_model(hub_client, repo_id, token, lambda message: None)
    except Refused as exc:
        cause = exc.details.get("cause")
        fixes = {"not_found": "Set name to the exact Hugging Face repository id, then run again with recreate=true.",
                 "no_safetensors": "Use a repository with safetensors weights (recreate=true after changing name).",
                 "gated": "Accept the licence with the token's account, then run again with recreate=true and that"
                          " huggingface_token.",
                 "invalid_token": "Give a valid huggingface_token and run again with recreate=true.",
                 "forbidden": "Give huggingface_token read access to the repository and run again with recreate=true."}
        return dict(cause="gated" if cause in ("invalid_token", "forbidden") else cause,
                    summary=exc.details["reason"], evidence=[exc.details["reason"]], fix=fixes[cause])
    return None
