#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_deployment_info
short_description: List AI deployments on Exoscale Dedicated Inference, with their API key and logs on request
version_added: 0.1.0
description:
  - Lists your deployments of a zone (one API request), or those with a given name or id with all their details
    (engine version and parameters), optionally with the inference API key and the last log lines.
author:
  - inferops contributors (@inferops)
options:
  visibility:
    description:
      - V(private) lists your organization's deployments, V(public) the Exoscale-managed ones, V(all) both.
    type: str
    choices: [private, public, all]
    default: private
  include_api_key:
    description:
      - Add the deployment's inference API key as RV(deployments[].api_key), for use with an OpenAI-compatible
        client. The key is a secret, so set C(no_log=true) on the task, and do not print the registered variable.
    type: bool
    default: false
  log_lines:
    description:
      - Add the last N lines of the inference server's log as RV(deployments[].logs). V(0) adds none.
    type: int
    default: 0
extends_documentation_fragment:
  - inferops.exoscale.identity.info
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.info
'''

EXAMPLES = r'''
- name: List my deployments
  inferops.exoscale.ai_deployment_info:
  register: mine

- name: Get one deployment with its last 20 log lines
  inferops.exoscale.ai_deployment_info:
    name: qwen-small
    log_lines: 20
  register: qwen

- name: Get the endpoint and API key for a client (kept out of the logs)
  inferops.exoscale.ai_deployment_info:
    name: qwen-small
    include_api_key: true
  register: endpoint
  no_log: true
'''

RETURN = r'''
deployments:
  description: The deployments found (an empty list when none match).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Deployment id.
      type: str
    name:
      description: Deployment name.
      type: str
    state:
      description: One of V(creating), V(preparing), V(deploying), V(ready), V(scaling), V(updating), V(error).
      type: str
    state_details:
      description: Details about the state.
      type: str
      returned: when the API gives them
    model:
      description: The model served, with C(id) and C(name).
      type: dict
    gpu_type:
      description: GPU family.
      type: str
    gpu_count:
      description: GPUs per replica.
      type: int
    replicas:
      description: Number of replicas.
      type: int
    deployment_url:
      description: The OpenAI-compatible inference endpoint (empty until it serves).
      type: str
    inference_engine_version:
      description: vLLM version.
      type: str
      returned: when looked up by name or id
    inference_engine_parameters:
      description: Extra engine arguments.
      type: list
      elements: str
      returned: when looked up by name or id
    visibility:
      description: V(private) or V(public).
      type: str
    api_key:
      description: The inference API key (a secret).
      type: str
      returned: when O(include_api_key=true) and the deployment has one
    logs:
      description: The last O(log_lines) log lines, each C(time node message).
      type: list
      elements: str
      returned: when O(log_lines) is above 0
'''

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import exit_with_lookup, exoscale_module
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused


def find(client, params):
    visibility = None if params["visibility"] == "all" else params["visibility"]
    deployments = ai.DEPLOYMENT.select(client, params["name"], params["id"], visibility)
    for deployment in deployments:
        if params["include_api_key"] and deployment.get("deployment-url"):
            deployment["api-key"] = ai.reveal_api_key(client, deployment["id"])
        if params["log_lines"]:
            deployment["logs"] = ai.deployment_logs(client, deployment["id"], tail=params["log_lines"])
    return deployments


def main():
    module = exoscale_module(dict(
        name=dict(type="str"),
        id=dict(type="str"),
        visibility=dict(type="str", default="private", choices=["private", "public", "all"]),
        include_api_key=dict(type="bool", default=False),
        log_lines=dict(type="int", default=0),
    ))
    if module.params["log_lines"] < 0:
        module.fail_json(msg=str(Refused("log_lines must be 0 or more, got %d." % module.params["log_lines"])))
    exit_with_lookup(module, "deployments", lambda client: find(client, module.params))


if __name__ == "__main__":
    main()
