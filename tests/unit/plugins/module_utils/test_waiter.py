# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Deadlines, poll schedules and wait_until, on a fake monotonic clock."""

import itertools
import random

import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import (
    OPERATION_SCHEDULE,
    READINESS_SCHEDULE,
    Deadline,
    PollSchedule,
    WaitTimeout,
    wait_until,
)
from tests.unit.plugins.module_utils.exo_fakes import FakeClock


def take(schedule, deadline, n):
    return list(itertools.islice(schedule.intervals(deadline), n))


def test_deadline_counts_on_its_clock(clock):
    deadline = Deadline(10, clock=clock)
    assert deadline.remaining() == 10 and not deadline.expired()
    clock.sleep(4)
    assert deadline.elapsed() == 4 and deadline.remaining() == 6
    clock.sleep(6)
    assert deadline.remaining() == 0 and deadline.expired()
    clock.sleep(1)
    assert deadline.remaining() == -1 and deadline.expired()


def test_deadline_none_never_expires(clock):
    deadline = Deadline(None, clock=clock)
    clock.sleep(10 ** 9)
    assert deadline.remaining() == float("inf")
    assert not deadline.expired()
    assert deadline.elapsed() == 10 ** 9


def test_intervals_grow_by_factor_and_are_capped(clock):
    schedule = PollSchedule("t", first=1.0, factor=2.0, cap=5.0)
    assert take(schedule, Deadline(None, clock=clock), 6) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_first_interval_above_cap_is_capped(clock):
    schedule = PollSchedule("t", first=10.0, factor=1.5, cap=3.0)
    assert take(schedule, Deadline(None, clock=clock), 3) == [3.0, 3.0, 3.0]


@pytest.mark.parametrize("schedule, expected", [
    (OPERATION_SCHEDULE, [0.5, 0.75, 1.125, 1.6875, 2.0, 2.0]),
    (READINESS_SCHEDULE, [1.0, 2.0, 3.0, 3.0, 3.0]),
])
def test_named_schedules_early_intervals(clock, schedule, expected):
    assert take(schedule, Deadline(None, clock=clock), len(expected)) == pytest.approx(expected)


def test_cap_is_constant_until_relax_after():
    schedule = PollSchedule("t", first=0.5, factor=1.5, cap=3.0, relax_after=120, max_cap=30.0, max_cap_at=900)
    for elapsed in (0, 1, 60, 119.9, 120):
        assert schedule.cap_at(elapsed) == 3.0


def test_cap_stretches_linearly_to_max_cap():
    schedule = PollSchedule("t", first=0.5, factor=1.5, cap=3.0, relax_after=120, max_cap=30.0, max_cap_at=900)
    assert schedule.cap_at(510) == pytest.approx(16.5)
    assert schedule.cap_at(900) == pytest.approx(30.0)
    assert schedule.cap_at(5000) == pytest.approx(30.0)
    rng = random.Random(3)
    for _unused in range(100):
        elapsed = rng.uniform(120, 900)
        assert schedule.cap_at(elapsed) == pytest.approx(3.0 + (elapsed - 120) / 780.0 * 27.0)


def test_no_relax_keeps_the_cap_forever():
    schedule = PollSchedule("t", first=1, factor=2, cap=4)
    assert schedule.cap_at(10 ** 6) == 4


def test_intervals_follow_the_stretched_cap(clock):
    schedule = PollSchedule("t", first=0.5, factor=1.5, cap=3.0, relax_after=120, max_cap=30.0, max_cap_at=900)
    deadline = Deadline(None, clock=clock)
    intervals = schedule.intervals(deadline)
    seen = []
    for interval in intervals:
        seen.append((deadline.elapsed(), interval))
        assert interval <= schedule.cap_at(deadline.elapsed()) + 1e-9
        clock.sleep(interval)
        if deadline.elapsed() > 1200:
            break
    assert max(i for t, i in seen if t <= 120) == 3.0
    assert any(i > 3.0 for t, i in seen if 120 < t < 900)
    assert seen[-1][1] == pytest.approx(30.0)
    # Growth is gradual once relaxed: never more than factor per poll.
    for (_unused, a), (_unused, b) in zip(seen, seen[1:]):
        assert b <= a * 1.5 + 1e-9


def test_readiness_schedule_answers_within_3s_for_two_minutes_then_relaxes(clock):
    deadline = Deadline(None, clock=clock)
    for interval in READINESS_SCHEDULE.intervals(deadline):
        if deadline.elapsed() < 120:
            assert interval <= 3.0
        assert interval <= 60.0
        clock.sleep(interval)
        if deadline.elapsed() > 1800:
            break
    assert interval == pytest.approx(60.0)


# ---------------------------------------------------------------------------------------------
# wait_until
# ---------------------------------------------------------------------------------------------

def test_wait_until_returns_value_and_polls(clock):
    values = iter(["creating", "deploying", "ready", "never-fetched"])
    schedule = PollSchedule("t", first=1.0, factor=2.0, cap=10.0)
    value, polls = wait_until(lambda: next(values), lambda v: v == "ready", Deadline(100, clock=clock),
                              schedule, sleep=clock.sleep)
    assert (value, polls) == ("ready", 3)
    assert clock.sleeps == [1.0, 2.0]


def test_wait_until_done_at_first_poll_never_sleeps(clock):
    value, polls = wait_until(lambda: 42, lambda v: True, Deadline(0, clock=clock),
                              PollSchedule("t", 1, 2, 4), sleep=clock.sleep)
    assert (value, polls) == (42, 1)
    assert clock.sleeps == []


def test_wait_until_never_sleeps_past_deadline(clock):
    counter = itertools.count()
    deadline = Deadline(10, clock=clock)
    with pytest.raises(WaitTimeout) as info:
        wait_until(lambda: next(counter), lambda v: False, deadline, PollSchedule("t", 4.0, 2.0, 100.0),
                   sleep=clock.sleep)
    assert clock.sleeps == [4.0, 6.0]
    assert deadline.elapsed() == 10
    assert info.value.last == 2  # the poll at the deadline is the last value seen
    assert "10 s" in str(info.value)


def test_wait_timeout_names_what_was_awaited(clock):
    with pytest.raises(WaitTimeout) as info:
        wait_until(lambda: {"state": "creating"}, lambda v: False, Deadline(3, clock=clock),
                   PollSchedule("t", 1, 1, 1), sleep=clock.sleep,
                   describe=lambda v: "model m1 (last state: %s)" % v["state"])
    assert "model m1 (last state: creating)" in str(info.value)
    assert info.value.last == {"state": "creating"}
    info_default = None
    try:
        wait_until(lambda: 1, lambda v: False, Deadline(0, clock=clock), PollSchedule("t", 1, 1, 1), sleep=clock.sleep)
    except WaitTimeout as exc:
        info_default = exc
    assert info_default is not None and "the condition" in str(info_default)


def test_wait_until_random_deadlines_never_overshoot():
    # Dyadic values keep the fake clock's float arithmetic exact.
    rng = random.Random(1234)
    for case in range(300):
        clock = FakeClock(start=float(rng.randrange(0, 10 ** 6)))
        seconds = rng.choice([0, 1, rng.randrange(1, 1000), rng.randrange(1, 20) * 0.25])
        schedule = PollSchedule("r", first=rng.randrange(1, 20) * 0.25, factor=rng.choice([1.0, 1.5, 2.0, 3.0]),
                                cap=rng.randrange(1, 40) * 0.25, relax_after=rng.choice([None, 64]),
                                max_cap=64.0, max_cap_at=576)
        deadline = Deadline(seconds, clock=clock)
        fetches = []

        def fetch():
            fetches.append(clock())
            assert len(fetches) < 5000, "case %d does not terminate" % case
            return len(fetches)

        with pytest.raises(WaitTimeout) as info:
            wait_until(fetch, lambda v: False, deadline, schedule, sleep=clock.sleep)
        assert deadline.elapsed() == seconds, case
        assert fetches[-1] == deadline.started + seconds, case
        assert info.value.last == len(fetches)
        assert all(s > 0 for s in clock.sleeps), case
        assert all(s <= max(schedule.cap, 64.0) for s in clock.sleeps), case


def test_done_that_raises_stops_at_once(clock):
    class Failed(Exception):
        pass

    fetched = []

    def done(value):
        if value == "error":
            raise Failed("resource in error")
        return value == "ready"

    values = iter(["creating", "error", "ready"])
    with pytest.raises(Failed):
        wait_until(lambda: fetched.append(1) or next(values), done, Deadline(100, clock=clock),
                   PollSchedule("t", 1, 1, 1), sleep=clock.sleep)
    assert len(fetched) == 2
    assert clock.sleeps == [1]


def test_fetch_errors_propagate(clock):
    def fetch():
        raise RuntimeError("api down")

    with pytest.raises(RuntimeError, match="api down"):
        wait_until(fetch, lambda v: True, Deadline(5, clock=clock), PollSchedule("t", 1, 1, 1), sleep=clock.sleep)
    assert clock.sleeps == []


def test_value_in_hand_is_checked_before_the_first_poll(clock):
    fetched = []
    value, polls = wait_until(lambda: fetched.append(1) or "done", lambda v: v == "done",
                              Deadline(10, clock=clock), READINESS_SCHEDULE, sleep=clock.sleep, current="pending")
    assert (value, polls, len(fetched)) == ("done", 1, 1)
    assert clock.sleeps == [1.0]


def test_value_in_hand_that_is_done_needs_no_poll(clock):
    value, polls = wait_until(lambda: pytest.fail("must not poll"), lambda v: v == "done",
                              Deadline(10, clock=clock), READINESS_SCHEDULE, sleep=clock.sleep, current="done")
    assert (value, polls) == ("done", 0)
