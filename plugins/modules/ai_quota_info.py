#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_quota_info
short_description: Show the GPU quotas and the AI consumption quota of an Exoscale organization
version_added: 0.2.0
description:
  - Returns, per GPU family, the organization's quota (C(limit)), the GPUs in use and those still free, as the
    official CLI's C(exo limits gpu) shows them (the core API's C(GET /quota)). Dedicated Inference deployments
    count against these GPU quotas with O(inferops.exoscale.ai_deployment#module:gpu_count) x replicas.
  - Also returns the organization's AI consumption quota (C(GET /ai/quota)). Two API requests; one with O(family)
    and O(include_ai_quota=false).
author:
  - inferops contributors (@inferops)
options:
  family:
    description:
      - Only this GPU family, for example C(gpua5000).
    type: str
  include_ai_quota:
    description:
      - Also look up the AI consumption quota.
    type: bool
    default: true
extends_documentation_fragment:
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.info
'''

EXAMPLES = r'''
- name: How many A5000 GPUs are still free?
  inferops.exoscale.ai_quota_info:
    family: gpua5000
  register: quota

- name: Stop before a deployment that cannot fit in the quota
  ansible.builtin.assert:
    that: quota.gpu_quota.gpua5000.unlimited or quota.gpu_quota.gpua5000.free >= 2
    fail_msg: "Only {{ quota.gpu_quota.gpua5000.free }} A5000 GPUs are free."
'''

RETURN = r'''
gpu_quota:
  description: Per GPU family (the key), the quota.
  returned: always
  type: dict
  sample: {"gpua5000": {"limit": 8, "usage": 2, "free": 6, "unlimited": false}}
  contains:
    limit:
      description: GPUs the organization may use; V(-1) when unlimited.
      type: int
    usage:
      description: GPUs in use.
      type: int
    free:
      description: GPUs still free (V(-1) when unlimited).
      type: int
    unlimited:
      description: Whether there is no limit.
      type: bool
ai_quota:
  description: The organization's AI consumption quota.
  returned: when O(include_ai_quota=true)
  type: dict
  contains:
    quota_uom_per_minute:
      description: Units of measurement (tokens for LLMs) per minute; null when unlimited.
      type: int
'''

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.module_setup import exit_with_lookup, exoscale_module


def lookup(client, params):
    found = {"gpu_quota": ai.gpu_quota(client, params["family"])}
    if params["include_ai_quota"]:
        found["ai_quota"] = client.get("/ai/quota")
    return found


def main():
    module = exoscale_module(dict(family=dict(type="str"), include_ai_quota=dict(type="bool", default=True)))
    exit_with_lookup(module, None, lambda client: lookup(client, module.params))


if __name__ == "__main__":
    main()
