# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result as JSON to $RECORD_RESULTS_FILE."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: record_results
type: aggregate
short_description: Record task results as JSON for the test harness
description:
  - Writes one record per task result (task name, host, status, result) to the file named by E(RECORD_RESULTS_FILE).
requirements:
  - E(RECORD_RESULTS_FILE) set
'''

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.records = []

    def _record(self, result, status):
        self.records.append(dict(task=result._task.get_name(), host=result._host.get_name(), status=status,
                                 result=result._result))
        with open(os.environ["RECORD_RESULTS_FILE"], "w") as handle:
            json.dump(self.records, handle, default=str)

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
