#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_instance_type_info
short_description: List the GPU families of Exoscale Dedicated Inference
version_added: 0.1.0
description:
  - Lists the GPU families (instance types) of a zone and whether your organization may deploy on each.
    One API request.
author:
  - inferops contributors (@inferops)
options:
  authorized_only:
    description:
      - Only the families your organization may use.
    type: bool
    default: false
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.info
'''

EXAMPLES = r'''
- name: Which GPU families may we use?
  inferops.exoscale.ai_instance_type_info:
    authorized_only: true
  register: gpus

- name: Show them
  ansible.builtin.debug:
    msg: "{{ gpus.instance_types | map(attribute='family') | list }}"
'''

RETURN = r'''
instance_types:
  description: The GPU families.
  returned: always
  type: list
  elements: dict
  contains:
    family:
      description: GPU family, the value for the C(gpu_type) option of M(inferops.exoscale.ai_deployment).
      type: str
      sample: gpua5000
    authorized:
      description: Whether your organization may deploy on this family.
      type: bool
      sample: true
'''

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import exit_with_lookup, exoscale_module


def main():
    module = exoscale_module(dict(authorized_only=dict(type="bool", default=False)))
    exit_with_lookup(module, "instance_types", lambda client: [
        t for t in ai.list_instance_types(client) if t.get("authorized") or not module.params["authorized_only"]])


if __name__ == "__main__":
    main()
