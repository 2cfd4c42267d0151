#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_engine_parameter_info
short_description: List the inference-engine parameters a vLLM version accepts on Exoscale
version_added: 0.1.0
description:
  - Lists the parameters that O(inferops.exoscale.ai_deployment#module:inference_engine_parameters) may contain
    for an engine version, with their flags, types, defaults and allowed values. One API request.
author:
  - inferops contributors (@inferops)
options:
  version:
    description:
      - Engine version, for example C(0.28.0). Defaults to the newest version the API knows.
    type: str
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.info
'''

EXAMPLES = r'''
- name: What can be tuned on vLLM 0.28.0?
  inferops.exoscale.ai_engine_parameter_info:
    version: "0.28.0"
  register: engine

- name: Show the flags
  ansible.builtin.debug:
    msg: "{{ engine.parameters | map(attribute='flags') | flatten }}"
'''

RETURN = r'''
parameters:
  description: The parameters.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Parameter name.
      type: str
      sample: max-model-len
    flags:
      description: Command-line flags that set it.
      type: list
      elements: str
      sample: ["--max-model-len"]
    type:
      description: Value type.
      type: str
    default:
      description: Default value.
      type: str
    allowed_values:
      description: Allowed values, when restricted.
      type: list
      elements: str
    description:
      description: What it does.
      type: str
    section:
      description: Section of the engine's help it belongs to.
      type: str
'''

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import exit_with_lookup, exoscale_module


def main():
    module = exoscale_module(dict(version=dict(type="str")))
    exit_with_lookup(module, "parameters", lambda client: ai.engine_parameters(client, module.params["version"]))


if __name__ == "__main__":
    main()
