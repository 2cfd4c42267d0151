# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # The options the driver relies on besides the identity (the driver's STATE_SPEC).
    DOCUMENTATION = r'''
options:
  state:
    description:
      - V(present) creates the resource if it does not exist and changes it in place to match the options given;
        V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  recreate:
    description:
      - Replace the resource (delete it, then create it again) when an option differs that cannot change in place,
        or when it is in a failed state (V(error)). Without it such a task fails, naming the changes or the state.
    type: bool
    default: false
'''
