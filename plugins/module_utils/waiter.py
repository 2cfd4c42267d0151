# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Deadlines, poll schedules and the one wait loop every module uses."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time


class WaitTimeout(Exception):
    """The deadline passed before the awaited condition held."""

    def __init__(self, message, last=None):
        super(WaitTimeout, self).__init__(message)
        self.last = last


class Deadline:
    """A point in monotonic time; ``None`` seconds means no limit."""

    def __init__(self, seconds, clock=time.monotonic):
        self.clock = clock
        self.started = clock()
        self.seconds = seconds

    def remaining(self):
        if self.seconds is None:
            return float("inf")
        return self.seconds - (self.clock() - self.started)

    def expired(self):
        return self.remaining() <= 0

    def elapsed(self):
        return self.clock() - self.started


class PollSchedule:
    """Intervals between polls: start fast, grow by ``factor``, never above ``cap``.

    After ``relax_after`` seconds the cap grows linearly up to ``max_cap`` at
    ``max_cap_at`` seconds, like the official SDKs stretch long waits.
    """

    def __init__(self, name, first, factor, cap, relax_after=None, max_cap=None, max_cap_at=None):
        self.name = name
        self.first = first
        self.factor = factor
        self.cap = cap
        self.relax_after = relax_after
        self.max_cap = max_cap
        self.max_cap_at = max_cap_at

    def cap_at(self, elapsed):
        if self.relax_after is None or elapsed <= self.relax_after:
            return self.cap
        progress = min(1.0, (elapsed - self.relax_after) / float(self.max_cap_at - self.relax_after))
        return self.cap + progress * (self.max_cap - self.cap)

    def intervals(self, deadline):
        interval = self.first
        while True:
            interval = min(interval, self.cap_at(deadline.elapsed()))
            yield interval
            interval *= self.factor


# Operations usually finish within seconds: poll them briskly.
OPERATION_SCHEDULE = PollSchedule("operation", first=0.5, factor=1.5, cap=2.0)
# Resources take minutes: answer within 3 s of a state change for the first two
# minutes, then stretch towards the official SDK's one poll a minute at 15 min
# (tests/benchmarks/results.md has the measurements behind these numbers).
READINESS_SCHEDULE = PollSchedule("readiness", first=1.0, factor=2.0, cap=3.0,
                                  relax_after=120, max_cap=60.0, max_cap_at=900)

_NOTHING = object()


def wait_until(fetch, done, deadline, schedule, sleep=time.sleep, describe=None, current=_NOTHING):
    """Call ``fetch()`` until ``done(value)`` is true; return ``(value, polls)``.

    ``current`` is a value already in hand (the answer that started the wait):
    it is checked first and saves one poll. ``done`` may raise to stop at once
    (a resource in ``error``). Never sleeps past the deadline; raises
    WaitTimeout with the last value seen.
    """
    polls = 0
    intervals = schedule.intervals(deadline)
    value = current
    if value is _NOTHING:
        value = fetch()
        polls += 1
    while not done(value):
        remaining = deadline.remaining()
        if remaining <= 0:
            what = describe(value) if describe else "the condition"
            raise WaitTimeout("timed out after %.0f s waiting for %s" % (deadline.elapsed(), what), last=value)
        sleep(min(next(intervals), remaining))
        value = fetch()
        polls += 1
    return value, polls
