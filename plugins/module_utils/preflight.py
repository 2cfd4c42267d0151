# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Preflight: what can be known before a write, so a task refuses at once instead of failing after a long wait.

Deployments (a plan that creates, replaces, scales or updates): the GPU family exists and is authorized, the
engine parameters are known flags with valid values (``engine.py``), the GPU quota has room, the model's
weights fit the GPUs and the KV cache fits what remains (``fit.py``; the size and config.json from the
Hugging Face Hub when the model is not uploaded yet). Models: the Hugging Face repository exists, can be
read with the token, and has safetensors weights; with an intended gpu_type and gpu_count, it fits.

Checks read, never write. A refusal is ``Refused`` with the numbers that decide it; a doubt is a warning
through the ``warn`` callable.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils import ai, engine, fit, gpu, hub
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

DEPLOYMENT_CHECKS = ai.DEPLOYMENT_CHECKS
MODEL_CHECKS = tuple(check for check in ai.MODEL_CHECKS if check not in ai.DEPLOYMENT_CHECKS)  # the Hub's
SKIP_HINT = engine.SKIP_HINT
WEIGHT_SUFFIXES = (".gguf", ".bin", ".pt", ".pth", ".onnx")  # weights that are not safetensors


# ---------------------------------------------------------------------------------------------------------
# Engine parameters

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
# Model fit

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


def hub_figures(hub_client, repo_id, warn):
    """``(size, config)`` of a model not uploaded yet, from the Hub's metadata (each None when unknown)."""
    if hub_client is None or not repo_id:
        return None, None
    try:
        size = hub.weights(hub_client.model_info(repo_id) or {})["size"]
    except ExoscaleError as exc:
        warn("Fit check skipped: the size of %s could not be read from the Hugging Face Hub (%s)."
             % (repo_id, hub.error_kind(exc)))
        return None, None
    return size, fetch_config(hub_client, repo_id, warn)


def check_model_fit(client, repo_id, gpu_type, gpu_count, parameters, warn, size=None, hub_client=None, families=None):
    """The fit of a model on ``gpu_count`` x ``gpu_type``: weights refused, KV cache warned; returns the figures.

    ``size`` is the uploaded model's ``model-size``; without it (not uploaded, or still downloading) the size
    and config.json come from the Hub. ``families``: the authorized families of the zone (fetched when None).
    """
    if not gpu.memory_bytes(gpu_type):
        return fit.check_fit(gpu_type, gpu_count, None, parameters, None, warn, model_name=repo_id)
    hub_client = hub_client() if callable(hub_client) else hub_client
    config = None
    if size:
        config = fetch_config(hub_client, repo_id, warn)
    else:
        size, config = hub_figures(hub_client, repo_id, warn)

    def zone_families():  # read only for a refusal
        return authorized_families(ai.list_instance_types(client))
    return fit.check_fit(gpu_type, gpu_count, size, parameters, config, warn, model_name=repo_id,
                         families=zone_families if families is None else families)


def authorized_families(instance_types):
    return sorted(t.get("family") for t in instance_types if t.get("authorized"))


def check_deployment_plan(client, plan, warn, skip=(), model=None, hub_client=None):
    """The checks of a deployment plan; returns its context: ``model`` (create/replace), ``gpus``, ``quota``, ``fit``.

    ``plan.wanted`` has the module's option names. ``model(ref)`` resolves the model (after the cheap checks, so
    a bad gpu_type is refused first); ``hub_client`` (a callable) reads the Hub for the fit check.
    """
    skip = set(skip or ())
    if plan.action in ("create", "replace"):
        return check_create(client, plan, warn, skip, model, hub_client)
    if plan.action == "delete":
        current = plan.current
        return dict(gpus=gpu_delta(current.get("gpu-type"), (current.get("gpu-count") or 0) * (current.get("replicas") or 0), 0))
    return check_update(client, plan, warn, skip, hub_client)


def gpu_delta(family, before, after):
    return dict(family=family, before=before, after=after, delta=after - before)


def check_update(client, plan, warn, skip, hub_client=None):
    current, wanted, changes = plan.current, plan.wanted, plan.changes
    gpu_type, gpu_count = current.get("gpu-type"), current.get("gpu-count") or 1
    engine_changed = "inference_engine_version" in changes or "inference_engine_parameters" in changes
    fitted = None
    parameters = wanted.get("inference_engine_parameters")
    if parameters is None:
        parameters = current.get("inference-engine-parameters") or []
    if engine_changed and "engine_parameters" not in skip:
        version = wanted.get("inference_engine_version") or current.get("inference-engine-version")
        engine.check(fetch_engine_help(client, version), version, parameters)
    if "inference_engine_parameters" in changes and "fit" not in skip and gpu_type:
        # New engine parameters restart the engine: what vLLM would refuse (--max-model-len above the model's
        # maximum, weights or KV cache too large for the memory it may use) is refused here, as on create.
        model = _deployed_model(client, current)
        if model.get("name"):
            fitted = check_model_fit(client, model["name"], gpu_type, gpu_count, parameters, warn,
                                     size=model.get("model-size"), hub_client=hub_client)
    before = current.get("replicas") or 0
    replicas = changes["replicas"][1] if "replicas" in changes else before
    context = dict(gpus=gpu_delta(gpu_type, before * gpu_count, replicas * gpu_count))
    if fitted:
        context["fit"] = fitted
    if replicas > before and "quota" not in skip and gpu_type:
        quota = fetch_quota(client, gpu_type, warn)
        if quota:
            context["quota"] = check_quota(quota, gpu_type, (replicas - before) * gpu_count,
                                           what="scaling %r from %d to %d replica(s) of %d GPU(s)"
                                                % (current.get("name"), before, replicas, gpu_count))
    return context


def _deployed_model(client, deployment):
    """The model a deployment runs (its name and size), or ``{}`` when it cannot be read."""
    ref = deployment.get("model") or {}
    if not ref.get("id"):
        return dict(ref)
    try:
        return ai.MODEL.get(client, ref["id"]) or dict(ref)
    except ExoscaleError:
        return dict(ref)


def check_create(client, plan, warn, skip, model, hub_client):
    wanted, current = plan.wanted, plan.current
    gpu_type, gpu_count = wanted["gpu_type"], wanted["gpu_count"]
    version, parameters = wanted.get("inference_engine_version"), wanted.get("inference_engine_parameters")
    replicas = wanted.get("replicas") or 1
    if wanted.get("replicas") is not None and wanted["replicas"] < 1:
        raise Refused("replicas must be at least 1 to create a deployment (scale to 0 afterwards), got %d."
                      % wanted["replicas"])
    families = None
    if "gpu_type" not in skip:
        instance_types = ai.list_instance_types(client)
        check_gpu_type(instance_types, gpu_type)
        families = authorized_families(instance_types)
    if (version or parameters) and "engine_parameters" not in skip:
        engine.check(fetch_engine_help(client, version), version, parameters)
    freed = 0
    if current and current.get("gpu-type") == gpu_type:
        freed = (current.get("gpu-count") or 0) * (current.get("replicas") or 0)
    context = dict(gpus=gpu_delta(gpu_type, freed, gpu_count * replicas))
    if "quota" not in skip:
        quota = fetch_quota(client, gpu_type, warn)
        if quota:
            context["quota"] = check_quota(quota, gpu_type, gpu_count * replicas, freed,
                                           what="gpu_count x replicas = %d x %d" % (gpu_count, replicas))
    resolved = context["model"] = model(wanted["model"]) if model else None
    if "fit" not in skip and resolved is not None:
        name = resolved.get("name") or wanted.get("model")
        context["fit"] = check_model_fit(client, name, gpu_type, gpu_count, parameters, warn,
                                         size=resolved.get("model-size"), hub_client=hub_client, families=families)
    return context


# ---------------------------------------------------------------------------------------------------------
# Hugging Face and fit checks for models

def check_model_plan(client, plan, warn, params, hub_client):
    """The checks of a model plan that creates (or replaces a failed one): the Hub, then, with the intended
    ``gpu_type``, the fit. ``params`` are the module's; ``hub_client`` a callable. Returns the plan's context."""
    skip, name, figures = params["preflight_skip"], plan.wanted.get("name"), None
    count = params.get("gpu_count")
    if plan.action == "delete":
        return {}
    if "huggingface" not in skip:
        figures = check_huggingface_model(hub_client(), name, params["huggingface_token"], warn)
    if params.get("gpu_type") and "fit" not in skip:
        return dict(fit=check_model_fit(client, name, params["gpu_type"], count or 1,
                                        params.get("inference_engine_parameters"), warn,
                                        size=(figures or {}).get("size"), hub_client=hub_client))
    return {}


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


# The names placement.py and fleet.py call (the checks live in engine.py and fit.py).
check_engine_parameters = engine.check
check_fit = fit.check_fit
