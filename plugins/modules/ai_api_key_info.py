#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_api_key_info
short_description: List organization AI API keys of Exoscale Dedicated Inference
version_added: 0.2.0
description:
  - Lists the organization's AI API keys, or those with a given name or id. One API request.
  - Never returns a key's value; the API shows it only once, to the run that created it
    (M(inferops.exoscale.ai_api_key)).
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
- name: List the organization's AI API keys
  inferops.exoscale.ai_api_key_info:
  register: keys

- name: Which deployments do they open?
  ansible.builtin.debug:
    msg: "{{ keys.api_keys | items2dict(key_name='name', value_name='scope') }}"
'''

RETURN = r'''
api_keys:
  description: The keys found (an empty list when none match), without values.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Key id.
      type: str
    name:
      description: Key name.
      type: str
    scope:
      description: V(public), or the id of the deployment it opens.
      type: str
    org_uuid:
      description: The organization that owns it.
      type: str
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
    exit_with_lookup(module, "api_keys", lambda client: [
        dict((k, v) for k, v in key.items() if k != "value")
        for key in ai.API_KEY.select(client, module.params["name"], module.params["id"])])


if __name__ == "__main__":
    main()
