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
  - Before any write (in check mode too), the task checks that the GPU family exists and is authorized, that the
    engine parameters are known flags of the engine version with allowed values, that the organization's GPU quota
    has room for O(gpu_count) x O(replicas) (for a scale, the added GPUs), that the model exists, and that its
    weights fit the GPUs (the KV cache for C(--max-model-len) is estimated from the model's C(config.json) on the
    Hugging Face Hub and warned about, naming the largest length that fits; a C(--max-model-len) above the model's
    maximum is refused). Engine parameter values are checked against their type and range (for example
    C(--max-num-seqs) an integer, C(--gpu-memory-utilization) in (0, 1]) and refused when vLLM would refuse them.
    A model not uploaded yet is fitted from the Hub's metadata. Each refusal gives the numbers that
    decide it; O(preflight_skip) skips named checks. A model that is still downloading is waited for
    (when O(wait=true)); a model in V(error) makes the task fail. In check mode a model that does not exist yet
    (because an earlier task would create it) gives a warning and the predicted deployment.
  - The deployment's API key is never returned; use M(inferops.exoscale.ai_deployment_info) with
    O(inferops.exoscale.ai_deployment_info#module:include_api_key=true).
author:
  - inferops contributors (@inferops)
options:
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
  recreate:
    description:
      - Replace the deployment (delete, then create) when O(model), O(gpu_type) or O(gpu_count) differ,
        or when it is in state V(error). This drops the deployment's URL and API key.
      - The endpoint is down from the delete until the new deployment is V(ready) (minutes), and nothing is left
        if the new one fails. For a change without downtime, behind a quality gate and with automatic rollback,
        use the role C(inferops.exoscale.rollout) (blue/green; see docs/rollouts.md).
    type: bool
    default: false
  placement:
    description:
      - Where the deployment may run, in order of preference; the single O(zone), O(gpu_type) and O(gpu_count) are
        the one-option form (O(gpu_type) and O(gpu_count) are mutually exclusive with O(placement); a O(zone) given
        with it is not applied, with a warning).
      - Before any write (in check mode too) each option is checked as the preflight checks a deployment (the family
        is offered and authorized in that zone (its C(GET /ai/instance-type)), the organization's GPU quota of the
        family has room for C(gpu_count x replicas) while every live deployment keeps its own, and the model's
        weights (size from the Hugging Face Hub) and KV cache fit the GPUs with O(inference_engine_parameters). The
        first option that passes is used; RV(placement) says which and why each option before it was passed over,
        with the numbers. When no option passes the task fails before any write with every reason.
      - A create that answers 412 (not enough GPUs in that zone) moves on to the next option that passes; nothing is
        left behind in the zone that refused. Check mode cannot foresee a 412.
      - An existing deployment is looked up by O(name) in every zone of the list (one list per zone) and stays where it
        is (C(placement.chosen) in RV(placement) is where it runs) unless O(placement_move=true). Found in several zones, the task
        fails naming them. The model must exist in the chosen zone (M(inferops.exoscale.ai_model) with that zone;
        the role C(inferops.exoscale.serve_model) does it).
      - Each zone is reached on its own endpoint, Exoscale's C(https://api-<zone>.exoscale.com/v2), or O(api_url) /
        E(EXOSCALE_API_ENDPOINT) with a C({zone}) placeholder. A URL that names no zone is refused for a list of
        several zones.
    type: list
    elements: dict
    suboptions:
      zone:
        description: The zone, for example C(de-fra-1).
        type: str
        required: true
      gpu_type:
        description: The GPU family in that zone, for example C(gpu3).
        type: str
        required: true
      gpu_count:
        description: GPUs per replica, 1 to 8.
        type: int
        required: true
  placement_move:
    description:
      - With O(placement), move an existing deployment to the first option that passes when it runs on another one
        (the options are checked while it still holds its GPUs). The new deployment is created in the chosen zone and
        waited for until V(ready); only then is the old one deleted (make before break; the URL and API key change).
      - Needs O(wait=true). Without it (the default) an existing deployment stays where it is.
    type: bool
    default: false
  preflight_skip:
    description:
      - Checks to skip before a write, for a user who knows better. V(quota) is the organization's GPU quota of
        the family, V(gpu_type) that the family exists and is authorized, V(fit) that the model fits the GPUs
        (weights refused, KV cache warned), V(engine_parameters) that the engine flags and values are known.
      - See the troubleshooting guide for what each check says.
    type: list
    elements: str
    choices: [quota, gpu_type, fit, engine_parameters]
    default: []
  huggingface_api_url:
    description:
      - The Hugging Face Hub that the V(fit) check reads the model's C(config.json) from (layers, heads) to
        estimate the KV cache. If not set, E(HF_ENDPOINT), else C(https://huggingface.co). When the Hub does not
        answer, the KV-cache estimate is skipped with a warning.
    type: str
  huggingface_token:
    description:
      - Hugging Face token that can read a gated model's C(config.json) for the V(fit) check's KV-cache estimate.
        Only sent to the Hub (O(huggingface_api_url)), never to Exoscale; never logged.
      - If not set, the value of the E(HF_TOKEN) environment variable is used (as C(huggingface_hub) does). Without
        a token, the estimate for a gated model is skipped with a warning.
    type: str
  prices:
    description:
      - "Prices to report the deployment's cost with (in the result and the plan, check mode too):
        C({currency: EUR, per_gpu_hour: {<gpu family>: <price of one GPU for one hour>}}). The collection ships no
        price figures. Cost per hour = replicas x gpu_count x per_gpu_hour[gpu_type]."
    type: dict
    version_added: 0.2.0
extends_documentation_fragment:
  - inferops.exoscale.identity
  - inferops.exoscale.state
  - inferops.exoscale.api
  - inferops.exoscale.wait
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.resource
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

- name: Deploy on the first GPU family that can take it (gpu3 first, then gpua5000)
  inferops.exoscale.ai_deployment:
    name: qwen-anywhere
    model: Qwen/Qwen2.5-0.5B-Instruct
    placement:
      - {zone: ch-gva-2, gpu_type: gpu3, gpu_count: 1}
      - {zone: ch-gva-2, gpu_type: gpua5000, gpu_count: 1}
  register: placed

- name: Say where it landed and why the options before it were passed over
  ansible.builtin.debug:
    msg: "{{ placed.placement.chosen }} ({{ placed.placement.passed_over | map(attribute='reason') | join('; ') }})"

- name: Delete it wherever it runs
  inferops.exoscale.ai_deployment:
    name: qwen-anywhere
    placement:
      - {zone: ch-gva-2, gpu_type: gpu3, gpu_count: 1}
      - {zone: ch-gva-2, gpu_type: gpua5000, gpu_count: 1}
    state: absent
'''

RETURN = r'''
placement:
  description:
    - With O(placement), where the deployment runs or would run (C(chosen), V(null) when no option passes) and each
      option passed over before it, with the reason and its numbers (C(passed_over)). C(moved_from) is the
      deployment a move replaced (O(placement_move)).
  returned: when O(placement) is given
  type: dict
  sample: {"chosen": {"zone": "de-fra-1", "gpu_type": "gpurtx6000pro", "gpu_count": 1},
           "passed_over": [{"zone": "at-vie-2", "gpu_type": "gpu3", "gpu_count": 1,
                            "reason": "at-vie-2 gpu3 x1: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)"},
                           {"zone": "de-fra-1", "gpu_type": "gpu3", "gpu_count": 2,
                            "reason": "de-fra-1 gpu3 x2: quota 8, 8 in use, 2 needed (2 x 1 replica(s))"}]}
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
  returned: always (empty when the task did not wait)
  type: list
  elements: dict
  sample: [{"state": "creating", "seconds": 0.4}, {"state": "deploying", "seconds": 31.0}, {"state": "ready", "seconds": 88.2}]
diagnosis:
  description:
    - Why the deployment is in V(error), or why it did not become ready in time, read from the tail of its vLLM log.
    - C(cause) is one of V(oom) (CUDA out of memory), V(kv_cache) (the KV cache cannot hold O(inference_engine_parameters)'
      C(--max-model-len)), V(unsupported_architecture), V(gated) (download refused by Hugging Face), V(no_safetensors),
      V(engine_argument) (unknown flag or invalid value), V(not_found) or V(unknown).
    - C(summary) says it in a sentence, C(evidence) lists the log lines that show it (the last lines for V(unknown)),
      C(fix) says which option to change to what; C(max_model_len) is the length vLLM says fits (V(kv_cache)) or the
      model's maximum (V(engine_argument)).
  returned: when the deployment is or turned V(error), or a wait for it timed out
  type: dict
  sample: {"cause": "kv_cache", "max_model_len": 80000,
           "summary": "The KV cache cannot hold one request of the model's max seq len (131072 tokens)...",
           "evidence": ["2026-12-01T09:30:12.000Z gpua5000-c5a7b1f2-0 ValueError: To serve at least one request..."],
           "fix": "In inference_engine_parameters add --max-model-len=80000 (or lower: vLLM estimates that 80000 tokens fit)..."}
'''

from ansible.module_utils.basic import env_fallback

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import ResourceModule


class DeploymentModule(ResourceModule):
    resource = ai.DEPLOYMENT
    wait_timeout = 1800
    options = dict(
        placement=dict(type="list", elements="dict", options=dict(
            zone=dict(type="str", required=True), gpu_type=dict(type="str", required=True),
            gpu_count=dict(type="int", required=True))),
        placement_move=dict(type="bool", default=False),
        preflight_skip=dict(type="list", elements="str", default=[], choices=list(ai.DEPLOYMENT_CHECKS)),
        huggingface_api_url=dict(type="str", fallback=(env_fallback, ["HF_ENDPOINT"])),
        huggingface_token=dict(type="str", no_log=True, fallback=(env_fallback, ["HF_TOKEN"])),
        prices=dict(type="dict"))
    module_kwargs = dict(mutually_exclusive=[("placement", "gpu_type"), ("placement", "gpu_count")])
    placer = None  # placement.Placer when the task gives placement

    def validate(self):
        super(DeploymentModule, self).validate()
        params = self.params
        if params.get("placement_move") and not (params.get("placement") and params.get("wait")):
            raise Refused("placement_move needs placement and wait=true: the deployment moves once its new one is ready.")
        if params.get("prices") is not None:
            from ansible_collections.inferops.exoscale.plugins.module_utils import cost
            cost.validate_prices(params["prices"])

    def find(self):
        if not self.params.get("placement"):
            return super(DeploymentModule, self).find()
        from ansible_collections.inferops.exoscale.plugins.module_utils import placement
        self.placer = placement.Placer(self)
        return self.placer.find(lambda client: self.resource.find(client, name=self.params["name"], resource_id=self.params["id"]))

    def defaults(self, action, current):
        return dict(replicas=max(1, (current or {}).get("replicas") or 1))

    def plan(self, current):
        plan = super(DeploymentModule, self).plan(current)
        if self.placer:
            plan.context["placement"] = self.placer.result
        if self.params.get("prices") is not None:
            from ansible_collections.inferops.exoscale.plugins.module_utils import cost
            plan.context["cost"] = cost.plan_cost(plan, self.params["prices"])
            plan.context["result"] = dict(cost=plan.context["cost"])
        return plan

    def preflight(self, plan):
        from ansible_collections.inferops.exoscale.plugins.module_utils import preflight  # only when the plan writes
        if plan.action == "replace":
            self.warn(ai.replacement_warning(plan.current, self.check_mode))
        skip = self.params["preflight_skip"] + (self.placer.checked if self.placer else [])
        return preflight.check_deployment_plan(self.client, plan, self.warn, skip=skip, hub_client=self.hub,
                                               model=lambda ref: self.usable(ai.MODEL, ref, "model", ai.model_failed_message))

    def hub(self):
        from ansible_collections.inferops.exoscale.plugins.module_utils import hub
        return hub.client_from_params(self.params, timeout=10)

    def prepare(self, plan):
        model = plan.context.get("model")
        if model and not ai.MODEL.is_ready(model):
            ai.wait_model_ready(self.client, model["id"], self.deadline)

    def create(self, plan):
        if not self.placer or plan.action != "create":
            return super(DeploymentModule, self).create(plan)
        plans = [plan]

        def attempt():
            # After a 412 the placer moved to the next option (its zone's client, family and count): plan it anew.
            current = plans[0] if len(plans) == 1 else super(DeploymentModule, self).plan(None)
            plans.append(current)
            return super(DeploymentModule, self).create(current)
        return self.placer.create(plan.wanted, attempt)

    def create_body(self, plan):
        body = super(DeploymentModule, self).create_body(plan)
        body["model"] = {"id": plan.context["model"].get("id")}
        return body

    def predict(self, plan):
        predicted = super(DeploymentModule, self).predict(plan)
        if plan.action in ("create", "replace"):
            model = plan.context["model"]
            predicted.update(model={"id": model.get("id"), "name": model.get("name")}, visibility="private")
            predicted.setdefault("inference-engine-parameters", [])
            predicted.setdefault("deployment-url", None)  # the API gives it on create: unknown in a check run
        return predicted

    def result(self, plan, resource, waited=False, failed=False):
        result = super(DeploymentModule, self).result(plan, resource, waited, failed)
        if self.placer:
            result["placement"] = self.placer.result
        return result

    def failure(self, resource):
        return ai.deployment_failed(self.client, resource)

    def wait_ready(self, resource_id):
        return ai.wait_deployment_ready(self.client, resource_id, self.deadline, self.history)[0]

    def replacement_note(self):
        return " (new URL and API key)"


def main():
    DeploymentModule().run()


if __name__ == "__main__":
    main()
