# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Several resources of one name: concurrent creators' young copies resolve to the oldest (the one every creator
keeps), a user's old duplicates are refused. The server's clock is its Date header; the waits run on a fake clock."""

import email.utils

import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import (
    RACE_SETTLE,
    RACE_WINDOW,
    SECOND_OVER_STEP,
    raced,
    timestamp,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline

from .exo_fakes import json_response
from .test_ai import MODEL_ID, MODEL_NAME, OTHER_MODEL_ID, Router, count

THIRD_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
CREATED = "2026-11-23T10:00:00Z"
CREATED_AT = timestamp(CREATED)


def model(model_id, seconds_after=0):
    iso = "2026-11-23T10:%02d:%02dZ" % divmod(seconds_after, 60)
    return {"id": model_id, "name": MODEL_NAME, "state": "creating", "created-at": iso}


def listing(models, server_seconds_after):
    """A model list as the server answers it ``server_seconds_after`` seconds after CREATED."""
    date = email.utils.formatdate(CREATED_AT + server_seconds_after, usegmt=True)
    return json_response(200, {"models": list(models)}, headers={"Date": date})


class Warnings(list):
    def __call__(self, message):
        self.append(message)


def test_timestamps_of_the_api_and_the_race_window():
    assert timestamp("2026-11-23T10:00:05Z") - timestamp("2026-11-23T10:00:00Z") == 5
    assert timestamp("2026-11-23T10:00:00.250Z") - CREATED_AT == 0.25
    assert timestamp(None) is None and timestamp("yesterday") is None
    copies = [model(MODEL_ID), model(OTHER_MODEL_ID, 2)]
    assert raced(copies, CREATED_AT + 10)
    assert raced(copies, CREATED_AT + RACE_WINDOW)
    assert not raced(copies, CREATED_AT + RACE_WINDOW + 3)  # the older one is past the window
    assert not raced([model(MODEL_ID), {"id": OTHER_MODEL_ID, "name": MODEL_NAME}], CREATED_AT + 10)  # age unknown


def test_young_copies_resolve_to_the_oldest_once_the_newer_ones_are_deleted(make_api, clock):
    """The third run lists while a loser's copy still exists: it re-lists until the loser deleted it."""
    three = [model(OTHER_MODEL_ID, 1), model(MODEL_ID), model(THIRD_ID, 1)]
    client, server, _unused = make_api(route=Router({("GET", "/ai/model"): [
        listing(three, 3), listing(three[:2], 4), listing([model(MODEL_ID)], 5)]}), sleep=clock.sleep)
    warnings = Warnings()
    found = ai.MODEL.find(client, name=MODEL_NAME, deadline=Deadline(600, clock=clock), warn=warnings)
    assert found["id"] == MODEL_ID
    assert count(server, "GET", "/ai/model") == 3 and 0 < sum(clock.sleeps) < RACE_SETTLE
    assert warnings == []  # it settled: nothing left to say


def test_copies_that_stay_are_resolved_to_the_oldest_after_the_settle_bound(make_api, clock):
    """A creator killed before its delete leaves its copy: after RACE_SETTLE the oldest is used, with a warning."""
    two = [model(OTHER_MODEL_ID, 1), model(MODEL_ID, 1)]  # the same second: the smaller id is the oldest
    client, server, _unused = make_api(route=Router({("GET", "/ai/model"): listing(two, 2)}), sleep=clock.sleep)
    warnings = Warnings()
    found = ai.MODEL.find(client, name=MODEL_NAME, deadline=Deadline(600, clock=clock), warn=warnings)
    assert found["id"] == min(MODEL_ID, OTHER_MODEL_ID)
    assert sum(clock.sleeps) == pytest.approx(RACE_SETTLE) and count(server, "GET", "/ai/model") > 3
    assert len(warnings) == 1 and MODEL_ID in warnings[0] and OTHER_MODEL_ID in warnings[0]
    assert "concurrent runs" in warnings[0]


def test_the_settle_never_outlasts_the_deadline(make_api, clock):
    two = [model(OTHER_MODEL_ID), model(MODEL_ID, 1)]
    client, _server, _unused = make_api(route=Router({("GET", "/ai/model"): listing(two, 2)}), sleep=clock.sleep)
    deadline = Deadline(4, clock=clock)
    assert ai.MODEL.find(client, name=MODEL_NAME, deadline=deadline)["id"] == OTHER_MODEL_ID
    assert sum(clock.sleeps) == pytest.approx(4)


@pytest.mark.parametrize("created, server_seconds_after", [
    ((0, 5), RACE_WINDOW + 60),      # a user's duplicates, older than the window
    ((0, RACE_WINDOW + 60), RACE_WINDOW + 61),  # an old one and a new one: not one race
])
def test_old_duplicates_are_refused_at_once_naming_the_ids(make_api, clock, created, server_seconds_after):
    copies = [model(MODEL_ID, created[0]), model(OTHER_MODEL_ID, created[1])]
    client, server, _unused = make_api(route=Router({("GET", "/ai/model"): listing(copies, server_seconds_after)}),
                                       sleep=clock.sleep)
    with pytest.raises(AmbiguousName) as info:
        ai.MODEL.find(client, name=MODEL_NAME, deadline=Deadline(600, clock=clock))
    assert "2 models are named %r" % MODEL_NAME in str(info.value)
    assert MODEL_ID in str(info.value) and OTHER_MODEL_ID in str(info.value) and "set id" in str(info.value)
    assert clock.sleeps == [] and count(server, "GET", "/ai/model") == 1


def test_a_local_clock_far_off_does_not_change_the_rule(make_api, clock):
    """The age is measured on the server's clock (Date), never the local one."""
    copies = [model(MODEL_ID), model(OTHER_MODEL_ID, 1)]
    client, _server, _unused = make_api(route=Router({("GET", "/ai/model"): [
        listing(copies, 2), listing([model(MODEL_ID)], 3)]}), sleep=clock.sleep)
    # the fake answers are dated 2026-11-23 whatever this machine's clock says
    assert ai.MODEL.find(client, name=MODEL_NAME, deadline=Deadline(60, clock=clock))["id"] == MODEL_ID


def test_thin_deployment_entries_are_read_for_their_age(make_api, clock):
    """A list entry without created-at (the spec does not require it in a deployment list) is read in full."""
    thin = [{"id": MODEL_ID, "name": "d", "visibility": "private"},
            {"id": OTHER_MODEL_ID, "name": "d", "visibility": "private"}]
    full = dict((entry["id"], dict(model(entry["id"], 1 if entry["id"] == MODEL_ID else 0), **entry)) for entry in thin)
    date = {"Date": email.utils.formatdate(CREATED_AT + 3, usegmt=True)}
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/deployment"): [json_response(200, {"deployments": thin}, headers=date),
                                    json_response(200, {"deployments": thin[1:]}, headers=date)],
        ("GET", "/ai/deployment/%s" % MODEL_ID): json_response(200, full[MODEL_ID], headers=date),
        ("GET", "/ai/deployment/%s" % OTHER_MODEL_ID): json_response(200, full[OTHER_MODEL_ID], headers=date),
    }), sleep=clock.sleep)
    found = ai.DEPLOYMENT.find(client, name="d", deadline=Deadline(60, clock=clock))
    assert found["id"] == OTHER_MODEL_ID and found["created-at"] == full[OTHER_MODEL_ID]["created-at"]
    assert count(server, "GET", "/ai/deployment/%s" % MODEL_ID) == 1


def test_keep_oldest_and_the_lookup_agree_on_the_one_to_keep(make_api, clock):
    """The loser deletes its own copy and keeps the same one a third run's lookup resolves to."""
    copies = [model(MODEL_ID, 1), model(OTHER_MODEL_ID, 1), model(THIRD_ID, 1)]
    keeper = min(MODEL_ID, OTHER_MODEL_ID, THIRD_ID)
    client, _server, _unused = make_api(route=Router({("GET", "/ai/model"): listing(copies, 2)}), sleep=clock.sleep)
    looked_up = ai.MODEL.find(client, name=MODEL_NAME, deadline=Deadline(1, clock=clock))["id"]
    # own == keeper: keep_oldest deletes nothing (an unexpected DELETE would fail the Router)
    assert looked_up == keeper == ai.MODEL.keep_oldest(client, MODEL_NAME, keeper, Deadline(60, clock=clock))


def driven(client, check_mode, warnings):
    from ansible_collections.inferops.exoscale.plugins.modules.ai_model import ModelModule  # pylint: disable=import-outside-toplevel

    module = ModelModule(params=dict(name=MODEL_NAME, state="present", wait=False, wait_timeout=600, id=None,
                                     recreate=False, preflight_skip=[]),
                         check_mode=check_mode, client=client, warn=warnings)
    current = module.find()
    return current, module.plan(current)


@pytest.mark.parametrize("check_mode", [True, False])
def test_check_mode_finds_what_the_run_finds(make_api, clock, check_mode):
    """Check mode makes the same lookup as the run: the oldest copy, no create planned."""
    copies = [model(OTHER_MODEL_ID, 1), model(MODEL_ID)]
    client, server, _unused = make_api(route=Router({("GET", "/ai/model"): [
        listing(copies, 2), listing([model(MODEL_ID)], 3)]}), sleep=clock.sleep)
    warnings = Warnings()
    current, plan = driven(client, check_mode, warnings)
    assert current["id"] == MODEL_ID and plan.action == "none" and plan.as_dict()["id"] == MODEL_ID
    assert [r.method for r in server.requests] == ["GET", "GET"]


def test_a_young_duplicate_that_is_ready_is_a_users_and_refused(make_api, clock):
    """A losing creator deletes its copy as soon as its create operation ends: a newer copy that got ready was
    kept by whoever made it (a user, seconds ago). Refused at once, or as soon as it turns ready."""
    ready_twin = dict(model(OTHER_MODEL_ID, 2), state="ready")
    client, _server, _unused = make_api(route=Router({("GET", "/ai/model"): listing([model(MODEL_ID), ready_twin], 3)}),
                                        sleep=clock.sleep)
    with pytest.raises(AmbiguousName):
        ai.MODEL.find(client, name=MODEL_NAME, deadline=Deadline(600, clock=clock))
    assert clock.sleeps == []

    client, server, _unused = make_api(route=Router({("GET", "/ai/model"): [
        listing([model(MODEL_ID), model(OTHER_MODEL_ID, 2)], 3), listing([model(MODEL_ID), ready_twin], 4)]}),
        sleep=clock.sleep)
    with pytest.raises(AmbiguousName) as info:
        ai.MODEL.find(client, name=MODEL_NAME, deadline=Deadline(600, clock=clock))
    assert OTHER_MODEL_ID in str(info.value) and count(server, "GET", "/ai/model") == 2


def model_module(client):
    from ansible_collections.inferops.exoscale.plugins.modules.ai_model import ModelModule  # pylint: disable=import-outside-toplevel

    return ModelModule(params=dict(name=MODEL_NAME, state="present", wait=True, wait_timeout=600, id=None,
                                   recreate=False, preflight_skip=[]), client=client, warn=Warnings())


def test_a_creator_follows_the_survivor_when_the_one_it_waited_for_is_deleted(make_api, clock):
    """Copies created in the same second order by id: a later copy with a smaller id is the oldest, so the creator
    of the one this run waited for deletes it. The run waits for the survivor instead of failing."""
    survivor = dict(model(THIRD_ID), state="ready")
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/model/%s" % OTHER_MODEL_ID): json_response(404, {"message": "not found"}),
        ("GET", "/ai/model"): listing([survivor], 5),
        ("GET", "/ai/model/%s" % THIRD_ID): json_response(200, survivor),
    }), sleep=clock.sleep)
    # this run created MODEL_ID, deleted it (keep_oldest said OTHER_MODEL_ID) and waits for OTHER_MODEL_ID
    after = model_module(client).wait_kept(MODEL_NAME, MODEL_ID, OTHER_MODEL_ID)
    assert after["id"] == THIRD_ID
    assert count(server, "DELETE", "/ai/model/%s" % THIRD_ID) == 0  # never another run's copy


def test_after_its_wait_a_creator_checks_the_name_again_and_deletes_only_its_own(make_api, clock):
    mine, older = dict(model(MODEL_ID, 1), state="ready"), dict(model(OTHER_MODEL_ID), state="ready")
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/model/%s" % MODEL_ID): json_response(200, mine),
        ("GET", "/ai/model"): [listing([mine, older], 5), listing([older], 6)],
        ("DELETE", "/ai/model/%s" % MODEL_ID): json_response(
            200, {"id": "op", "state": "success", "reference": {"id": MODEL_ID}}),
        ("GET", "/ai/model/%s" % OTHER_MODEL_ID): json_response(200, older),
    }), sleep=clock.sleep)
    after = model_module(client).wait_kept(MODEL_NAME, MODEL_ID, MODEL_ID)
    assert after["id"] == OTHER_MODEL_ID
    assert count(server, "DELETE", "/ai/model/%s" % MODEL_ID) == 1
    assert count(server, "DELETE", "/ai/model/%s" % OTHER_MODEL_ID) == 0


def test_a_keeper_decides_only_once_its_creation_second_is_over(make_api, clock):
    """created-at counts whole seconds: a copy made later in the same second, by a run that listed before this
    one's copy existed, can have a smaller id and count as older. Its maker keeps it, so the run that first saw
    only its own copy looks again until the server's clock is past that second, follows the older one and deletes its own."""
    mine = model(MODEL_ID)
    later_in_the_second = model("00000000-1111-4222-8333-444444444444")
    assert later_in_the_second["id"] < MODEL_ID
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/model"): [listing([mine], 0), listing([mine], 0), listing([mine, later_in_the_second], 1)],
        ("DELETE", "/ai/model/%s" % MODEL_ID): json_response(
            200, {"id": "op", "state": "success", "reference": {"id": MODEL_ID}}),
    }), sleep=clock.sleep)
    kept = ai.MODEL.keep_oldest(client, MODEL_NAME, MODEL_ID, Deadline(600, clock=clock))
    assert kept == later_in_the_second["id"] and clock.sleeps == [SECOND_OVER_STEP] * 2
    assert count(server, "DELETE", "/ai/model/%s" % MODEL_ID) == 1


def test_a_keeper_past_its_creation_second_or_not_final_decides_at_once(make_api, clock):
    mine = model(MODEL_ID)
    for final, server_seconds in ((True, 1), (False, 0)):
        client, server, _unused = make_api(route=Router({("GET", "/ai/model"): listing([mine], server_seconds)}),
                                           sleep=clock.sleep)
        assert ai.MODEL.keep_oldest(client, MODEL_NAME, MODEL_ID, Deadline(600, clock=clock), final=final) == MODEL_ID
        assert count(server, "GET", "/ai/model") == 1
    assert clock.sleeps == []
