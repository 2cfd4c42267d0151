#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_model_info
short_description: List AI models on Exoscale Dedicated Inference
version_added: 0.1.0
description:
  - Lists the models of a zone, or those with a given name or id. One API request.
author:
  - inferops contributors (@inferops)
extends_documentation_fragment:
  - inferops.exoscale.identity.info
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.info
'''

EXAMPLES = r'''
- name: List all models of the zone
  inferops.exoscale.ai_model_info:
  register: all_models

- name: Look one model up by name
  inferops.exoscale.ai_model_info:
    name: Qwen/Qwen2.5-0.5B-Instruct
  register: qwen
'''

RETURN = r'''
models:
  description: The models found (an empty list when none match).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Model id.
      type: str
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
    created_at:
      description: Creation time.
      type: str
    updated_at:
      description: Last update time.
      type: str
'''

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import exit_with_lookup, exoscale_module


def main():
    module = exoscale_module(dict(name=dict(type="str"), id=dict(type="str")))
    exit_with_lookup(module, "models", lambda client: ai.MODEL.select(client, module.params["name"], module.params["id"]))


if __name__ == "__main__":
    main()
