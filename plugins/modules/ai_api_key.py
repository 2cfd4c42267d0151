#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ai_api_key
short_description: Manage organization AI API keys of Exoscale Dedicated Inference
version_added: 0.2.0
description:
  - Create or delete an organization AI API key, which opens the inference endpoint of one deployment or of every
    deployment of the organization (O(scope=public)). Applications use it instead of a deployment's own key.
  - Idempotent by name. The API cannot change a key's scope; a different scope makes the task fail unless
    O(recreate=true), which deletes the key and creates it again (the old value stops working).
  - The plaintext key is returned as RV(value) only by the run that created it; the API never shows it again.
    Set C(no_log=true) on the task and keep the value in a vault or a secret store right away.
author:
  - inferops contributors (@inferops)
options:
  name:
    description:
      - Key name, 1 to 50 characters of letters, digits, spaces and C(_'()-), starting and ending with a letter
        or digit. Required unless O(id) is given.
    type: str
  scope:
    description:
      - V(public) for every deployment of the organization, or one deployment by name or id.
      - Required to create a key.
    type: str
  recreate:
    description:
      - Replace the key (delete, then create) when its scope differs. The new key has a new value.
    type: bool
    default: false
extends_documentation_fragment:
  - inferops.exoscale.identity
  - inferops.exoscale.state
  - inferops.exoscale.api
  - inferops.exoscale.api.actiongroup
  - inferops.exoscale.attributes
  - inferops.exoscale.attributes.resource
'''

EXAMPLES = r'''
- name: A key for the chat application, scoped to one deployment
  inferops.exoscale.ai_api_key:
    name: chat-app
    scope: qwen-small
  register: chat_key
  no_log: true

- name: Keep the value, which only the creating run returns
  ansible.builtin.copy:
    content: "{{ chat_key.value }}"
    dest: "{{ playbook_dir }}/chat-app.key"
    mode: "0600"
  when: chat_key.value is defined
  no_log: true

- name: Delete the key
  inferops.exoscale.ai_api_key:
    name: chat-app
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
api_key:
  description: The key after the task, without its value (for O(state=absent), as it was; empty if it did not exist).
  returned: always
  type: dict
  contains:
    id:
      description: Key id.
      type: str
    name:
      description: Key name.
      type: str
      sample: chat-app
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
value:
  description: The plaintext key, for C(Authorization. Bearer) at the inference endpoint. A secret.
  returned: when the task created the key
  type: str
'''

import re

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import ResourceModule

NAME_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 _'()-]*[A-Za-z0-9])?$")


class ApiKeyModule(ResourceModule):
    resource = ai.API_KEY
    lost_answer_warning = ("The create's answer was lost, so the key's value is unknown; delete the key"
                           " (state=absent) and run again to get a new value.")

    def validate(self):
        name = self.params["name"]
        if name is not None and not (len(name) <= 50 and NAME_PATTERN.match(name)):
            raise Refused("name %r is not a valid AI API key name: 1 to 50 letters, digits, spaces and _'()-,"
                          " starting and ending with a letter or digit." % name)

    def wanted(self, current):
        scope = self.params["scope"]
        if scope and scope != "public":
            scope = self.reference(ai.DEPLOYMENT, scope, "scope", full=False).get("id") or scope
        return dict(name=self.params["name"] or (current or {}).get("name"), scope=scope)

    def created(self, resource):
        return dict(value=resource.pop("value", None))


def main():
    ApiKeyModule().run()


if __name__ == "__main__":
    main()
