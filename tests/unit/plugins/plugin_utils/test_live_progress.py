# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Progress lines: what the module writes (module_utils/progress.py) and how the controller shows it."""

import json

from ansible_collections.inferops.exoscale.plugins.module_utils import progress
from ansible_collections.inferops.exoscale.plugins.plugin_utils.live_progress import (
    FIRST_STATE_HOLD,
    FileTail,
    ProgressLines,
    summary_events,
)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def lines_with_clock():
    shown, clock = [], Clock()
    return ProgressLines("ai_deployment", "task-name", show=shown.append, clock=clock), shown, clock


def event(state, seconds, name="qwen-small", detail=None, kind="deployment"):
    return dict(kind=kind, name=name, state=state, seconds=seconds, detail=detail)


def test_each_change_extends_the_line():
    lines, shown, dummy = lines_with_clock()
    for state, seconds in (("creating", 0.2), ("preparing", 12.4), ("deploying", 40.0), ("ready", 63.2)):
        lines.add(event(state, seconds))
    assert shown == ["ai_deployment qwen-small: creating -> preparing (12 s)",
                     "ai_deployment qwen-small: creating -> preparing (12 s) -> deploying (40 s)",
                     "ai_deployment qwen-small: creating -> preparing (12 s) -> deploying (40 s) -> ready (63 s)"]


def test_a_first_state_is_held_until_it_lasts_and_dropped_when_nothing_waited():
    lines, shown, clock = lines_with_clock()
    lines.add(event("downloading", 0.1, name=None, kind="model", detail="4 GB"))
    lines.tick()
    assert shown == []
    clock.now += FIRST_STATE_HOLD
    lines.tick()
    assert shown == ["ai_deployment task-name: downloading 4 GB"]  # the task's name when the event has none
    quiet, quiet_shown, dummy = lines_with_clock()
    quiet.add(event("ready", 0.3))
    quiet.tick()
    assert quiet_shown == []


def test_a_repeated_state_replaces_the_last_step_and_hosts_are_named():
    shown = []
    lines = ProgressLines("ai_inference", "qwen-small", host="web1", show=shown.append)
    for retry in (1, 2, 3):
        lines.add(event("HTTP 503", retry * 5.0, name=None, kind="inference", detail="retry %d/12" % retry))
    lines.add(event("answered", 16.0, name=None, kind="inference"))
    assert shown[-1] == "[web1] ai_inference qwen-small: HTTP 503 retry 3/12 (15 s) -> answered (16 s)"
    assert len(shown) == 4


def test_summary_from_a_result_for_hosts_that_could_not_report():
    history = [dict(state="creating", seconds=0.1), dict(state="downloading", seconds=3.0),
               dict(state="ready", seconds=9.6)]
    shown = []
    lines = ProgressLines("ai_model", "qwen", show=shown.append)
    lines.show_summary(summary_events(dict(state_history=history)))
    assert shown == ["ai_model qwen: creating -> downloading (3 s) -> ready (10 s)"]
    assert summary_events(dict(state_history=history[-1:])) == []  # no change: nothing waited
    assert summary_events(dict(attempts=1)) == [] and summary_events(dict(attempts=4, failed=True)) == []
    lines.show_summary(summary_events(dict(attempts=4)))
    assert shown[-1] == "ai_model qwen: answered on attempt 4"


def test_module_reports_reach_the_controller_through_the_file(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    monkeypatch.delenv(progress.PROGRESS_FILE_VARIABLE, raising=False)
    progress.report("model", "m", "creating", 0.0)  # not enabled: no file, no error
    assert not path.exists() and not progress.enabled()
    monkeypatch.setenv(progress.PROGRESS_FILE_VARIABLE, str(path))
    progress.report("model", "m", "creating", 0.04)
    progress.report("model", "m", "downloading", 2.26, detail="")
    with open(str(path), "a") as stream:
        stream.write('{"kind": "model", "state": "rea')  # a line being written is not read yet
    received = []
    tail = FileTail(str(path), type("Sink", (), {"add": lambda self, e: received.append(e)})())
    tail.read()
    assert received == [dict(kind="model", name="m", state="creating", seconds=0.0, detail=None),
                        dict(kind="model", name="m", state="downloading", seconds=2.3, detail=None)]
    with open(str(path), "a") as stream:
        stream.write('dy", "seconds": 9}\nnot json\n')
    tail.read()
    assert received[-1] == dict(kind="model", state="ready", seconds=9) and len(received) == 3
    monkeypatch.setenv(progress.PROGRESS_FILE_VARIABLE, str(tmp_path / "missing" / "dir" / "file"))
    progress.report("model", "m", "ready", 1.0)  # an unwritable path never fails the module
    assert json.loads(path.read_text().splitlines()[0])["state"] == "creating"
