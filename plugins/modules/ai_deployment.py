#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_deployment
short_description: Manage AI model deployments on Exoscale Dedicated Inference
version_added: 0.1.0
description:
  - Deploy a model on dedicated GPUs, change it, scale it (also to zero), and delete it; wait until it serves.
  - Idempotent against the current deployment. A change of O(replicas) scales it; a change of
    O(inference_engine_version) or O(inference_engine_parameters) updates it in place; with O(id), a different
    O(name) renames it.
  - O(model), O(gpu_type) and O(gpu_count) cannot change on an existing deployment. The task fails listing such
    changes unless O(recreate=true), which deletes the deployment, waits until it is gone, and creates it again.
  - Before any write, the task checks that the GPU family exists and is authorized, that the engine parameters are
    known flags of the engine version, and that the model exists. A model that is still downloading is waited for
    (when O(wait=true)); a model in V(error) makes the task fail. In check mode a model that does not exist yet
    (because an earlier task would create it) gives a warning and the predicted deployment.
  - The deployment's API key is never returned; use M(inferops.exoscale.ai_deployment_info) with
    O(inferops.exoscale.ai_deployment_info#module:include_api_key=true).
author:
  - inferops contributors (@inferops)
options:
  name:
    description:
      - Deployment name. Names are not unique in Exoscale; the task matches among your own (private) deployments
        and fails if several have this name (then set O(id)).
      - Required unless O(id) is given.
    type: str
  id:
    description:
      - Deployment id. With O(id), O(name) is the wanted name, so a different name renames the deployment.
    type: str
  model:
    description:
      - The model to serve, by Hugging Face name (as created with M(inferops.exoscale.ai_model)) or by id.
      - Required to create a deployment.
    type: str
  gpu_type:
    description:
      - GPU family, for example C(gpua5000) or C(gpu3080ti). See M(inferops.exoscale.ai_instance_type_info).
      - Required to create a deployment.
    type: str
  gpu_count:
    description:
      - GPUs per replica, 1 to 8. Required to create a deployment.
    type: int
  replicas:
    description:
      - Number of replicas. At least 1 when the deployment is created (default 1 then); 0 scales an existing
        deployment to zero (it stops serving and uses no GPU).
    type: int
  inference_engine_version:
    description:
      - vLLM engine version, for example C(0.28.0). When creating without it, Exoscale uses the newest.
      - When not set, the version of an existing deployment is left as it is.
    type: str
  inference_engine_parameters:
    description:
      - Extra engine command-line arguments, for example C(--max-model-len=8192).
      - See M(inferops.exoscale.ai_engine_parameter_info) for the flags a version accepts.
      - When not set, the parameters of an existing deployment are left as they are; V([]) clears them.
    type: list
    elements: str
  state:
    description:
      - V(present) creates or updates the deployment; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  recreate:
    description:
      - Replace the deployment (delete, then create) when O(model), O(gpu_type) or O(gpu_count) differ,
        or when it is in state V(error). This drops the deployment's URL and API key.
    type: bool
    default: false
  wait:
    description:
      - Wait until the deployment is V(ready) (or gone, for V(absent)). Never waits in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, for operations and readiness.
    type: int
    default: 1800
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: all
'''

EXAMPLES = r'''
- name: Deploy a model on one A5000 GPU and wait until it serves
  inferops.exoscale.ai_deployment:
    name: qwen-small
    model: Qwen/Qwen2.5-0.5B-Instruct
    gpu_type: gpua5000
    gpu_count: 1
    replicas: 1
    inference_engine_parameters:
      - --max-model-len=4096
  register: deployment

- name: Scale it to zero outside office hours
  inferops.exoscale.ai_deployment:
    name: qwen-small
    replicas: 0

- name: Upgrade the engine version in place
  inferops.exoscale.ai_deployment:
    name: qwen-small
    inference_engine_version: "0.28.0"

- name: Move it to two GPUs (replaces the deployment)
  inferops.exoscale.ai_deployment:
    name: qwen-small
    model: Qwen/Qwen2.5-0.5B-Instruct
    gpu_type: gpua5000
    gpu_count: 2
    replicas: 1
    recreate: true

- name: Delete it
  inferops.exoscale.ai_deployment:
    name: qwen-small
    state: absent
'''

RETURN = r'''
deployment:
  description: The deployment after the task (for O(state=absent), as it was; empty if it did not exist). Never contains the API key.
  returned: always
  type: dict
  contains:
    id:
      description: Deployment id.
      type: str
      sample: 7d1c8f0e-5a7b-4c1e-9f7e-0a1b2c3d4e5f
    name:
      description: Deployment name.
      type: str
      sample: qwen-small
    state:
      description: One of V(creating), V(preparing), V(deploying), V(ready), V(scaling), V(updating), V(error).
      type: str
      sample: ready
    state_details:
      description: Details about the state, especially V(error).
      type: str
      returned: when the API gives them
    model:
      description: The model served, with C(id) and C(name).
      type: dict
      sample: {"id": "0b6f6a1e-4d2f-4a87-9a43-1a2b3c4d5e6f", "name": "Qwen/Qwen2.5-0.5B-Instruct"}
    gpu_type:
      description: GPU family.
      type: str
      sample: gpua5000
    gpu_count:
      description: GPUs per replica.
      type: int
      sample: 1
    replicas:
      description: Number of replicas.
      type: int
      sample: 1
    deployment_url:
      description: The OpenAI-compatible inference endpoint (empty until it serves).
      type: str
      sample: https://example.inference.ch-gva-2.exoscale.com/v1
    inference_engine_version:
      description: vLLM version.
      type: str
      sample: 0.28.0
    inference_engine_parameters:
      description: Extra engine arguments.
      type: list
      elements: str
      sample: ["--max-model-len=4096"]
    visibility:
      description: V(private) for your deployments.
      type: str
      sample: private
    service_level:
      description: Service level.
      type: str
      returned: when the API gives it
    created_at:
      description: Creation time.
      type: str
    updated_at:
      description: Last update time.
      type: str
duration:
  description: Seconds spent waiting for operations and readiness.
  returned: when the task changed something or waited
  type: float
  sample: 95.2
state_history:
  description: The states the deployment went through while the task waited, with the seconds since the task started.
  returned: when the task waited for readiness
  type: list
  elements: dict
  sample: [{"state": "creating", "seconds": 0.4}, {"state": "deploying", "seconds": 31.0}, {"state": "ready", "seconds": 88.2}]
'''

import re

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import (
    AmbiguousName,
    to_snake,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import (
    client_from_module,
    exoscale_module,
    fail_from_error,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline

MAX_GPU_COUNT = 8
IMMUTABLE_FIELDS = ("model", "gpu_type", "gpu_count")
VERSION_PATTERN = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


class Refused(Exception):
    """Input that cannot work; the message names the option and what is allowed."""


def validate_input(params):
    """Checks that need no API request."""
    if params["name"] is not None and not params["name"].strip():
        raise Refused("name must not be empty.")
    if params["gpu_count"] is not None and not 1 <= params["gpu_count"] <= MAX_GPU_COUNT:
        raise Refused("gpu_count must be between 1 and %d, got %d." % (MAX_GPU_COUNT, params["gpu_count"]))
    if params["replicas"] is not None and params["replicas"] < 0:
        raise Refused("replicas must be 0 or more (0 scales to zero), got %d." % params["replicas"])
    version = params["inference_engine_version"]
    if version is not None and not VERSION_PATTERN.match(version):
        raise Refused("inference_engine_version must be a version such as 0.28.0, got %r." % version)
    for parameter in params["inference_engine_parameters"] or []:
        if not ai.engine_flag(parameter).startswith("-"):
            raise Refused("inference_engine_parameters entries must start with a flag such as --max-model-len=4096, got %r."
                          % parameter)
    if params["wait_timeout"] <= 0:
        raise Refused("wait_timeout must be a positive number of seconds, got %d." % params["wait_timeout"])
    for field in ("model", "gpu_type"):
        if params[field] is not None and not params[field].strip():
            raise Refused("%s must not be empty." % field)


def current_view(deployment):
    """The user-facing fields of a deployment, as compared and shown in the diff."""
    if not deployment:
        return {"state": "absent"}
    model = deployment.get("model") or {}
    return {
        "name": deployment.get("name"),
        "model": model.get("name") or model.get("id"),
        "gpu_type": deployment.get("gpu-type"),
        "gpu_count": deployment.get("gpu-count"),
        "replicas": deployment.get("replicas"),
        "inference_engine_version": deployment.get("inference-engine-version"),
        "inference_engine_parameters": deployment.get("inference-engine-parameters"),
        "state": deployment.get("state"),
    }


def immutable_changes(params, deployment):
    """``field: (current, wanted)`` for fields that need a new deployment. Unknown current values never count."""
    model = deployment.get("model") or {}
    changes = {}
    if params["model"] is not None and params["model"] not in (model.get("name"), model.get("id")):
        changes["model"] = (model.get("name") or model.get("id"), params["model"])
    for field in ("gpu_type", "gpu_count"):
        current = deployment.get(field.replace("_", "-"))
        if params[field] is not None and current is not None and params[field] != current:
            changes[field] = (current, params[field])
    return changes


def update_body(params, deployment):
    """The PATCH body for the mutable fields that differ (empty when none)."""
    body = {}
    if params["id"] and params["name"] is not None and params["name"] != deployment.get("name"):
        body["name"] = params["name"]
    version = params["inference_engine_version"]
    if version is not None and version != deployment.get("inference-engine-version"):
        body["inference-engine-version"] = version
    parameters = params["inference_engine_parameters"]
    if parameters is not None and parameters != (deployment.get("inference-engine-parameters") or []):
        body["inference-engine-parameters"] = parameters
    return body


def check_gpu_type(client, gpu_type):
    families = dict((t.get("family"), t.get("authorized")) for t in ai.list_instance_types(client))
    authorized = sorted(f for f, ok in families.items() if ok)
    if gpu_type not in families:
        raise Refused("gpu_type %r is not a GPU family of this zone; choose one of: %s."
                      % (gpu_type, ", ".join(sorted(families)) or "(none)"))
    if not families[gpu_type]:
        raise Refused("gpu_type %r is not authorized for your organization in this zone; authorized families: %s."
                      " Ask Exoscale support for access or choose another family." % (gpu_type, ", ".join(authorized) or "(none)"))


def check_engine_parameters(client, version, parameters):
    if not version and not parameters:
        return  # the API's default engine and no extra flags: nothing to check
    try:
        known = ai.engine_parameters(client, version)
    except ExoscaleError as exc:
        if exc.status == 400:
            raise Refused("inference_engine_version %r is not known to the API: %s" % (version, exc.api_message))
        raise
    flags = set(flag for entry in known for flag in entry.get("flags") or [])
    unknown = [p for p in parameters or [] if ai.engine_flag(p) not in flags]
    if unknown:
        raise Refused("inference_engine_parameters: %s %s not known to engine version %s; known flags: %s."
                      % (", ".join(unknown), "is" if len(unknown) == 1 else "are", version or "(default)",
                         ", ".join(sorted(flags))))


def resolve_model(module, client, deadline):
    """The model to deploy; waits for one that is still downloading (when waiting)."""
    wanted = module.params["model"]
    by_id = re.match(r"^[0-9a-fA-F-]{36}$", wanted)
    model = ai.find_model(client, model_id=wanted) if by_id else ai.find_model(client, name=wanted)
    if model is None and module.check_mode:
        # In a check run the ai_model task before this one only predicted the model.
        module.warn("model %r does not exist yet; the deployment is predicted as if an earlier task created it." % wanted)
        return {"id": wanted if by_id else None, "name": None if by_id else wanted, "state": "ready"}
    if model is None:
        raise Refused("model %r does not exist in this zone; create it first with inferops.exoscale.ai_model." % wanted)
    if model.get("state") == "error":
        raise Refused(ai.model_failed_message(model))
    if model.get("state") != "ready":
        if not module.params["wait"]:
            raise Refused("model %r is %s, not ready; run with wait=true to wait for it." % (wanted, model.get("state")))
        if not module.check_mode:
            model, dummy = ai.wait_model_ready(client, model["id"], deadline)
    return model


def create(module, client, deadline, history, before_write=None):
    """Check everything, then (unless in check mode) call ``before_write`` and create the deployment."""
    params = module.params
    missing = [f for f in ("name", "model", "gpu_type", "gpu_count") if params[f] is None]
    if missing:
        raise Refused("To create deployment %r, set %s." % (params["name"] or params["id"], ", ".join(missing)))
    if params["id"]:
        raise Refused("No deployment with id %s exists; to create one, give name without id." % params["id"])
    replicas = 1 if params["replicas"] is None else params["replicas"]
    if replicas < 1:
        raise Refused("replicas must be at least 1 to create a deployment (scale to 0 afterwards), got %d." % replicas)
    check_gpu_type(client, params["gpu_type"])
    check_engine_parameters(client, params["inference_engine_version"], params["inference_engine_parameters"])
    model = resolve_model(module, client, deadline)
    predicted = {"name": params["name"], "model": {"id": model.get("id"), "name": model.get("name")},
                 "gpu-type": params["gpu_type"], "gpu-count": params["gpu_count"], "replicas": replicas,
                 "inference-engine-version": params["inference_engine_version"],
                 "inference-engine-parameters": params["inference_engine_parameters"] or [],
                 "state": "ready" if params["wait"] else "creating", "visibility": "private"}
    if module.check_mode:
        return predicted
    if before_write:
        before_write()
    body = {"name": params["name"], "model": {"id": model["id"]}, "gpu-type": params["gpu_type"],
            "gpu-count": params["gpu_count"], "replicas": replicas}
    if params["inference_engine_version"]:
        body["inference-engine-version"] = params["inference_engine_version"]
    if params["inference_engine_parameters"]:
        body["inference-engine-parameters"] = params["inference_engine_parameters"]
    deployment_id = ai.create_deployment(client, body, deadline)
    deployment = settle(module, client, deployment_id, deadline, history)
    if params["wait"]:
        # A concurrent run may have created one too while this one waited: both keep the oldest.
        kept = ai.settle_deployment_duplicates(client, params["name"], deployment_id, deadline)
        if kept != deployment_id:
            deployment = settle(module, client, kept, deadline, history)
    return deployment


def settle(module, client, deployment_id, deadline, history):
    if module.params["wait"]:
        return ai.wait_deployment_ready(client, deployment_id, deadline, history)[0]
    return ai.get_deployment(client, deployment_id)


def replace(module, client, deployment, deadline, history):
    def delete_old():
        ai.delete_deployment(client, deployment["id"], deadline)
        ai.wait_deployment_gone(client, deployment["id"], deadline)

    name = module.params["name"] or deployment.get("name")
    module.params.update(id=None, name=name)
    for field in IMMUTABLE_FIELDS:
        if module.params[field] is None:
            current = current_view(deployment)[field]
            module.params[field] = current
    if module.params["inference_engine_version"] is None:
        module.params["inference_engine_version"] = deployment.get("inference-engine-version")
    if module.params["inference_engine_parameters"] is None:
        module.params["inference_engine_parameters"] = deployment.get("inference-engine-parameters") or []
    if module.params["replicas"] is None:
        module.params["replicas"] = max(1, deployment.get("replicas") or 1)
    # The new settings are checked before the old deployment is deleted: a refusal leaves it in place.
    return create(module, client, deadline, history, before_write=delete_old)


def update(module, client, deployment, deadline, history):
    """Bring an existing deployment to the wanted state; return (changed, deployment)."""
    params = module.params
    immutable = immutable_changes(params, deployment)
    if immutable and not params["recreate"]:
        raise Refused("Deployment %r cannot change %s in place (%s). Set recreate=true to replace it (new URL and API key)."
                      % (deployment.get("name"), ", ".join(sorted(immutable)),
                         "; ".join("%s: %s -> %s" % (f, c, w) for f, (c, w) in sorted(immutable.items()))))
    if immutable or (deployment.get("state") == "error" and params["recreate"]):
        return True, replace(module, client, deployment, deadline, history)
    if deployment.get("state") == "error":
        raise ai.deployment_failed(client, deployment)

    body = update_body(params, deployment)
    scale = params["replicas"] is not None and params["replicas"] != deployment.get("replicas")
    if not body and not scale:
        if params["wait"] and not module.check_mode and deployment.get("state") != "ready":
            deployment = ai.wait_deployment_ready(client, deployment["id"], deadline, history)[0]
        return False, deployment
    if "inference-engine-parameters" in body or "inference-engine-version" in body:
        check_engine_parameters(client, body.get("inference-engine-version") or deployment.get("inference-engine-version"),
                                body.get("inference-engine-parameters", deployment.get("inference-engine-parameters")))
    if module.check_mode:
        predicted = dict(deployment, **body)
        if scale:
            predicted["replicas"] = params["replicas"]
        return True, predicted

    if deployment.get("state") in ai.DEPLOYMENT_BUSY_STATES:
        ai.wait_deployment_ready(client, deployment["id"], deadline)
    path = "/ai/deployment/%s" % deployment["id"]
    if body:
        client.operation("PATCH", path, body=body, deadline=deadline, retry_writes=True, retry_conflict=True)
    if scale:
        if body:
            ai.wait_deployment_ready(client, deployment["id"], deadline)
        client.operation("POST", path + "/scale", body={"replicas": params["replicas"]}, deadline=deadline,
                         retry_writes=True, retry_conflict=True)
    return True, settle(module, client, deployment["id"], deadline, history)


def run(module, client, deadline, history):
    params = module.params
    deployment = ai.find_deployment(client, name=params["name"], deployment_id=params["id"])
    if params["state"] == "absent":
        if deployment and not module.check_mode:
            ai.delete_deployment(client, deployment["id"], deadline)
            if params["wait"]:
                ai.wait_deployment_gone(client, deployment["id"], deadline)
        return deployment is not None, deployment, None, deployment
    if deployment is None:
        after = create(module, client, deadline, history)
        return True, None, after, after
    changed, after = update(module, client, deployment, deadline, history)
    return changed, deployment, after, after


def main():
    module = exoscale_module(
        dict(
            name=dict(type="str"),
            id=dict(type="str"),
            model=dict(type="str"),
            gpu_type=dict(type="str"),
            gpu_count=dict(type="int"),
            replicas=dict(type="int"),
            inference_engine_version=dict(type="str"),
            inference_engine_parameters=dict(type="list", elements="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            recreate=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
        ),
        required_one_of=[("name", "id")],
    )
    try:
        validate_input(module.params)
    except Refused as exc:
        module.fail_json(msg=str(exc))
    client = client_from_module(module)
    deadline = Deadline(module.params["wait_timeout"])
    history = []
    try:
        changed, before, after, returned = run(module, client, deadline, history)
    except (Refused, AmbiguousName) as exc:
        module.fail_json(msg=str(exc))
    except (ai.ResourceFailed, ai.ResourceWaitTimeout) as exc:
        fail_from_error(module, exc, deployment=to_snake(exc.resource or {}), duration=round(deadline.elapsed(), 2),
                        state_history=history)
    except ExoscaleError as exc:
        fail_from_error(module, exc)

    diff_after = current_view(after) if module.params["state"] == "present" else {"state": "absent"}
    result = dict(changed=changed, deployment=to_snake(returned or {}),
                  diff=dict(before=current_view(before), after=diff_after))
    if changed or module.params["wait"]:
        result["duration"] = round(deadline.elapsed(), 2)
    if history:
        result["state_history"] = history
    module.exit_json(**result)


if __name__ == "__main__":
    main()
