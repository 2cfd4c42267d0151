# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: task start/end wall-clock times and results as JSON in $BENCH_TIMER_FILE."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: bench_timer
type: aggregate
short_description: Record task timings and results for tests/benchmarks/run.py
description:
  - Writes one record per task (name, start and end time.time(), status, items, result) to E(BENCH_TIMER_FILE).
requirements:
  - E(BENCH_TIMER_FILE) set
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.tasks = []
        self.current = None

    def _flush(self):
        with open(os.environ["BENCH_TIMER_FILE"], "w") as handle:
            json.dump(self.tasks, handle, default=str)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.current = dict(name=task.get_name(), start=time.time(), end=None, status=None, items=0, result=None)
        self.tasks.append(self.current)

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _done(self, result, status):
        if self.current is None:
            return
        self.current.update(end=time.time(), status=status, result=result._result)
        self._flush()

    def v2_runner_item_on_ok(self, result):
        if self.current is not None:
            self.current["items"] += 1

    v2_runner_item_on_failed = v2_runner_item_on_ok

    def v2_runner_on_ok(self, result):
        self._done(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._flush()
