# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the modules know about Exoscale AI: the resources declared for the resource layer, lookups, failure messages."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.module_utils import engine
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError, api_path
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import (
    CREATE_ONLY,
    OBJECT,
    PATCH,
    SCALE,
    Field,
    Resource,
    ResourceFailed,
    ResourceWaitTimeout,
)

# The preflight checks that preflight_skip names.
DEPLOYMENT_CHECKS = ("quota", "gpu_type", "fit", "engine_parameters")
MODEL_CHECKS = ("huggingface", "fit")
DEPLOYMENT_BUSY_STATES = ("creating", "preparing", "deploying", "scaling", "updating")
MAX_GPU_COUNT = 8
ERROR_LOG_LINES = 10
DIAGNOSIS_LOG_LINES = 100  # vLLM prints a traceback after the root cause: read enough lines to reach it


# Models

def model_failed_message(model):
    return ("Model %r (id %s) is in state error: Exoscale could not download it. Check that the Hugging Face"
            " repository exists, has safetensors weights, and, for a gated model, that huggingface_token belongs"
            " to an account that accepted its licence. Delete it (state=absent) or set recreate=true to try again."
            % (model.get("name"), model.get("id")))


def wait_model_ready(client, model_id, deadline, history=None):
    """Poll the model until ``ready``; stop at once on ``error``. Returns (model, polls)."""
    return MODEL.wait_ready(client, model_id, deadline, history,
                            failure=lambda model: ResourceFailed(model_failed_message(model), resource=model))


def delete_model(client, model, deadline):
    try:
        client.operation("DELETE", api_path("/ai/model/{model_id}", model_id=model["id"]), deadline=deadline, retry_writes=True)
    except ExoscaleError as exc:
        if exc.status == 404:
            return
        if exc.status == 412:
            users = (exc.body or {}).get("deployments") or []
            raise ExoscaleError(
                "Model %r (id %s) is used by deployment(s) %s: delete them first (ai_deployment state=absent)."
                % (model.get("name"), model["id"], ", ".join(str(u) for u in users) or "(not listed)"),
                status=412, method="DELETE", path=api_path("/ai/model/{model_id}", model_id=model["id"]), api_message=exc.api_message, body=exc.body)
        raise


# Deployments

def deployment_logs(client, deployment_id, tail=ERROR_LOG_LINES):
    try:
        logs = client.get(api_path("/ai/deployment/{deployment_id}/logs", deployment_id=deployment_id), query={"tail": tail}).get("logs", [])
    except ExoscaleError:
        return []
    return ["%s %s %s" % (entry.get("time", ""), entry.get("node", ""), entry.get("message", "")) for entry in logs]


def deployment_failed(client, deployment):
    """The error for a deployment in ``error``: its details, the diagnosed cause and fix, the last log lines."""
    from ansible_collections.inferops.exoscale.plugins.module_utils import diagnosis  # only on a failure
    logs = deployment_logs(client, deployment["id"], tail=DIAGNOSIS_LOG_LINES)
    found = diagnosis.diagnose(logs, deployment)
    message = diagnosis.failure_message(deployment, found, logs, shown=ERROR_LOG_LINES)
    return ResourceFailed(message, resource=deployment, diagnosis=found)


def wait_timed_out(client, deployment_id, error):
    """A readiness wait that timed out, with the diagnosis of the log tail (a crash-looping engine says why)."""
    from ansible_collections.inferops.exoscale.plugins.module_utils import diagnosis
    found = diagnosis.diagnose(deployment_logs(client, deployment_id, tail=DIAGNOSIS_LOG_LINES), error.resource)
    message = str(error) if found["cause"] == "unknown" else "%s %s" % (error, diagnosis.describe(found))
    return ResourceWaitTimeout(message, resource=error.resource, diagnosis=found)


def wait_deployment_ready(client, deployment_id, deadline, history=None):
    """Poll until ``ready``; on ``error`` or a timeout, say why from the log tail. Returns (deployment, polls)."""
    try:
        return DEPLOYMENT.wait_ready(client, deployment_id, deadline, history,
                                     failure=lambda deployment: deployment_failed(client, deployment))
    except ResourceWaitTimeout as exc:
        raise wait_timed_out(client, deployment_id, exc)


def replacement_warning(deployment, check_mode):
    return ("Deployment %r (id %s) %s deleted and replaced by a new deployment with a new URL and a new API key:"
            " clients of %s stop working. For no downtime, use the inferops.exoscale.rollout role."
            % (deployment.get("name"), deployment.get("id"), "would be" if check_mode else "is",
               deployment.get("deployment-url") or "its URL"))


def reveal_api_key(client, deployment_id):
    return client.get(api_path("/ai/deployment/{deployment_id}/api-key", deployment_id=deployment_id)).get("api-key")


# Catalogue lookups used by preflight checks and info modules

def list_instance_types(client):
    return client.get("/ai/instance-type").get("instance-types", [])


def engine_parameters(client, version=None):
    query = {"version": version} if version else None
    return client.get("/ai/help/inference-engine-parameters", query=query).get("parameters", [])


# Declarations for the resource layer (plugins/module_utils/resource.py): each kind once.

def _model_ref(deployment):
    return deployment.get("model") or {}


def _not_empty(option, value):
    return None if value.strip() else "%s must not be empty." % option


def _gpu_count(option, count):
    return None if 1 <= count <= MAX_GPU_COUNT else "%s must be between 1 and %d, got %d." % (option, MAX_GPU_COUNT, count)


def _replicas(option, count):
    return None if count >= 0 else "%s must be 0 or more (0 scales to zero), got %d." % (option, count)


MODEL = Resource(
    "model", "/ai/model", "models",
    [Field("name"), Field("huggingface_token", change=CREATE_ONLY, no_log=True)],
    ready=("ready",), failed=("error",), busy=("creating", "created", "downloading"))

DEPLOYMENT = Resource(
    "deployment", "/ai/deployment", "deployments",
    [Field("name", change=PATCH, required=True),
     Field("model", required=True, to_api=lambda model_id: {"id": model_id}, check=_not_empty,
           read=lambda d: _model_ref(d).get("name") or _model_ref(d).get("id"),
           matches=lambda d, wanted: not _model_ref(d) or wanted in (_model_ref(d).get("name"), _model_ref(d).get("id"))),
     Field("gpu_type", required=True, check=_not_empty),
     Field("gpu_count", required=True, type="int", check=_gpu_count),
     Field("replicas", change=SCALE, type="int", check=_replicas),
     Field("inference_engine_version", change=PATCH, check=engine.version_problem),
     Field("inference_engine_parameters", change=PATCH, empty=[], type="list", elements="str",
           check=engine.parameters_problem)],
    ready=("ready",), failed=("error",), busy=DEPLOYMENT_BUSY_STATES, renamable=True,
    private_only=True, get_after_list=True, busy_conflicts=True, lingers=True,
    hints={412: " Not enough GPUs of that family are free for gpu_count x replicas: lower them, choose another gpu_type"
                " (inferops.exoscale.ai_instance_type_info lists the families), or free GPUs by scaling other"
                " deployments down, then run the task again."})

API_KEY = Resource(
    "api_key", "/ai/api-key", "ai-api-keys",
    [Field("name"), Field("scope", required=True)],
    creates=OBJECT, title="AI API key")


def gpu_quota(client, family=None):
    """``{family: {limit, usage, free, unlimited}}`` from the core API's GPU quotas (limit -1 = unlimited)."""
    if family:
        quotas = [client.get(api_path("/quota/{gpu_family}", gpu_family=family))]
    else:
        quotas = [q for q in client.get("/quota").get("quotas", []) if str(q.get("resource", "")).startswith("gpu")]
    found = {}
    for quota in quotas:
        limit, usage = quota.get("limit", -1), quota.get("usage", 0)
        found[quota["resource"]] = dict(limit=limit, usage=usage, unlimited=limit < 0,
                                        free=-1 if limit < 0 else max(0, limit - usage))
    return found
