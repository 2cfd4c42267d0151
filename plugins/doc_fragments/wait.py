# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # Deployments: operations and readiness within 30 minutes by default.
    DOCUMENTATION = r'''
options:
  wait:
    description:
      - Wait until the resource is ready (or gone, for O(state=absent)). Never waits in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds, for operations and readiness. A task that times out can be run again, and
        it picks up where it stopped.
    type: int
    default: 1800
notes:
  - While it waits the module records every state it sees, in order, and returns them as C(state_history)
    (a list of C(state) and C(seconds) since the task started), with the total C(duration) in seconds.
  - Over a local connection (also with C(delegate_to) localhost) each state change is shown live on the
    controller as it happens, for example C(ai_deployment qwen-small, creating -> deploying (12 s) -> ready (63 s)),
    without C(-v) and as job events under ansible-runner and AWX. On other hosts one line at the end. Set
    E(INFEROPS_PROGRESS=0) on the controller or the variable C(inferops_progress=false) to turn it off.
'''

    # Models: a download of tens of GB takes longer.
    LONG = r'''
options:
  wait_timeout:
    description:
      - How long to wait, in seconds, for operations and for the download. Large models (tens of GB) can take
        many minutes. A task that times out can be run again, and it picks up where it stopped.
    type: int
    default: 3600
'''
