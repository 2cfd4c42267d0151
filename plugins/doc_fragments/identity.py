# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The options a resource is found by (the driver's IDENTITY_SPEC and the resource's identity field).
    DOCUMENTATION = r'''
options:
  name:
    description:
      - The resource's name. Names are not unique in Exoscale; the task matches among the organization's own
        resources and fails if several have this name (then set O(id)).
      - Required unless O(id) is given.
    type: str
  id:
    description:
      - The resource's id, to pick one when several share a name. Where the resource can be renamed, O(name) is
        then the wanted name, so a different name renames it; elsewhere a different name is refused.
    type: str
'''

    # The same options as filters of an info module.
    INFO = r'''
options:
  name:
    description:
      - Only those with this name (several may share a name).
    type: str
  id:
    description:
      - Only the one with this id.
    type: str
'''
