# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The AI declarations through the resource layer: engine flags, creates that never duplicate, deletes, and
readiness waits (fake server, fake clock). ``create_model``/``create_deployment`` below compose the layer's
calls exactly as the driver's create does (``Resource.create`` then ``keep_oldest``)."""

import httpx
import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils import ai, engine, resource
from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleError
from ansible_collections.inferops.exoscale.plugins.module_utils.convert import AmbiguousName
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline
from tests.unit.plugins.module_utils.exo_fakes import json_response

MODEL_ID = "0d9c4e1a-5b7f-4b8e-9a53-6f0e2f6a1b11"
OTHER_MODEL_ID = "7aa2f0c1-2f3e-4c5d-8e9f-0a1b2c3d4e5f"
DEP_ID = "c5a7b1f2-8c1e-4f1e-9d7e-3a2b1c0d9e8f"
OP_ID = "4b5f4ab6-1e0e-4c4a-9a59-2f1f0d1c7a11"
MODEL_NAME = "Qwen/Qwen3-0.6B"


def create_model(client, name, huggingface_token, deadline):
    body = dict(name=name, **({"huggingface-token": huggingface_token} if huggingface_token else {}))
    model, created = ai.MODEL.create(client, body, deadline)
    return ai.MODEL.keep_oldest(client, name, model["id"], deadline) if created else model["id"]


def create_deployment(client, body, deadline):
    deployment, created = ai.DEPLOYMENT.create(client, body, deadline)
    return ai.DEPLOYMENT.keep_oldest(client, body["name"], deployment["id"], deadline) if created else deployment["id"]


def model_driver(client, **params):
    from ansible_collections.inferops.exoscale.plugins.modules.ai_model import ModelModule
    return ModelModule(params=dict(dict(name=None, id=None, state="present"), **params), client=client)


class Router:
    """Route ``(METHOD, path under /v2)`` to a list of answers (the last one repeats)."""

    def __init__(self, routes):
        self.routes = dict((key, list(value) if isinstance(value, list) else [value]) for key, value in routes.items())

    def __call__(self, request):
        key = (request.method, request.url.path[len("/v2"):])
        assert key in self.routes, "unexpected request %s %s" % key
        answers = self.routes[key]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def op(state="pending", ref=MODEL_ID, **extra):
    return json_response(200, dict({"id": OP_ID, "state": state, "reference": {"id": ref}}, **extra))


def count(server, method, path):
    return sum(1 for r in server.requests if r.method == method and r.url.path == "/v2" + path)


# ---------------------------------------------------------------------------------------------
# engine_flag
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("parameter, flag", [
    ("--max-model-len=4096", "--max-model-len"),
    ("--max-model-len 4096", "--max-model-len"),
    ("--enforce-eager", "--enforce-eager"),
    ("  --dtype=half  ", "--dtype"),
    ("--dtype\thalf", "--dtype"),
    ("--a=b=c", "--a"),
    ("--a b=c", "--a"),
    ("--a=b c", "--a"),
    ("", ""),
    ("   ", ""),
])
def test_engine_flag(parameter, flag):
    assert engine.flag(parameter) == flag


# ---------------------------------------------------------------------------------------------
# Creates that never duplicate
# ---------------------------------------------------------------------------------------------

def test_create_model_happy_path(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): op(),
        ("GET", "/operation/%s" % OP_ID): [op(), op("success")],
        ("GET", "/ai/model"): json_response(200, {"models": [{"id": MODEL_ID, "name": MODEL_NAME}]}),
    }), sleep=clock.sleep)
    assert create_model(client, MODEL_NAME, "hf_token", Deadline(60, clock=clock)) == MODEL_ID
    post = server.requests[0]
    assert post.content == b'{"name": "Qwen/Qwen3-0.6B", "huggingface-token": "hf_token"}'
    assert count(server, "POST", "/ai/model") == 1


@pytest.mark.parametrize("lost", [json_response(504, {"message": "gateway timeout"}), httpx.ReadTimeout])
def test_uncertain_create_finds_existing_and_does_not_resend(make_api, clock, lost):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): [lost, op()],
        ("GET", "/ai/model"): json_response(200, {"models": [
            {"id": OTHER_MODEL_ID, "name": "other/model"}, {"id": MODEL_ID, "name": MODEL_NAME, "state": "creating"}]}),
    }), sleep=clock.sleep)
    assert create_model(client, MODEL_NAME, None, Deadline(60, clock=clock)) == MODEL_ID
    assert count(server, "POST", "/ai/model") == 1
    assert count(server, "GET", "/ai/model") == 1
    assert server.requests[0].content == b'{"name": "Qwen/Qwen3-0.6B"}'


def test_uncertain_create_resends_once_when_nothing_found(make_api, clock):
    new_id = "11111111-2222-4333-8444-555555555555"
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): [httpx.ReadTimeout, op(ref=new_id)],
        ("GET", "/ai/model"): json_response(200, {"models": [{"id": OTHER_MODEL_ID, "name": "other/model"}]}),
        ("GET", "/operation/%s" % OP_ID): op("success", ref=new_id),
    }), sleep=clock.sleep)
    assert create_model(client, MODEL_NAME, None, Deadline(600, clock=clock)) == new_id
    assert count(server, "POST", "/ai/model") == 2
    # a timed-out create may still be running: it is looked for during 2 x api_timeout before it is sent again
    resend = server.methods.index("POST", 1)
    assert resend > 2 and set(server.methods[1:resend]) == {"GET"}
    assert sum(clock.sleeps) >= resource.IN_FLIGHT_GRACE_FACTOR * client.timeout


def test_create_that_lands_after_the_timeout_is_adopted_not_resent(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): [httpx.ReadTimeout, op()],
        ("GET", "/ai/model"): [json_response(200, {"models": []}), json_response(200, {"models": []}),
                               json_response(200, {"models": [{"id": MODEL_ID, "name": MODEL_NAME}]})],
    }), sleep=clock.sleep)
    assert create_model(client, MODEL_NAME, None, Deadline(600, clock=clock)) == MODEL_ID
    assert count(server, "POST", "/ai/model") == 1


@pytest.mark.parametrize("own_created_at, kept", [("2026-11-23T10:00:05Z", OTHER_MODEL_ID), ("2026-11-23T09:59:00Z", MODEL_ID)])
def test_concurrent_duplicate_create_keeps_the_oldest(make_api, clock, own_created_at, kept):
    listing = {"models": [{"id": MODEL_ID, "name": MODEL_NAME, "created-at": own_created_at},
                          {"id": OTHER_MODEL_ID, "name": MODEL_NAME, "created-at": "2026-11-23T10:00:00Z"}]}
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): op(),
        ("GET", "/operation/%s" % OP_ID): op("success"),
        ("GET", "/ai/model"): json_response(200, listing),
        ("DELETE", "/ai/model/%s" % MODEL_ID): op("success"),
    }), sleep=clock.sleep)
    assert create_model(client, MODEL_NAME, None, Deadline(60, clock=clock)) == kept
    # only its own copy is ever deleted
    assert count(server, "DELETE", "/ai/model/%s" % MODEL_ID) == (1 if kept != MODEL_ID else 0)
    assert count(server, "DELETE", "/ai/model/%s" % OTHER_MODEL_ID) == 0


def test_every_uncertain_create_is_looked_up_before_the_next_send(make_api, clock):
    """Issue 12: a 503, then a response lost after the server created it. Before, the second uncertain failure
    escaped as 'POST /ai/model failed after 1 attempt(s): RemoteProtocolError'."""
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): [json_response(503, {}), httpx.RemoteProtocolError, op()],
        ("GET", "/ai/model"): [json_response(200, {"models": []}),
                               json_response(200, {"models": [{"id": MODEL_ID, "name": MODEL_NAME}]})],
    }), sleep=clock.sleep)
    assert create_model(client, MODEL_NAME, None, Deadline(60, clock=clock)) == MODEL_ID
    assert server.methods == ["POST", "GET", "POST", "GET"]


def test_uncertain_creates_are_sent_as_often_as_the_budget_allows_then_fail_clearly(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): [json_response(503, {"detail": "busy"}, headers={"Retry-After": "3"})],
        ("GET", "/ai/model"): json_response(200, {"models": []}),
    }), sleep=clock.sleep, attempts=4)
    with pytest.raises(ExoscaleError) as info:
        create_model(client, MODEL_NAME, None, Deadline(60, clock=clock))
    assert server.methods == ["POST", "GET"] * 3 + ["POST"]
    assert clock.sleeps == [3.0] * 3, "the server's Retry-After paces the resends"
    message = str(info.value)
    assert message.startswith("POST /ai/model: HTTP 503: busy.") and "Sent 4 times" in message
    assert info.value.uncertain is True


@pytest.mark.parametrize("status", [400, 403, 412, 500])
def test_certain_create_error_propagates_without_lookup(make_api, clock, status):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): json_response(status, {"detail": "nope"}),
        ("GET", "/ai/model"): json_response(200, {"models": [{"id": MODEL_ID, "name": MODEL_NAME}]}),
    }), sleep=clock.sleep)
    with pytest.raises(ExoscaleError) as info:
        create_model(client, MODEL_NAME, None, Deadline(60, clock=clock))
    assert info.value.status == status
    assert server.methods == ["POST"]


def test_failed_create_operation_propagates(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): op(),
        ("GET", "/operation/%s" % OP_ID): op("failure", reason="incorrect", message="repository not found"),
    }), sleep=clock.sleep)
    with pytest.raises(ExoscaleError) as info:
        create_model(client, MODEL_NAME, None, Deadline(60, clock=clock))
    assert "repository not found" in str(info.value)
    assert count(server, "POST", "/ai/model") == 1
    assert count(server, "GET", "/ai/model") == 0


def test_uncertain_create_deployment_matches_private_deployment_by_name(make_api, clock):
    body = {"name": "chat", "model": {"name": MODEL_NAME}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1}
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/deployment"): [json_response(502, {}), op(ref="never")],
        ("GET", "/ai/deployment"): json_response(200, {"deployments": [
            {"id": "public-one", "name": "chat", "visibility": "public"},
            {"id": DEP_ID, "name": "chat", "visibility": "private"}]}),
    }), sleep=clock.sleep)
    assert create_deployment(client, body, Deadline(60, clock=clock)) == DEP_ID
    assert count(server, "POST", "/ai/deployment") == 1
    listing = [r for r in server.requests if r.method == "GET"][0]
    assert listing.url.params["visibility"] == "private"


def test_create_not_resent_when_only_operation_polling_fails(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("POST", "/ai/model"): op(),
        ("GET", "/operation/%s" % OP_ID): httpx.ReadTimeout,
        ("GET", "/ai/model"): json_response(200, {"models": []}),  # not listed until its operation completes
    }), sleep=clock.sleep, attempts=2)
    with pytest.raises(ExoscaleError):
        create_model(client, MODEL_NAME, None, Deadline(60, clock=clock))
    assert count(server, "POST", "/ai/model") == 1


# ---------------------------------------------------------------------------------------------
# Deletes
# ---------------------------------------------------------------------------------------------

def test_delete_model_in_use_names_deployments(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("DELETE", "/ai/model/%s" % MODEL_ID): json_response(412, {"detail": "model in use",
                                                                   "deployments": ["chat", "batch"]}),
    }), sleep=clock.sleep)
    model = {"id": MODEL_ID, "name": MODEL_NAME}
    with pytest.raises(ExoscaleError) as info:
        ai.delete_model(client, model, Deadline(60, clock=clock))
    error = info.value
    assert error.status == 412
    assert "chat, batch" in str(error)
    assert MODEL_NAME in str(error) and MODEL_ID in str(error)
    assert error.api_message == "model in use"
    assert error.method == "DELETE" and error.path == "/ai/model/%s" % MODEL_ID
    assert len(server.requests) == 1


def test_delete_model_in_use_without_list(make_api, clock):
    client, _unused, _unused = make_api(route=Router({
        ("DELETE", "/ai/model/%s" % MODEL_ID): json_response(412, {"detail": "model in use"}),
    }), sleep=clock.sleep)
    with pytest.raises(ExoscaleError, match=r"\(not listed\)"):
        ai.delete_model(client, {"id": MODEL_ID, "name": MODEL_NAME}, Deadline(60, clock=clock))


def test_delete_model_already_gone_is_fine(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("DELETE", "/ai/model/%s" % MODEL_ID): json_response(404, {"detail": "not found"}),
    }), sleep=clock.sleep)
    assert ai.delete_model(client, {"id": MODEL_ID, "name": MODEL_NAME}, Deadline(60, clock=clock)) is None
    assert len(server.requests) == 1


def test_delete_model_other_error_propagates(make_api, clock):
    client, _unused, _unused = make_api(route=Router({
        ("DELETE", "/ai/model/%s" % MODEL_ID): json_response(403, {"message": "forbidden"}),
    }), sleep=clock.sleep)
    with pytest.raises(ExoscaleError) as info:
        ai.delete_model(client, {"id": MODEL_ID, "name": MODEL_NAME}, Deadline(60, clock=clock))
    assert info.value.status == 403


def test_delete_deployment_waits_out_conflicts_and_accepts_204(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("DELETE", "/ai/deployment/%s" % DEP_ID): [json_response(409, {"detail": "operation in progress"}),
                                                   httpx.Response(204)],
    }), sleep=clock.sleep)
    assert ai.DEPLOYMENT.delete(client, DEP_ID, Deadline(60, clock=clock)) is None
    assert server.methods == ["DELETE", "DELETE"]


# ---------------------------------------------------------------------------------------------
# Readiness waits
# ---------------------------------------------------------------------------------------------

def model(state):
    return json_response(200, {"id": MODEL_ID, "name": MODEL_NAME, "state": state})


def test_wait_model_ready_returns_model_and_polls(make_api, clock):
    client, _unused, _unused = make_api(route=Router({
        ("GET", "/ai/model/%s" % MODEL_ID): [model("creating"), model("downloading"), model("downloading"),
                                             model("ready")],
    }), sleep=clock.sleep)
    history = []
    result, polls = ai.wait_model_ready(client, MODEL_ID, Deadline(600, clock=clock), history=history)
    assert result["state"] == "ready" and polls == 4
    assert [h["state"] for h in history] == ["creating", "downloading", "ready"]
    assert clock.sleeps == [1.0, 2.0, 3.0]


def test_wait_model_ready_error_raises_resource_failed(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/model/%s" % MODEL_ID): [model("downloading"), model("error"), model("ready")],
    }), sleep=clock.sleep)
    with pytest.raises(ai.ResourceFailed) as info:
        ai.wait_model_ready(client, MODEL_ID, Deadline(600, clock=clock))
    assert info.value.resource == {"id": MODEL_ID, "name": MODEL_NAME, "state": "error"}
    assert MODEL_NAME in str(info.value) and "state error" in str(info.value)
    assert isinstance(info.value, ExoscaleError)
    assert len(server.requests) == 2


def test_wait_model_ready_vanished(make_api, clock):
    client, _unused, _unused = make_api(route=Router({
        ("GET", "/ai/model/%s" % MODEL_ID): [model("downloading"), json_response(404, {"detail": "not found"})],
    }), sleep=clock.sleep)
    with pytest.raises(ai.ResourceFailed, match="disappeared"):
        ai.wait_model_ready(client, MODEL_ID, Deadline(600, clock=clock))


def test_wait_model_ready_timeout_keeps_last_model(make_api, clock):
    client, _unused, _unused = make_api(route=Router({("GET", "/ai/model/%s" % MODEL_ID): model("downloading")}),
                                        sleep=clock.sleep)
    deadline = Deadline(30, clock=clock)
    with pytest.raises(ai.ResourceWaitTimeout) as info:
        ai.wait_model_ready(client, MODEL_ID, deadline)
    assert info.value.resource["state"] == "downloading"
    assert "downloading" in str(info.value) and MODEL_ID in str(info.value)
    assert deadline.elapsed() == pytest.approx(30)


def deployment(state, details=None):
    body = {"id": DEP_ID, "name": "chat", "state": state, "visibility": "private"}
    if details:
        body["state-details"] = details
    return json_response(200, body)


LOGS = {"logs": [
    {"time": "2026-01-01T10:00:00Z", "node": "gpu-node-1", "message": "Loading weights"},
    {"time": "2026-01-01T10:00:05Z", "node": "gpu-node-1", "message": "torch.OutOfMemoryError: CUDA out of memory"},
]}


def test_wait_deployment_ready_error_includes_details_and_logs(make_api, clock):
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/deployment/%s" % DEP_ID): [deployment("deploying"), deployment("error", "engine exited with code 1")],
        ("GET", "/ai/deployment/%s/logs" % DEP_ID): json_response(200, LOGS),
    }), sleep=clock.sleep)
    with pytest.raises(ai.ResourceFailed) as info:
        ai.wait_deployment_ready(client, DEP_ID, Deadline(600, clock=clock))
    message = str(info.value)
    assert "engine exited with code 1" in message
    assert "2026-01-01T10:00:00Z gpu-node-1 Loading weights" in message
    assert "torch.OutOfMemoryError: CUDA out of memory" in message
    shown = message.split("Last log lines:")[1]
    assert shown.index("Loading weights") < shown.index("CUDA out of memory")
    assert info.value.resource["state"] == "error"
    logs_request = [r for r in server.requests if r.url.path.endswith("/logs")]
    assert len(logs_request) == 1
    assert logs_request[0].url.params["tail"] == str(ai.DIAGNOSIS_LOG_LINES)
    assert info.value.diagnosis["cause"] == "oom" and "Cause (oom)" in message


def test_wait_deployment_ready_error_without_logs(make_api, clock):
    client, _unused, _unused = make_api(route=Router({
        ("GET", "/ai/deployment/%s" % DEP_ID): deployment("error"),
        ("GET", "/ai/deployment/%s/logs" % DEP_ID): json_response(500, {"detail": "logs unavailable"}),
    }), sleep=clock.sleep)
    with pytest.raises(ai.ResourceFailed) as info:
        ai.wait_deployment_ready(client, DEP_ID, Deadline(600, clock=clock))
    assert "no details given" in str(info.value)
    assert "Last log lines" not in str(info.value)


def test_wait_deployment_ready_success(make_api, clock):
    client, _unused, _unused = make_api(route=Router({
        ("GET", "/ai/deployment/%s" % DEP_ID): [deployment("creating"), deployment("deploying"), deployment("ready")],
    }), sleep=clock.sleep)
    result, polls = ai.wait_deployment_ready(client, DEP_ID, Deadline(600, clock=clock))
    assert (result["state"], polls) == ("ready", 3)


def test_wait_deployment_gone(make_api, clock):
    client, _unused, _unused = make_api(route=Router({
        ("GET", "/ai/deployment/%s" % DEP_ID): [deployment("deleting"), json_response(404, {})],
    }), sleep=clock.sleep)
    result, polls = ai.DEPLOYMENT.wait_gone(client, DEP_ID, Deadline(600, clock=clock))
    assert (result, polls) == (None, 2)


# ---------------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------------

def test_find_model_by_id_checks_name(make_api):
    client, _unused, _unused = make_api(route=Router({("GET", "/ai/model/%s" % MODEL_ID): model("ready")}))
    assert model_driver(client, name=MODEL_NAME, id=MODEL_ID).find()["id"] == MODEL_ID
    assert ai.MODEL.resolve(client, MODEL_ID)["id"] == MODEL_ID
    # A refusal, not an API error: the API answered fine, the task's name and id disagree.
    with pytest.raises(Refused, match="is named"):
        model_driver(client, name="other/model", id=MODEL_ID).find()


def test_find_model_by_name_ambiguous(make_api):
    client, _unused, _unused = make_api(route=Router({("GET", "/ai/model"): json_response(200, {"models": [
        {"id": "b", "name": MODEL_NAME}, {"id": "a", "name": MODEL_NAME}]})}))
    with pytest.raises(AmbiguousName, match="a, b"):
        ai.MODEL.resolve(client, MODEL_NAME)


def test_find_deployment_by_name_gets_full_resource(make_api):
    client, server, _unused = make_api(route=Router({
        ("GET", "/ai/deployment"): json_response(200, {"deployments": [
            {"id": "pub", "name": "chat", "visibility": "public"}, {"id": DEP_ID, "name": "chat"}]}),
        ("GET", "/ai/deployment/%s" % DEP_ID): deployment("ready"),
    }))
    assert ai.DEPLOYMENT.resolve(client, "chat")["id"] == DEP_ID
    assert server.paths == ["/v2/ai/deployment", "/v2/ai/deployment/%s" % DEP_ID]
