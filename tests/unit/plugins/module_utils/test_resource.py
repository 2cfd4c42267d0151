# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The resource layer's own decisions: duplicate-safe creates of both styles, keeping the oldest, fields."""

import httpx
import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import (
    IMMUTABLE,
    OBJECT,
    PATCH,
    Field,
    Resource,
    ResourceModule,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline

from .exo_fakes import FakeClock, json_response
from .test_ai import MODEL_ID, MODEL_NAME, OP_ID, OTHER_MODEL_ID, Router, count, op

KEY_ID = "5a0e7c1d-1111-4222-8333-944455556666"


@pytest.fixture
def clock():
    return FakeClock()


def test_several_uncertain_creates_in_a_row_look_before_each_resend(make_api, clock):
    """503, then a lost answer after the server created it: found on the second look, sent twice in all."""
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): [json_response(503, {"detail": "busy"}), httpx.RemoteProtocolError, op()],
        ("GET", "/ai/model"): [json_response(200, {"models": []}),
                               json_response(200, {"models": [{"id": MODEL_ID, "name": MODEL_NAME}]})],
    }), sleep=clock.sleep)
    found, created = ai.MODEL.create(client, {"name": MODEL_NAME}, Deadline(600, clock=clock))
    assert found["id"] == MODEL_ID and created is False
    assert count(server, "POST", "/ai/model") == 2
    assert server.methods == ["POST", "GET", "POST", "GET"]


def test_uncertain_creates_stop_at_the_retry_budget_and_say_so(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): json_response(503, {"detail": "busy"}),
        ("GET", "/ai/model"): json_response(200, {"models": []}),
    }), sleep=clock.sleep, attempts=3)
    with pytest.raises(ExoscaleError) as info:
        ai.MODEL.create(client, {"name": MODEL_NAME}, Deadline(600, clock=clock))
    assert count(server, "POST", "/ai/model") == 3 and count(server, "GET", "/ai/model") == 2
    assert "Sent 3 times" in str(info.value) and "looked up by name and not found" in str(info.value)


def test_an_object_create_answers_the_object_itself(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/api-key"): json_response(200, {"id": KEY_ID, "name": "k", "scope": "public", "value": "secret"}),
    }), sleep=clock.sleep)
    found, created = ai.API_KEY.create(client, {"name": "k", "scope": "public"}, Deadline(60, clock=clock))
    assert created is True and found["value"] == "secret"
    assert server.methods == ["POST"]  # no operation to poll


def test_an_uncertain_object_create_adopts_what_it_finds(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/api-key"): [httpx.RemoteProtocolError],
        ("GET", "/ai/api-key"): json_response(200, {"ai-api-keys": [{"id": KEY_ID, "name": "k", "scope": "public"}]}),
    }), sleep=clock.sleep)
    found, created = ai.API_KEY.create(client, {"name": "k", "scope": "public"}, Deadline(60, clock=clock))
    assert created is False and found["id"] == KEY_ID and "value" not in found


@pytest.mark.parametrize("own, expected_deletes", [(MODEL_ID, 1), (OTHER_MODEL_ID, 0)])
def test_keep_oldest_deletes_only_its_own_copy(make_api, clock, own, expected_deletes):
    listing = {"models": [{"id": MODEL_ID, "name": MODEL_NAME, "created-at": "2026-11-23T10:00:05Z"},
                          {"id": OTHER_MODEL_ID, "name": MODEL_NAME, "created-at": "2026-11-23T10:00:00Z"}]}
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/model"): json_response(200, listing),
        ("DELETE", "/ai/model/%s" % MODEL_ID): op("success"),
        ("GET", "/operation/%s" % OP_ID): op("success"),
    }), sleep=clock.sleep)
    assert ai.MODEL.keep_oldest(client, MODEL_NAME, own, Deadline(60, clock=clock)) == OTHER_MODEL_ID
    assert count(server, "DELETE", "/ai/model/%s" % MODEL_ID) == expected_deletes
    assert count(server, "DELETE", "/ai/model/%s" % OTHER_MODEL_ID) == 0


def test_a_field_matches_an_unknown_current_value_and_reads_empty_defaults():
    field = Field("inference_engine_parameters", change=PATCH, empty=[])
    assert field.api_key == "inference-engine-parameters"
    # with an empty default, a missing list is an empty one: asking for flags is a change
    assert field.read({}) == [] and field.raw({}) is None and not field.matches({}, ["--x"]) and field.matches({}, [])
    assert not field.matches({"inference-engine-parameters": ["--y"]}, ["--x"])
    # without one, a value the API left out is unknown and never counts as a change
    assert Field("gpu_count").matches({}, 2) and not Field("gpu_count").matches({"gpu-count": 1}, 2)


def driver(resource, **params):
    module = ResourceModule.__new__(ResourceModule)
    module.resource = resource
    module.params = params
    return module


WIDGET = Resource("widget", "/widget", "widgets", [Field("name", change=PATCH), Field("size"), Field("color", change=PATCH)])


def test_changes_by_name_never_rename_and_by_id_do():
    current = {"id": "1", "name": "a", "size": 1, "color": "red"}
    by_name = driver(WIDGET, name="b", id=None, size=1, color="blue")
    assert by_name.changes(current, by_name.wanted(current)) == {"color": ("red", "blue")}
    by_id = driver(WIDGET, name="b", id="1", size=2, color=None)
    assert by_id.changes(current, by_id.wanted(current)) == {"name": ("a", "b"), "size": (1, 2)}
    assert WIDGET.field("size").change == IMMUTABLE


def test_the_view_shows_compared_fields_and_never_create_only_ones():
    assert driver(ai.MODEL).view({"name": MODEL_NAME, "state": "ready", "huggingface-token": "hf_x"}) == {
        "name": MODEL_NAME, "state": "ready"}
    assert driver(ai.API_KEY).view({"name": "k", "scope": "public", "value": "v"}) == {"name": "k", "scope": "public"}
    assert driver(ai.API_KEY).view(None) == {"state": "absent"}


def test_object_creates_are_declared_for_keys_only():
    assert ai.API_KEY.creates == OBJECT and ai.MODEL.creates != OBJECT and ai.DEPLOYMENT.creates != OBJECT
