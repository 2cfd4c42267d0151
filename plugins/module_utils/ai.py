# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the modules know about AI models and deployments: lookups, creates that never duplicate, waits."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import pick_one
from ansible_collections.inferops.exoscale.plugins.module_utils import diagnosis
from ansible_collections.inferops.exoscale.plugins.module_utils import progress
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
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline, READINESS_SCHEDULE, WaitTimeout, wait_until

DEPLOYMENT_BUSY_STATES = ("creating", "preparing", "deploying", "scaling", "updating")
ERROR_LOG_LINES = 10
DIAGNOSIS_LOG_LINES = 100  # vLLM prints a traceback after the root cause: read enough lines to reach it


def _get_or_none(client, path):
    try:
        return client.get(path)
    except ExoscaleError as exc:
        if exc.status == 404:
            return None
        raise


# After a create timed out (the server may still be working on it), look for the resource this many
# api_timeouts before sending the create again.
IN_FLIGHT_GRACE_FACTOR = 2


def _look_for(client, find_existing, error, deadline):
    """The resource an uncertain create may have made, or None; waits a grace period when still in flight."""
    existing = find_existing()
    if existing or not error.in_flight:
        return existing
    grace = Deadline(min(IN_FLIGHT_GRACE_FACTOR * (client.timeout or 30.0), max(0.0, deadline.remaining())),
                     clock=deadline.clock)
    try:
        return wait_until(find_existing, lambda found: found is not None, grace, READINESS_SCHEDULE,
                          sleep=client.sleep)[0]
    except WaitTimeout:
        return None


def _create(client, path, body, deadline, find_existing):
    """POST a create and wait for its operation; return ``(id, created)``.

    Every time the outcome is uncertain (the response was lost, or a 502/503/504
    answered: the server may have created it), look the resource up by name
    before sending again, so a retry never duplicates; after a timeout the
    server may still be working on it, so keep looking for
    ``IN_FLIGHT_GRACE_FACTOR`` x api_timeout first. As many sends as the
    client's retry budget allows (``RetryPolicy.attempts``), with its backoff
    between them. ``created`` is False when an existing resource was adopted.
    """
    attempts = client.retry.attempts
    for attempt in range(attempts):
        try:
            operation = client.request("POST", path, body=body)
            break
        except ExoscaleError as exc:
            if not exc.uncertain or attempt + 1 >= attempts or deadline.expired():
                if attempt:
                    exc.message = "%s Sent %d times; before each resend the resource was looked up by name and not found." % (
                        exc.args[0], attempt + 1)
                    exc.args = (exc.message,)
                raise
            existing = _look_for(client, find_existing, exc, deadline)
            if existing:
                return existing["id"], False
            client.sleep(client.retry.delay(attempt, exc.retry_after))
    return client.wait_operation(operation, deadline)["reference"]["id"], True


def oldest_of(resources):
    """The resource every concurrent run keeps: the oldest by ``created-at``, then by id."""
    return min(resources, key=lambda r: (r.get("created-at") or "", r.get("id") or ""))


def _keep_oldest(own_id, same_name, delete_own):
    """Two runs that both found nothing both created: converge on one resource.

    Every run that created applies the same rule to the same list: the oldest
    resource of that name is kept; a run whose own resource is not the oldest
    deletes it (only its own, never another's) and adopts the oldest. Returns
    the id to use.
    """
    resources = same_name()
    if len(resources) < 2 or own_id not in [r.get("id") for r in resources]:
        return own_id
    keeper = oldest_of(resources)
    if keeper.get("id") != own_id:
        delete_own()
    return keeper.get("id")


def _wait(client, fetch, done, deadline, what, history=None, kind=None):
    """Poll until ``done``; append each state change to ``history`` as ``{state, seconds}`` and report it."""
    def observed(resource):
        state = (resource or {}).get("state", "absent")
        if history is not None and (not history or history[-1]["state"] != state):
            history.append({"state": state, "seconds": round(deadline.elapsed(), 1)})
            progress.report(kind, (resource or {}).get("name"), state, deadline.elapsed(), (resource or {}).get("state-details"))
        return done(resource)
    try:
        return wait_until(fetch, observed, deadline, READINESS_SCHEDULE, sleep=client.sleep,
                          describe=what)
    except WaitTimeout as exc:
        raise ResourceWaitTimeout("%s. Raise wait_timeout, or run again later: the task picks up where it stopped."
                                  % exc, resource=exc.last)


# Models

def list_models(client):
    return client.get("/ai/model").get("models", [])


def find_model(client, name=None, model_id=None):
    """One request: GET by id, or list and match by name (None when absent)."""
    model = MODEL.find(client, name=name, resource_id=model_id)
    if model and model_id and name and model.get("name") != name:
        raise Refused("Model id %s is named %r, not %r." % (model_id, model.get("name"), name))
    return model


def create_model(client, name, huggingface_token, deadline):
    body = {"name": name}
    if huggingface_token:
        body["huggingface-token"] = huggingface_token
    model_id, created = _create(client, "/ai/model", body, deadline, lambda: find_model(client, name=name))
    return settle_model_duplicates(client, name, model_id, deadline) if created else model_id


def settle_model_duplicates(client, name, model_id, deadline):
    """After this run created model ``model_id``: the id to keep when a concurrent run created one too."""
    return _keep_oldest(model_id, lambda: [m for m in list_models(client) if m.get("name") == name],
                        lambda: delete_model(client, {"id": model_id, "name": name}, deadline))


def model_failed_message(model):
    return ("Model %r (id %s) is in state error: Exoscale could not download it. Check that the Hugging Face"
            " repository exists, has safetensors weights, and, for a gated model, that huggingface_token belongs"
            " to an account that accepted its licence. Delete it (state=absent) or set recreate=true to try again."
            % (model.get("name"), model.get("id")))


def wait_model_ready(client, model_id, deadline, history=None):
    """Poll the model until ``ready``; stop at once on ``error``. Returns (model, polls)."""
    def done(model):
        if model is None:
            raise ResourceFailed("Model %s disappeared while waiting for it to become ready." % model_id)
        if model.get("state") == "error":
            raise ResourceFailed(model_failed_message(model), resource=model)
        return model.get("state") == "ready"
    return _wait(client, lambda: _get_or_none(client, "/ai/model/%s" % model_id), done, deadline,
                 lambda m: "model %s to become ready (last state: %s)" % (model_id, (m or {}).get("state")), history,
                 kind="model")


def delete_model(client, model, deadline):
    try:
        client.operation("DELETE", "/ai/model/%s" % model["id"], deadline=deadline, retry_writes=True)
    except ExoscaleError as exc:
        if exc.status == 404:
            return
        if exc.status == 412:
            users = (exc.body or {}).get("deployments") or []
            raise ExoscaleError(
                "Model %r (id %s) is used by deployment(s) %s: delete them first (ai_deployment state=absent)."
                % (model.get("name"), model["id"], ", ".join(str(u) for u in users) or "(not listed)"),
                status=412, method="DELETE", path="/ai/model/%s" % model["id"], api_message=exc.api_message, body=exc.body)
        raise


# Deployments

def list_deployments(client, visibility="private"):
    """Deployments of the organisation (``private``), Exoscale-managed ones (``public``) or all (None)."""
    query = {"visibility": visibility} if visibility else None
    deployments = client.get("/ai/deployment", query=query).get("deployments", [])
    if visibility:
        deployments = [d for d in deployments if d.get("visibility", "private") == visibility]
    return deployments


def get_deployment(client, deployment_id):
    return _get_or_none(client, "/ai/deployment/%s" % deployment_id)


def find_deployment(client, name=None, deployment_id=None):
    """The full deployment by id, or by name among private ones (list + get); None when absent."""
    if deployment_id:
        return get_deployment(client, deployment_id)
    match = pick_one(list_deployments(client), "deployment", name=name)
    return get_deployment(client, match["id"]) if match else None


GPU_SHORTAGE_HINT = (" Not enough %s GPUs are free for gpu_count x replicas: lower them, choose another gpu_type"
                     " (inferops.exoscale.ai_instance_type_info lists the families), or free GPUs by scaling other"
                     " deployments down, then run the task again.")


def create_deployment(client, body, deadline):
    try:
        deployment_id, created = _create(client, "/ai/deployment", body, deadline,
                                         lambda: pick_one(list_deployments(client), "deployment", name=body["name"]))
    except ExoscaleError as exc:
        if exc.status == 412:
            exc.message = exc.args[0] + GPU_SHORTAGE_HINT % body.get("gpu-type")
            exc.args = (exc.message,)
        raise
    return settle_deployment_duplicates(client, body["name"], deployment_id, deadline) if created else deployment_id


def settle_deployment_duplicates(client, name, deployment_id, deadline):
    """After this run created deployment ``deployment_id``: the id to keep when a concurrent run created one too."""
    return _keep_oldest(deployment_id, lambda: [d for d in list_deployments(client) if d.get("name") == name],
                        lambda: delete_deployment(client, deployment_id, deadline))


def deployment_logs(client, deployment_id, tail=ERROR_LOG_LINES):
    try:
        logs = client.get("/ai/deployment/%s/logs" % deployment_id, query={"tail": tail}).get("logs", [])
    except ExoscaleError:
        return []
    return ["%s %s %s" % (entry.get("time", ""), entry.get("node", ""), entry.get("message", "")) for entry in logs]


def deployment_failed(client, deployment):
    """The error for a deployment in ``error``: its details, the diagnosed cause and fix, the last log lines."""
    logs = deployment_logs(client, deployment["id"], tail=DIAGNOSIS_LOG_LINES)
    found = diagnosis.diagnose(logs, deployment)
    advice = ("Fix the cause (see the details and log lines), then" if found["cause"] == "unknown"
              else diagnosis.describe(found) + " Then")
    message = ("Deployment %r (id %s) is in state error: %s. %s run the task again with recreate=true to replace it,"
               " or delete it (state=absent).") % (
        deployment.get("name"), deployment.get("id"), (deployment.get("state-details") or "no details given").rstrip("."),
        advice)
    if logs:
        message += " Last log lines:\n" + "\n".join(logs[-ERROR_LOG_LINES:])
    return ResourceFailed(message, resource=deployment, diagnosis=found)


def wait_timed_out(client, deployment_id, error):
    """A readiness wait that timed out, with the diagnosis of the log tail (a crash-looping engine says why)."""
    found = diagnosis.diagnose(deployment_logs(client, deployment_id, tail=DIAGNOSIS_LOG_LINES), error.resource)
    message = str(error) if found["cause"] == "unknown" else "%s %s" % (error, diagnosis.describe(found))
    return ResourceWaitTimeout(message, resource=error.resource, diagnosis=found)


def wait_deployment_ready(client, deployment_id, deadline, history=None):
    def done(deployment):
        if deployment is None:
            raise ResourceFailed("Deployment %s disappeared while waiting for it to become ready." % deployment_id)
        if deployment.get("state") == "error":
            raise deployment_failed(client, deployment)
        return deployment.get("state") == "ready"
    try:
        return _wait(client, lambda: get_deployment(client, deployment_id), done, deadline,
                     lambda d: "deployment %s to become ready (last state: %s)" % (deployment_id, (d or {}).get("state")),
                     history, kind="deployment")
    except ResourceWaitTimeout as exc:
        raise wait_timed_out(client, deployment_id, exc)


def delete_deployment(client, deployment_id, deadline):
    try:
        client.operation("DELETE", "/ai/deployment/%s" % deployment_id, deadline=deadline,
                         retry_writes=True, retry_conflict=True)
    except ExoscaleError as exc:
        if exc.status != 404:
            raise


def wait_deployment_gone(client, deployment_id, deadline):
    return _wait(client, lambda: get_deployment(client, deployment_id), lambda d: d is None, deadline,
                 lambda d: "deployment %s to be deleted (last state: %s)" % (deployment_id, (d or {}).get("state")))


def reveal_api_key(client, deployment_id):
    return client.get("/ai/deployment/%s/api-key" % deployment_id).get("api-key")


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
        quotas = [client.get("/quota/%s" % family)]
    else:
        quotas = [q for q in client.get("/quota").get("quotas", []) if str(q.get("resource", "")).startswith("gpu")]
    found = {}
    for quota in quotas:
        limit, usage = quota.get("limit", -1), quota.get("usage", 0)
        found[quota["resource"]] = dict(limit=limit, usage=usage, unlimited=limit < 0,
                                        free=-1 if limit < 0 else max(0, limit - usage))
    return found
