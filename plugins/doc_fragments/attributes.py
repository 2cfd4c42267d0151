# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # What each attribute means; every module extends this and one of the variants below.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status it predicts without changing anything.
  diff_mode:
    description: Returns what changed (or would change in check mode) when run with C(--diff).
  platform:
    description: Target OS and families that can be operated against.
    support: N/A
    platforms: all
'''

    # A module that manages a resource (created, changed, deleted).
    RESOURCE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - Check mode computes the plan from reads alone, the refusals included, and writes nothing; a run applies
        exactly that plan.
  diff_mode:
    support: full
'''

    # A module that only reads.
    INFO = r'''
options: {}
attributes:
  check_mode:
    support: full
    details: Read-only; it runs the same in check mode.
  diff_mode:
    support: none
'''

    # A module that does something other than manage a resource (a request, a load, a plan); the module says
    # what check mode does.
    ACTION = r'''
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''
