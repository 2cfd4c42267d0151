# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only lookup: arm simulator faults while a task's arguments are templated (no extra task)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: sim_fault
short_description: Arm faults on the Exoscale API simulator (tests only)
description:
  - POSTs each fault of O(faults) to C(<url>/_sim/faults) and returns an empty string, so a task can arm the
    faults its own requests will meet by appending the lookup to one of its module arguments.
options:
  url:
    description: Simulator base URL (without /v2).
    type: str
    required: true
  faults:
    description: Fault bodies of the simulator control API.
    type: list
    elements: dict
    required: true
'''

import json
import urllib.request

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for fault in self.get_option("faults"):
            request = urllib.request.Request(self.get_option("url") + "/_sim/faults", data=json.dumps(fault).encode(),
                                             method="POST", headers={"Content-Type": "application/json"})
            with opener.open(request, timeout=10) as response:
                response.read()
        return [""]
