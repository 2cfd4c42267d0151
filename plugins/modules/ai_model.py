#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_model
short_description: Manage AI models on Exoscale Dedicated Inference
version_added: 0.1.0
description:
  - Upload (create) a model from Hugging Face into an Exoscale zone, wait until it is downloaded and V(ready),
    or delete it.
  - Idempotent - a model is found by its Hugging Face name (or O(id)); an existing model is never created again.
  - Models cannot be changed after creation; there are no fields to update.
author:
  - inferops contributors (@inferops)
options:
  name:
    description:
      - The exact Hugging Face repository id, for example C(Qwen/Qwen2.5-7B-Instruct) or C(openai/gpt-oss-20b).
      - Exoscale downloads the weights from Hugging Face; they must be in safetensors format.
      - Required unless O(id) is given.
    type: str
  id:
    description:
      - The model's id. Use it to pick one model when several have the same name.
    type: str
  huggingface_token:
    description:
      - Hugging Face access token of an account that accepted the licence of a gated model
        (for example C(meta-llama/Llama-3.1-8B-Instruct)). Only sent when the model is created. Never logged.
    type: str
  state:
    description:
      - V(present) creates the model if it does not exist and (with O(wait)) waits until it is V(ready).
      - V(absent) deletes it. A model that deployments still use cannot be deleted; the task fails naming them.
    type: str
    choices: [present, absent]
    default: present
  recreate:
    description:
      - When the model exists but is in state V(error) (its download failed), delete it and create it again.
      - When V(false), such a model makes the task fail with its state, so a broken model is never mistaken for
        a usable one.
    type: bool
    default: false
  wait:
    description:
      - Wait until the model is V(ready) (O(state=present)). Without it the task returns once the API accepted
        the creation. Never waits in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, for operations and for the model to become V(ready).
        Large models (tens of GB) can take many minutes to download.
    type: int
    default: 3600
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
- name: Upload a small instruct model and wait until it is ready
  inferops.exoscale.ai_model:
    name: Qwen/Qwen2.5-0.5B-Instruct
    zone: ch-gva-2

- name: Upload a gated model with a Hugging Face token
  inferops.exoscale.ai_model:
    name: meta-llama/Llama-3.1-8B-Instruct
    huggingface_token: "{{ huggingface_token }}"

- name: Start a large upload without waiting for it
  inferops.exoscale.ai_model:
    name: openai/gpt-oss-20b
    wait: false
  register: upload

- name: Delete a model (fails while a deployment uses it)
  inferops.exoscale.ai_model:
    name: openai/gpt-oss-20b
    state: absent
'''

RETURN = r'''
model:
  description: The model after the task (for O(state=absent), as it was before deletion; empty if it did not exist).
  returned: always
  type: dict
  contains:
    id:
      description: Model id.
      type: str
      sample: 0b6f6a1e-4d2f-4a87-9a43-1a2b3c4d5e6f
    name:
      description: Hugging Face repository id.
      type: str
      sample: Qwen/Qwen2.5-0.5B-Instruct
    state:
      description: One of V(created), V(creating), V(downloading), V(ready), V(error).
      type: str
      sample: ready
    model_size:
      description: Size of the weights in bytes.
      type: int
      sample: 988097824
    created_at:
      description: Creation time.
      type: str
      sample: "2026-11-23T10:00:00Z"
    updated_at:
      description: Last update time.
      type: str
      sample: "2026-11-23T10:02:00Z"
duration:
  description: Seconds spent waiting for operations and readiness.
  returned: when the task waited
  type: float
  sample: 42.5
state_history:
  description: The states the model went through while the task waited, with the seconds since the task started.
  returned: when the task waited for readiness
  type: list
  elements: dict
  sample: [{"state": "creating", "seconds": 0.3}, {"state": "downloading", "seconds": 2.1}, {"state": "ready", "seconds": 40.9}]
'''

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


def diff_view(model):
    return {"name": model["name"], "state": model.get("state", "absent")} if model else {"state": "absent"}


def ensure_present(module, client, model, deadline, history):
    params = module.params
    name = params["name"] or (model or {}).get("name")
    if model and model.get("state") == "error":
        if not params["recreate"]:
            module.fail_json(msg=ai.model_failed_message(model), model=to_snake(model))
        if module.check_mode:
            return True, {"name": name, "state": "creating"}
        ai.delete_model(client, model, deadline)
        model = None
    elif not model and params["id"]:
        module.fail_json(msg="No model with id %s exists at %s; to create one, give name without id."
                         % (params["id"], client.base_url))

    changed = model is None
    if changed:
        if module.check_mode:
            return True, {"name": name, "state": "creating"}
        model_id = ai.create_model(client, name, params["huggingface_token"], deadline)
        model = {"id": model_id, "name": name, "state": "creating"}

    if params["wait"] and not module.check_mode and model.get("state") != "ready":
        model, dummy = ai.wait_model_ready(client, model["id"], deadline, history)
        if changed:
            # A concurrent run may have created one too while this one waited: both keep the oldest.
            kept = ai.settle_model_duplicates(client, name, model["id"], deadline)
            if kept != model["id"]:
                model, dummy = ai.wait_model_ready(client, kept, deadline, history)
    elif changed:
        model = ai.find_model(client, model_id=model["id"]) or model
    return changed, model


def main():
    module = exoscale_module(
        dict(
            name=dict(type="str"),
            id=dict(type="str"),
            huggingface_token=dict(type="str", no_log=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            recreate=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=3600),
        ),
        required_one_of=[("name", "id")],
    )
    params = module.params
    if params["name"] is not None and not params["name"].strip():
        module.fail_json(msg="name must be a Hugging Face repository id such as Qwen/Qwen2.5-0.5B-Instruct, got an empty string.")
    if params["wait_timeout"] <= 0:
        module.fail_json(msg="wait_timeout must be a positive number of seconds, got %d." % params["wait_timeout"])

    client = client_from_module(module)
    deadline = Deadline(params["wait_timeout"])
    history = []
    model = None
    try:
        model = ai.find_model(client, name=params["name"], model_id=params["id"])
        before = diff_view(model)
        if params["state"] == "absent":
            changed = model is not None
            if changed and not module.check_mode:
                ai.delete_model(client, model, deadline)
            after = {"state": "absent"}
        else:
            changed, model = ensure_present(module, client, model, deadline, history)
            after = diff_view(model)
    except AmbiguousName as exc:
        module.fail_json(msg=str(exc))
    except (ai.ResourceFailed, ai.ResourceWaitTimeout) as exc:
        fail_from_error(module, exc, model=to_snake(exc.resource or model or {}), duration=round(deadline.elapsed(), 2),
                        state_history=history)
    except ExoscaleError as exc:
        fail_from_error(module, exc, model=to_snake(model or {}))

    result = dict(changed=changed, model=to_snake(model or {}), diff=dict(before=before, after=after))
    if changed or params["wait"]:
        result["duration"] = round(deadline.elapsed(), 2)
    if history:
        result["state_history"] = history
    module.exit_json(**result)


if __name__ == "__main__":
    main()
