# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs inferops.exoscale.ai_deployment and shows its progress live while it waits (see plugin_utils/live_progress.py).

The warnings of the module's plan are shown the moment the plan is made, before any write or wait
(they are also in the result, where Ansible shows them once the task ends).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.inferops.exoscale.plugins.plugin_utils.live_progress import ProgressActionBase


class PlanWarnings:
    """Progress lines that show a plan's warning event at once and pass every other event on."""

    def __init__(self, lines):
        self.lines = lines

    def add(self, event):
        if event.get("warning"):
            self.lines.show("%s: plan warning: %s" % (self.lines.prefix(event.get("name")), event["warning"]))
        else:
            self.lines.add(event)

    def tick(self):
        self.lines.tick()


class ActionModule(ProgressActionBase):
    name_option = "name"

    def _execute_with_live_progress(self, task_vars, lines):
        return super(ActionModule, self)._execute_with_live_progress(task_vars, PlanWarnings(lines))
