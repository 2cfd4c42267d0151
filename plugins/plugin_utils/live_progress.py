# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Live progress of the collection's waiting modules, shown on the controller by their action plugins.

Over a local connection (``connection: local``, implicit localhost, ``delegate_to: localhost``) the
action plugin sets ``INFEROPS_PROGRESS_FILE`` in the environment the module inherits, runs the module as
usual and, meanwhile, shows every line the module appends there (``module_utils/progress.py``), e.g.
``ai_deployment qwen-small: creating -> preparing (12 s) -> deploying (40 s) -> ready (63 s)``.
Elsewhere (remote hosts, ``become``) the module cannot reach that file, so one line is shown at the end
from the result's ``state_history`` or ``attempts``. Under ``async`` and in check mode nothing is shown.
``INFEROPS_PROGRESS=0`` in the controller's environment, or the variable ``inferops_progress: false``,
turns it off. It sends no request of its own.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import tempfile
import threading
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

PROGRESS_FILE_VARIABLE = "INFEROPS_PROGRESS_FILE"
SWITCH_VARIABLE = "INFEROPS_PROGRESS"
SWITCH_TASK_VARIABLE = "inferops_progress"
# How often the file is read, and how long a first state waits for a second one before it is shown:
# a wait that ends at once (the resource was already there) shows nothing.
READ_INTERVAL = 0.2
FIRST_STATE_HOLD = 1.0

display = Display()


def step_text(event, first):
    text = event["state"]
    if event.get("detail"):
        text += " " + str(event["detail"])
    seconds = event.get("seconds") or 0
    if not (first and seconds < 1):
        text += " (%d s)" % round(seconds)
    return text


class Chain:
    """The states one resource went through, as one line; a repeated state (a retry) replaces the last step."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.events = []

    def add(self, event):
        if self.events and self.events[-1]["state"] == event["state"]:
            self.events[-1] = event
        else:
            self.events.append(event)

    def line(self):
        return "%s: %s" % (self.prefix, " -> ".join(step_text(e, i == 0) for i, e in enumerate(self.events)))


class ProgressLines:
    """Turns progress events into lines: one chain per resource, shown after each change."""

    def __init__(self, module, default_name, host=None, show=None, clock=time.monotonic):
        self.module = module
        self.default_name = default_name
        self.host = host
        self.show = show or display.display
        self.clock = clock
        self.chains = {}
        self.held = None  # (chain, since): a first state not shown yet
        self.shown = 0

    def prefix(self, name):
        text = "%s %s" % (self.module, name or self.default_name)
        return "[%s] %s" % (self.host, text) if self.host else text

    def add(self, event):
        key = (event.get("kind"), event.get("name") or self.default_name)
        chain = self.chains.get(key)
        if chain is None:
            chain = self.chains[key] = Chain(self.prefix(event.get("name")))
        chain.add(event)
        if len(chain.events) == 1 and self.shown == 0 and (event.get("seconds") or 0) < FIRST_STATE_HOLD:
            self.held = (chain, self.clock())
            return
        self.held = None
        self._show(chain)

    def tick(self):
        """Show a held first state once it has lasted long enough to be a wait."""
        if self.held and self.clock() - self.held[1] >= FIRST_STATE_HOLD:
            chain = self.held[0]
            self.held = None
            self._show(chain)

    def show_summary(self, events):
        """One line at the end, from the events of a finished result."""
        if events:
            chain = Chain(self.prefix(None))
            for event in events:
                chain.add(event)
            self._show(chain)

    def _show(self, chain):
        self.shown += 1
        self.show(chain.line())


class FileTail(threading.Thread):
    """Reads complete JSON lines appended to ``path`` and hands each to ``lines.add``, until stopped."""

    def __init__(self, path, lines, interval=READ_INTERVAL):
        super(FileTail, self).__init__(name="inferops-progress", daemon=True)
        self.path = path
        self.lines = lines
        self.interval = interval
        self.offset = 0
        self.partial = b""
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(self.interval):
            self.read()
            self.lines.tick()
        self.read()

    def stop(self):
        self.stopping.set()
        self.join()

    def read(self):
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self.offset)
                data = stream.read()
        except (IOError, OSError):
            return
        self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        for raw in complete:
            try:
                event = json.loads(raw.decode("utf-8"))
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("state"):
                self.lines.add(event)


def switched_on(task_vars, templar):
    if os.environ.get(SWITCH_VARIABLE, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    value = (task_vars or {}).get(SWITCH_TASK_VARIABLE, True)
    return boolean(templar.template(value), strict=False)


def summary_events(module_result):
    """Progress events rebuilt from a finished result, for hosts that could not report live."""
    history = module_result.get("state_history") or []
    if len(history) > 1:
        return [dict(kind=None, state=h.get("state"), seconds=h.get("seconds")) for h in history]
    attempts = module_result.get("attempts") or 0
    if attempts > 1 and not module_result.get("failed"):
        return [dict(kind="inference", state="answered", detail="on attempt %d" % attempts, seconds=None)]
    return []


class ProgressActionBase(ActionBase):
    """Runs the module like ``ansible.builtin.normal`` does, showing its progress while it waits."""

    _supports_check_mode = True
    _supports_async = True
    # the task option that names the resource when an event does not
    name_option = "name"

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressActionBase, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        wrap_async = self._task.async_val and not self._connection.has_native_async
        wanted = (not self._task.async_val and not self._play_context.check_mode
                  and switched_on(task_vars, self._templar))
        lines = ProgressLines(self._task.action.rsplit(".", 1)[-1], self._resource_name(),
                              host=self._host_label(task_vars))
        if wanted and self._module_can_report():
            module_result = self._execute_with_live_progress(task_vars, lines)
        else:
            module_result = self._execute_module(task_vars=task_vars, wrap_async=wrap_async)
            if wanted:
                lines.show_summary(summary_events(module_result))
        result = merge_hash(result, module_result)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _resource_name(self):
        value = self._task.args.get(self.name_option) or self._task.args.get("url") or ""
        return str(value)

    @staticmethod
    def _host_label(task_vars):
        """The host in front of each line, when the play has several: the host the task is for, the same under
        ``delegate_to`` (whose target, often localhost for every host, would not tell the lines apart)."""
        task_vars = task_vars or {}
        if len(task_vars.get("ansible_play_hosts_all") or []) < 2:
            return None
        return task_vars.get("inventory_hostname") or None

    def _module_can_report(self):
        """The module runs here, as this user, so it can write a file the controller reads."""
        return self._connection.transport == "local" and not self._play_context.become

    def _execute_with_live_progress(self, task_vars, lines):
        folder = tempfile.mkdtemp(prefix="inferops-progress-")
        path = os.path.join(folder, "events.jsonl")
        previous = os.environ.get(PROGRESS_FILE_VARIABLE)
        os.environ[PROGRESS_FILE_VARIABLE] = path
        tail = FileTail(path, lines)
        tail.start()
        try:
            return self._execute_module(task_vars=task_vars, wrap_async=False)
        finally:
            tail.stop()
            if previous is None:
                os.environ.pop(PROGRESS_FILE_VARIABLE, None)
            else:
                os.environ[PROGRESS_FILE_VARIABLE] = previous
            shutil.rmtree(folder, ignore_errors=True)
