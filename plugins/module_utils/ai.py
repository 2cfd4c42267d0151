# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the modules know about Exoscale AI: the resources declared for the resource layer, lookups, failure messages."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError, api_path
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import pick_one
from ansible_collections.inferops.exoscale.plugins.module_utils import diagnosis
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
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

DEPLOYMENT_BUSY_STATES = ("creating", "preparing", "deploying", "scaling", "updating")
ERROR_LOG_LINES = 10
DIAGNOSIS_LOG_LINES = 100  # vLLM prints a traceback after the root cause: read enough lines to reach it


# Models

def list_models(client):
    return MODEL.list(client)


def find_model(client, name=None, model_id=None):
    """One request: GET by id, or list and match by name (None when absent)."""
    model = MODEL.find(client, name=name, resource_id=model_id)
    if model and model_id and name and model.get("name") != name:
        raise Refused("Model id %s is named %r, not %r." % (model_id, model.get("name"), name))
    return model


def create_model(client, name, huggingface_token, deadline):
    """Create a model that never duplicates (see ``Resource.create``); the id to use."""
    body = {"name": name}
    if huggingface_token:
        body["huggingface-token"] = huggingface_token
    model, created = MODEL.create(client, body, deadline)
    return MODEL.keep_oldest(client, name, model["id"], deadline) if created else model["id"]


def settle_model_duplicates(client, name, model_id, deadline):
    """After this run created model ``model_id``: the id to keep when a concurrent run created one too."""
    return MODEL.keep_oldest(client, name, model_id, deadline)


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

def list_deployments(client, visibility="private"):
    """Deployments of the organisation (``private``), Exoscale-managed ones (``public``) or all (None)."""
    return DEPLOYMENT.list(client, visibility)


def get_deployment(client, deployment_id):
    return DEPLOYMENT.get(client, deployment_id)


def find_deployment(client, name=None, deployment_id=None):
    """The full deployment by id, or by name among private ones (list + get); None when absent."""
    return DEPLOYMENT.find(client, name=name, resource_id=deployment_id)


def create_deployment(client, body, deadline):
    """Create a deployment that never duplicates (see ``Resource.create``); the id to use."""
    try:
        deployment, created = DEPLOYMENT.create(client, body, deadline)
    except ExoscaleError as exc:
        if exc.status in DEPLOYMENT.hints:
            exc.message = exc.args[0] + DEPLOYMENT.hints[exc.status]
            exc.args = (exc.message,)
        raise
    return DEPLOYMENT.keep_oldest(client, body["name"], deployment["id"], deadline) if created else deployment["id"]


def settle_deployment_duplicates(client, name, deployment_id, deadline):
    """After this run created deployment ``deployment_id``: the id to keep when a concurrent run created one too."""
    return DEPLOYMENT.keep_oldest(client, name, deployment_id, deadline)


def deployment_logs(client, deployment_id, tail=ERROR_LOG_LINES):
    try:
        logs = client.get(api_path("/ai/deployment/{deployment_id}/logs", deployment_id=deployment_id), query={"tail": tail}).get("logs", [])
    except ExoscaleError:
        return []
    return ["%s %s %s" % (entry.get("time", ""), entry.get("node", ""), entry.get("message", "")) for entry in logs]


def deployment_failed(client, deployment):
    """The error for a deployment in ``error``: its details, the diagnosed cause and fix, the last log lines."""
    logs = deployment_logs(client, deployment["id"], tail=DIAGNOSIS_LOG_LINES)
    found = diagnosis.diagnose(logs, deployment)
    message = diagnosis.failure_message(deployment, found, logs, shown=ERROR_LOG_LINES)
    return ResourceFailed(message, resource=deployment, diagnosis=found)


def wait_timed_out(client, deployment_id, error):
    """A readiness wait that timed out, with the diagnosis of the log tail (a crash-looping engine says why)."""
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


def delete_deployment(client, deployment_id, deadline):
    DEPLOYMENT.delete(client, deployment_id, deadline)


def wait_deployment_gone(client, deployment_id, deadline):
    return DEPLOYMENT.wait_gone(client, deployment_id, deadline)


def reveal_api_key(client, deployment_id):
    return client.get(api_path("/ai/deployment/{deployment_id}/api-key", deployment_id=deployment_id)).get("api-key")


# Catalogue lookups used by preflight checks and info modules

def list_instance_types(client):
    return client.get("/ai/instance-type").get("instance-types", [])


def engine_parameters(client, version=None):
    query = {"version": version} if version else None
    return client.get("/ai/help/inference-engine-parameters", query=query).get("parameters", [])


def engine_flag(parameter):
    """The flag an engine argument sets: ``--max-model-len=4096`` and ``--max-model-len 4096`` -> ``--max-model-len``."""
    return parameter.strip().split("=", 1)[0].split(None, 1)[0] if parameter.strip() else ""


# Declarations for the resource layer (plugins/module_utils/resource.py): each kind once.

def _model_ref(deployment):
    return deployment.get("model") or {}


MODEL = Resource(
    "model", "/ai/model", "models",
    [Field("name"), Field("huggingface_token", change=CREATE_ONLY)],
    ready=("ready",), failed=("error",), busy=("creating", "created", "downloading"))

DEPLOYMENT = Resource(
    "deployment", "/ai/deployment", "deployments",
    [Field("name", change=PATCH, required=True),
     Field("model", required=True, to_api=lambda model_id: {"id": model_id},
           read=lambda d: _model_ref(d).get("name") or _model_ref(d).get("id"),
           matches=lambda d, wanted: not _model_ref(d) or wanted in (_model_ref(d).get("name"), _model_ref(d).get("id"))),
     Field("gpu_type", required=True),
     Field("gpu_count", required=True),
     Field("replicas", change=SCALE),
     Field("inference_engine_version", change=PATCH),
     Field("inference_engine_parameters", change=PATCH, empty=[])],
    ready=("ready",), failed=("error",), busy=DEPLOYMENT_BUSY_STATES,
    private_only=True, get_after_list=True, busy_conflicts=True, lingers=True,
    hints={412: " Not enough GPUs of that family are free for gpu_count x replicas: lower them, choose another gpu_type"
                " (inferops.exoscale.ai_instance_type_info lists the families), or free GPUs by scaling other"
                " deployments down, then run the task again."})

API_KEY = Resource(
    "api_key", "/ai/api-key", "ai-api-keys",
    [Field("name"), Field("scope", required=True)],
    creates=OBJECT, title="AI API key")

UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def deployment_id(client, wanted, module):
    """The id of the deployment ``wanted`` names (or is); in check mode a missing one is predicted."""
    if UUID_PATTERN.match(wanted):
        return wanted
    found = pick_one(DEPLOYMENT.list(client), "deployment", name=wanted)
    if found:
        return found["id"]
    if module.check_mode:
        module.warn("deployment %r does not exist yet; the result is predicted as if an earlier task created it." % wanted)
        return wanted
    raise Refused("scope: no deployment named %r in this zone; give public, or a deployment's name or id." % wanted)


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
