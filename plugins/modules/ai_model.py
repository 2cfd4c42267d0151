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
  - Models cannot be changed after creation; there are no fields to update. A model in state V(error) (its
    download failed) makes the task fail with its state, so a broken model is never mistaken for a usable one;
    O(recreate=true) deletes it and creates it again.
  - A model that deployments still use cannot be deleted; the task fails naming them.
author:
  - inferops contributors (@inferops)
options:
  name:
    description:
      - The exact Hugging Face repository id, for example C(Qwen/Qwen2.5-7B-Instruct) or C(openai/gpt-oss-20b).
      - Exoscale downloads the weights from Hugging Face; they must be in safetensors format.
      - Required unless O(id) is given.
    type: str
  huggingface_token:
    description:
      - Hugging Face access token of an account that accepted the licence of a gated model
        (for example C(meta-llama/Llama-3.1-8B-Instruct)). Only sent when the model is created. Never logged.
    type: str
  preflight_skip:
    description:
      - Checks to skip before the model is created. V(huggingface) asks the Hugging Face Hub whether the repository
        exists, whether it is gated and O(huggingface_token) can read it, and whether it has safetensors weights,
        and refuses with the cause before anything is written (in check mode too). When the Hub does not answer,
        the task warns and goes on.
      - V(fit), when O(gpu_type) and O(gpu_count) are given, refuses a model whose weights cannot fit those GPUs
        (or whose O(inference_engine_parameters)' C(--max-model-len) is above the model's maximum), from the Hub's
        metadata, before the model is uploaded.
    type: list
    elements: str
    choices: [huggingface, fit]
    default: []
  gpu_type:
    description:
      - The GPU family the model is intended for (as the later M(inferops.exoscale.ai_deployment) will use). With
        O(gpu_count), a model that cannot fit is refused before it is uploaded (in check mode too). Not sent to Exoscale.
    type: str
    version_added: 0.2.0
  gpu_count:
    description:
      - GPUs per replica the model is intended for, 1 to 8. Defaults to 1 when O(gpu_type) is given.
    type: int
    version_added: 0.2.0
  inference_engine_parameters:
    description:
      - The intended engine arguments (for example C(--max-model-len=8192)), for the fit check only. Not sent to Exoscale.
    type: list
    elements: str
    version_added: 0.2.0
  huggingface_api_url:
    description:
      - The Hugging Face Hub the V(huggingface) check asks, for example C(https://huggingface.co) or a mirror.
        When a model ends in V(error), the same check says why (RV(diagnosis)).
      - If not set, the value of the E(HF_ENDPOINT) environment variable is used (as C(huggingface_hub) does),
        else C(https://huggingface.co).
    type: str
extends_documentation_fragment:
  - inferops.exoscale.identity
  - inferops.exoscale.state
  - inferops.exoscale.api
  - inferops.exoscale.wait.long
  - inferops.exoscale.wait
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.resource
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
action:
  description:
    - What the task did (check mode - would do) - V(create), V(update) (PATCH), V(scale), V(replace), V(delete) or V(none).
  returned: always
  type: str
  sample: none
plan:
  description:
    - The plan the task computed from reads alone before any write; check mode returns it and the run applies exactly it.
    - C(action) as above, C(id) of the existing resource, C(reasons) (a list of C(field), C(old), C(new)), C(warnings),
      C(refusal) (when refused), and where they apply C(gpus) (C(family), C(before), C(after), C(delta)), C(quota),
      C(fit) and C(cost). Never contains a secret.
  returned: always, also when the task fails with a refusal
  type: dict
  sample: {"action": "scale", "id": "7d1c8f0e-5a7b-4c1e-9f7e-0a1b2c3d4e5f", "reasons": [{"field": "replicas", "old": 1, "new": 2}],
           "warnings": [], "gpus": {"family": "gpua5000", "before": 1, "after": 2, "delta": 1}}
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
  returned: always (empty when the task did not wait)
  type: list
  elements: dict
  sample: [{"state": "creating", "seconds": 0.3}, {"state": "downloading", "seconds": 2.1}, {"state": "ready", "seconds": 40.9}]
diagnosis:
  description:
    - Why the model is in V(error), from the Hugging Face check (the API gives no detail).
    - C(cause) is V(not_found), V(gated) or V(no_safetensors); C(summary) says it in a sentence, C(evidence)
      lists what shows it, C(fix) says which option to change to what.
  returned: when the model is or turned V(error) and the Hub names a cause
  type: dict
  sample: {"cause": "gated", "summary": "Hugging Face - meta-llama/Llama-3.1-8B-Instruct is gated...",
           "evidence": ["Hugging Face - meta-llama/Llama-3.1-8B-Instruct is gated..."],
           "fix": "Accept the licence with the token's account, then run again with recreate=true and that huggingface_token."}
'''

from ansible.module_utils.basic import env_fallback

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import ResourceFailed, ResourceModule


class ModelModule(ResourceModule):
    resource = ai.MODEL
    wait_timeout = 3600
    options = dict(preflight_skip=dict(type="list", elements="str", default=[], choices=list(ai.MODEL_CHECKS)),
                   huggingface_api_url=dict(type="str", fallback=(env_fallback, ["HF_ENDPOINT"])),
                   gpu_type=dict(type="str"), gpu_count=dict(type="int"),
                   inference_engine_parameters=dict(type="list", elements="str"))

    def validate(self):
        if self.params["name"] is not None and not self.params["name"].strip():
            raise Refused("name must be a Hugging Face repository id such as Qwen/Qwen2.5-0.5B-Instruct, got an empty string.")
        if self.params["gpu_count"] is not None and not 1 <= self.params["gpu_count"] <= 8:
            raise Refused("gpu_count must be between 1 and 8, got %d." % self.params["gpu_count"])
        super(ModelModule, self).validate()

    def preflight(self, plan):
        from ansible_collections.inferops.exoscale.plugins.module_utils import hub, preflight  # only when the plan writes
        return preflight.check_model_plan(self.client, plan, self.warn, self.params, lambda: hub.client_from_params(self.params))

    def failure(self, resource):
        from ansible_collections.inferops.exoscale.plugins.module_utils import diagnosis, hub, preflight  # on a failure
        found = preflight.model_diagnosis(hub.client_from_params(self.params), resource.get("name"),
                                          self.params["huggingface_token"])
        message = ai.model_failed_message(resource)
        return ResourceFailed(message + (" " + diagnosis.describe(found) if found else ""), resource=resource,
                              diagnosis=found)

    def delete(self, resource):
        ai.delete_model(self.client, resource, self.deadline)


def main():
    ModelModule().run()


if __name__ == "__main__":
    main()
