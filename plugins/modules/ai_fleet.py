#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_fleet
short_description: Converge a whole environment of models, deployments and API keys across zones in one task
version_added: 0.3.0
description:
  - Declares one environment (O(name), for example C(staging)) - its models, deployments and organization API keys
    in one or more zones - and makes it so in one task. Every deployment and key it owns is named
    C(<name>-<entry name>); nothing without that prefix is ever changed or deleted. Models are created when a
    deployment needs one that is missing, and never deleted (environments share them).
  - The plan comes from one list per kind per zone (models, deployments, API keys), plus a GET of a deployment only
    when it changed since this controller last read it (see O(cache)). It names each action (V(create),
    V(update) in place, V(scale), V(replace), V(delete)) with its zone, the fields that differ (old -> new) and
    the GPUs it adds or frees, the environment's GPUs per zone and family, the quota it needs, the drift (what
    runs differs from the file), and the resources under the prefix that the file does not name (deleted only
    with O(prune=true)). Check mode returns the plan and writes nothing; C(--diff) shows the whole environment
    before and after.
  - Before any write, in check mode too, the task refuses bad input, a GPU family, engine flag or model that
    cannot work (the preflight checks of M(inferops.exoscale.ai_deployment)), a plan the organization's GPU quota
    cannot hold, and with O(max_cost_per_hour) a plan that costs more per hour at O(prices).
  - The actions run concurrently (their waits overlap), each after the actions it needs (a model before its
    deployments, a deployment before a key scoped to it). A failed action stops only the actions that need it; the
    task then fails listing what was done and what failed and why; a rerun finishes the rest.
  - O(from) promotes another environment's exact spec (model, engine version and parameters, GPU type and count)
    into this one, so production gets what passed in staging.
  - An API key's value is returned once, by the run that creates it (RV(api_key_values)); set C(no_log=true) on
    the task. Hugging Face tokens and key values are never in the plan, the diff or the environment.
author:
  - inferops contributors (@inferops)
options:
  name:
    description:
      - The environment, 1 to 32 lowercase letters, digits and C(-). It prefixes the name of every deployment and
        API key the environment owns (C(<name>-<entry name>)).
      - An environment whose name plus C(-) starts the name of another environment (C(prod) and C(prod-eu)) would
        see that one's resources as its own; give environments names that are not prefixes of each other.
    type: str
    required: true
  models:
    description:
      - Models the environment needs, when one needs a Hugging Face token or should exist in zones without a
        deployment of it. A model that a deployment names is created in its zone anyway.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The Hugging Face repository id, for example C(Qwen/Qwen2.5-0.5B-Instruct).
        type: str
        required: true
      huggingface_token:
        description: Token of an account that accepted a gated model's licence; sent only when the model is created.
        type: str
      zones:
        description: Zones to create it in; default the zones of the deployments that use it.
        type: list
        elements: str
  deployments:
    description:
      - The deployments, each with the options of M(inferops.exoscale.ai_deployment). O(deployments[].model),
        O(deployments[].gpu_type) and O(deployments[].gpu_count) are required unless O(from) gives them.
      - O(deployments[].replicas) defaults to 1 and O(deployments[].inference_engine_parameters) to V([]), since the
        file is the whole spec.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The short name; the deployment is named C(<environment>-<name>).
        type: str
        required: true
      zone:
        description: Its zone; default O(zone). Not with O(deployments[].placement).
        type: str
      placement:
        description:
          - Instead of O(deployments[].zone), O(deployments[].gpu_type) and O(deployments[].gpu_count), a list of options
            in order of preference, as for M(inferops.exoscale.ai_deployment). The deployment is created on the first
            option that passes the checks before any write (the family is offered and authorized in that zone, the
            GPU quota has room for it with the GPUs the rest of the plan adds, the model fits), and on the next one
            when its create answers 412. The C(placement) of RV(plan) names the choice and why each option before it
            was passed over.
          - An existing deployment is found in any zone of its list and stays where it runs. The model is created
            in the zone that is chosen only. With O(from), the deployment keeps this list and takes the model and
            engine settings of the source.
        type: list
        elements: dict
        suboptions:
          zone:
            description: The zone of this option.
            type: str
            required: true
          gpu_type:
            description: The GPU family of this option.
            type: str
            required: true
          gpu_count:
            description: GPUs per replica of this option, 1 to 8.
            type: int
            required: true
      model:
        description: The model by Hugging Face name.
        type: str
      gpu_type:
        description: GPU family, for example C(gpua5000).
        type: str
      gpu_count:
        description: GPUs per replica, 1 to 8.
        type: int
      replicas:
        description: Replicas; 0 scales an existing deployment to zero.
        type: int
        default: 1
      inference_engine_version:
        description: vLLM version, for example C(0.28.0); not set, a new deployment gets the newest and an existing
          one keeps its version.
        type: str
      inference_engine_parameters:
        description: Engine arguments, for example C(--max-model-len=4096).
        type: list
        elements: str
  api_keys:
    description: Organization AI API keys of the environment.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The short name; the key is named C(<environment>-<name>) (at most 50 characters in all).
        type: str
        required: true
      scope:
        description: V(public) (every deployment of the organization) or the short name of a deployment of this file.
        type: str
        default: public
      zone:
        description: Its zone; default the zone of the deployment it opens, else O(zone).
        type: str
  zones:
    description:
      - More zones to look in for resources under the prefix (to list or prune what an older file left there).
    type: list
    elements: str
    default: []
  prune:
    description: Delete the deployments and API keys under the prefix that the file does not name.
    type: bool
    default: false
  recreate:
    description:
      - Allow replacements - a deployment whose model, GPU type or GPU count changed, or that is in state V(error),
        and an API key whose scope changed. Without it such an action is refused and listed as failed (the other
        actions run). A replaced deployment gets a new URL and API key.
    type: bool
    default: false
  from:
    description:
      - Promotion - the registered result of another environment's M(inferops.exoscale.ai_fleet) task, or the path of
        a JSON or YAML file holding it (or its RV(spec)). Each deployment of this file takes the model, engine version,
        engine parameters, GPU type and GPU count that the source's deployment of the same short name runs;
        replicas and zones stay this file's. A source whose run failed is refused.
    type: raw
  prices:
    description:
      - Your prices, C({currency. EUR, per_gpu_hour. {gpua5000. 1.2}}) (with colons), one per GPU family the
        environment uses; the collection ships no figures. A deployment costs replicas x gpu_count x the price of its
        family. The plan and the result then give RV(cost) before and after.
    type: dict
  max_cost_per_hour:
    description: Refuse, before any write and in check mode too, a plan after which the environment costs more per hour at O(prices).
    type: float
  preflight_skip:
    description: Checks to skip before the writes (see M(inferops.exoscale.ai_deployment) and M(inferops.exoscale.ai_model)).
    type: list
    elements: str
    choices: [quota, gpu_type, fit, engine_parameters, huggingface]
    default: []
  huggingface_api_url:
    description: The Hugging Face Hub of the V(fit) and V(huggingface) checks; default E(HF_ENDPOINT), else C(https://huggingface.co).
    type: str
  huggingface_token:
    description: Token to read gated models' C(config.json) for the V(fit) check; default E(HF_TOKEN). Never sent to Exoscale.
    type: str
  cache:
    description:
      - Keep the engine settings of the environment's deployments, as last read, in a local file, so that a GET of a
        deployment is sent only when the list shows it changed since (its C(updated-at)). The file holds no secret.
    type: bool
    default: true
  cache_dir:
    description: Where that file lives; default C($XDG_CACHE_HOME/inferops.exoscale), else C(~/.cache/inferops.exoscale).
    type: path
  wait:
    description:
      - Wait until every deployment the plan creates or changes is ready (and deleted ones are gone). Never waits in
        check mode. A deployment always waits for a new model to be ready, since it cannot be created before.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long the whole apply may wait, in seconds. A task that times out can be run again; it picks up where it
        stopped.
    type: int
    default: 1800
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.resource
'''

EXAMPLES = r'''
- name: The staging environment, planned and converged in one task
  inferops.exoscale.ai_fleet:
    name: staging
    deployments:
      - name: chat
        model: Qwen/Qwen2.5-0.5B-Instruct
        gpu_type: gpua5000
        gpu_count: 1
        inference_engine_parameters: [--max-model-len=4096]
      - name: batch
        model: Qwen/Qwen2.5-0.5B-Instruct
        gpu_type: gpu3080ti
        gpu_count: 1
        replicas: 2
    api_keys:
      - name: chat-app
        scope: chat
    prices:
      currency: EUR
      per_gpu_hour: {gpua5000: 1.2, gpu3080ti: 0.6}
    max_cost_per_hour: 10
  register: staging
  no_log: true

- name: A deployment on the first GPU family that can take it (plan.placement says why the others could not)
  inferops.exoscale.ai_fleet:
    name: elastic
    deployments:
      - name: chat
        model: Qwen/Qwen2.5-0.5B-Instruct
        placement:
          - {zone: ch-gva-2, gpu_type: gpu3, gpu_count: 1}
          - {zone: ch-gva-2, gpu_type: gpua5000, gpu_count: 1}

- name: Production gets exactly what runs in staging, with its own replicas
  inferops.exoscale.ai_fleet:
    name: prod
    from: "{{ staging }}"
    deployments:
      - name: chat
        replicas: 2
'''

RETURN = r'''
plan:
  description:
    - What the task does (did). C(actions) - each with C(action) (create, update, scale, replace, delete), C(kind)
      (model, deployment, api_key), C(name), C(zone), C(reason), C(changes) (C({field. {before, after}})), C(gpus)
      (GPUs added or freed per family) and C(refused) when it is refused. C(drift) - the environment's resources whose
      live fields differ from the file. C(unmanaged) - resources under the prefix the file does not name.
      C(gpus) - C({zone. {family. {before, after, delta}}}). C(quota) - the figures of each family the plan adds GPUs
      of. C(cost) - as RV(cost). C(placement) - for each deployment with placement, by name, C(chosen) (the option
      it runs or lands on) and C(passed_over) (each option before it, with C(reason)).
  returned: always
  type: dict
cost:
  description: C({currency, per_hour, before, after}) - the environment's cost per hour at O(prices) now and after the plan.
  returned: when O(prices) is given
  type: dict
  sample: {"currency": "EUR", "per_hour": 3.0, "before": 1.8, "after": 3.0}
done:
  description: The actions that succeeded, as in RV(plan).
  returned: unless check mode
  type: list
  elements: dict
failed_actions:
  description: The actions that failed or were refused, each with C(error) (why; C(not attempted) when one it needed failed).
  returned: when an action failed
  type: list
  elements: dict
environment:
  description: The environment after the task - C(deployments), C(api_keys), C(models), each keyed C(<zone>/<name>), without secrets.
  returned: always
  type: dict
spec:
  description: The environment's exact deployment settings as they run now (short name, zone, model, GPU, engine); what O(from) promotes.
  returned: always
  type: dict
api_key_values:
  description: C({key name. value}) of the API keys this run created. Secrets, returned only once.
  returned: when the task created API keys
  type: dict
duration:
  description: Seconds the apply took.
  returned: unless check mode
  type: float
'''

from ansible.module_utils.basic import env_fallback

from ansible_collections.inferops.exoscale.plugins.module_utils import fleet
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import exoscale_module, wait_options

DEPLOYMENT_OPTIONS = dict(name=dict(type="str", required=True), zone=dict(type="str"), model=dict(type="str"),
                          gpu_type=dict(type="str"), gpu_count=dict(type="int"), replicas=dict(type="int", default=1),
                          inference_engine_version=dict(type="str"),
                          inference_engine_parameters=dict(type="list", elements="str"), placement=fleet.PLACEMENT_SPEC)
OPTIONS = dict(
    name=dict(type="str", required=True),
    models=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True), huggingface_token=dict(type="str", no_log=True),
        zones=dict(type="list", elements="str"))),
    deployments=dict(type="list", elements="dict", default=[], options=DEPLOYMENT_OPTIONS),
    api_keys=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
        name=dict(type="str", required=True), scope=dict(type="str", default="public"), zone=dict(type="str"))),
    zones=dict(type="list", elements="str", default=[]),
    prune=dict(type="bool", default=False), recreate=dict(type="bool", default=False),
    prices=dict(type="dict"), max_cost_per_hour=dict(type="float"),
    preflight_skip=dict(type="list", elements="str", default=[], choices=list(fleet.CHECKS)),
    huggingface_api_url=dict(type="str", fallback=(env_fallback, ["HF_ENDPOINT"])),
    huggingface_token=dict(type="str", no_log=True, fallback=(env_fallback, ["HF_TOKEN"])),
    cache=dict(type="bool", default=True), cache_dir=dict(type="path"),
    **dict(wait_options(1800), **{"from": dict(type="raw")}))


def main():
    fleet.run(exoscale_module(OPTIONS))


if __name__ == "__main__":
    main()
