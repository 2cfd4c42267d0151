# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""ExoscaleClient against a fake server (httpx.MockTransport): signing, decoding, errors, retries, operations."""

import email.utils
import json
import random
import time

import httpx
import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils import client as client_mod
from ansible_collections.inferops.exoscale.plugins.module_utils.client import (
    ExoscaleClient,
    ExoscaleError,
    RetryPolicy,
    api_message,
    parse_retry_after,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.signing import authorization_header
from ansible_collections.inferops.exoscale.plugins.module_utils.waiter import Deadline
from tests.unit.plugins.module_utils.exo_fakes import KEY, SECRET, RecordingRand, json_response, official_header

OP_ID = "4b5f4ab6-1e0e-4c4a-9a59-2f1f0d1c7a11"
DEP_ID = "c5a7b1f2-8c1e-4f1e-9d7e-3a2b1c0d9e8f"


def text_response(status, text, headers=None):
    return httpx.Response(status, content=text.encode("utf-8"), headers=headers)


# ---------------------------------------------------------------------------------------------
# Signing and decoding
# ---------------------------------------------------------------------------------------------

def test_request_is_signed_and_verifiable(make_api, monkeypatch):
    monkeypatch.setattr(client_mod.time, "time", lambda: 1800000000.0)
    client, server, _unused = make_api([json_response(200, {"id": OP_ID, "state": "success"})],
                                       base_url="http://127.0.0.1:8080/ch-gva-2/v2")
    client.request("POST", "/ai/deployment/%s/scale" % DEP_ID, body={"replicas": 0})
    (sent,) = server.requests
    assert sent.method == "POST"
    assert sent.url.path == "/ch-gva-2/v2/ai/deployment/%s/scale" % DEP_ID
    assert sent.content == b'{"replicas": 0}'
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["user-agent"].startswith("inferops.exoscale")
    header = sent.headers["authorization"]
    assert header.startswith("EXO2-HMAC-SHA256 credential=%s," % KEY)
    assert ",expires=1800000600," in header
    assert header == authorization_header(KEY, SECRET, "POST", sent.url.path, sent.content, expires=1800000600)
    assert header == official_header(sent)
    assert SECRET not in header


def test_get_sends_no_body_and_no_content_type(make_api):
    client, server, _unused = make_api([json_response(200, {"models": []})])
    assert client.get("/ai/model") == {"models": []}
    (sent,) = server.requests
    assert sent.content == b""
    assert "content-type" not in sent.headers
    assert sent.url.query == b""
    assert "signed-query-args" not in sent.headers["authorization"]


def test_query_booleans_rendered_true_false_and_none_dropped(make_api):
    client, server, _unused = make_api([json_response(200, {})])
    client.get("/ai/deployment", query={"force": True, "dry": False, "tail": 10, "skip": None})
    (sent,) = server.requests
    assert dict(sent.url.params) == {"dry": "false", "force": "true", "tail": "10"}
    assert "signed-query-args=dry;force;tail," in sent.headers["authorization"]
    assert sent.headers["authorization"] == official_header(sent)


@pytest.mark.parametrize("status", [200, 204])
def test_empty_body_returns_none(make_api, status):
    client, _unused, _unused = make_api([httpx.Response(status)])
    assert client.request("DELETE", "/ai/model/x", retry_writes=True) is None


def test_whitespace_body_returns_none(make_api):
    client, _unused, _unused = make_api([text_response(200, "  \n")])
    assert client.get("/zone") is None


def test_non_json_success_body_is_an_error(make_api):
    client, _unused, _unused = make_api([text_response(200, "<html>proxy login</html>")])
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    assert info.value.status == 200
    assert "not JSON" in str(info.value)
    assert "<html>proxy login</html>" in str(info.value)
    assert info.value.path == "/ai/model"


def test_request_count_counts_responses_not_transport_failures(make_api):
    client, server, _unused = make_api([httpx.ConnectError, json_response(503, {}), json_response(200, {"a": 1})])
    assert client.get("/zone") == {"a": 1}
    assert len(server.requests) == 3
    assert client.request_count == 2
    server.script.extend([json_response(404, {}), httpx.ReadTimeout, json_response(200, {})])
    with pytest.raises(ExoscaleError):
        client.get("/zone")
    assert client.request_count == 3
    client.get("/zone")
    assert client.request_count == 4


# ---------------------------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    ({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "model x not found",
      "message": "m", "error": "e"}, "model x not found"),
    ({"title": "Bad Request", "message": "legacy message", "error": "legacy error"}, "legacy message"),
    ({"title": "Bad Request", "error": "legacy error"}, "legacy error"),
    ({"title": "Conflict", "status": 409}, "Conflict"),
    ({"detail": "", "message": "", "error": None, "title": "Used title"}, "Used title"),
    ({"detail": 42, "message": "strings only"}, "strings only"),
])
def test_api_message_order(body, expected):
    assert api_message(json_response(400, body)) == expected


def test_api_message_falls_back_to_raw_text():
    assert api_message(text_response(502, "  Bad gateway from the proxy \n")) == "Bad gateway from the proxy"
    assert api_message(json_response(400, {"unexpected": "shape"})) == '{"unexpected": "shape"}'
    assert api_message(json_response(400, ["a", "list"])) == '["a", "list"]'


def test_api_message_empty_body_uses_reason_phrase():
    assert api_message(httpx.Response(404)) == "Not Found"


def test_error_carries_status_method_path_and_api_message(make_api):
    body = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "deployment gone"}
    client, _unused, _unused = make_api([json_response(404, body)])
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/deployment/%s" % DEP_ID)
    error = info.value
    assert (error.status, error.method, error.path) == (404, "GET", "/ai/deployment/%s" % DEP_ID)
    assert error.api_message == "deployment gone"
    assert error.body == body
    assert error.uncertain is False
    assert str(error).startswith("GET /ai/deployment/%s: HTTP 404: deployment gone" % DEP_ID)
    assert error.details() == dict(status=404, method="GET", path="/ai/deployment/%s" % DEP_ID,
                                   api_message="deployment gone", operation_id=None, reason=None)


def test_error_never_leaks_the_secret(make_api):
    client, _unused, _unused = make_api([json_response(403, {"message": "Invalid request signature"})])
    with pytest.raises(ExoscaleError) as info:
        client.get("/zone")
    assert SECRET not in str(info.value)
    assert SECRET not in json.dumps(info.value.details())


def test_403_hints_at_credentials(make_api):
    date = email.utils.formatdate(time.time(), usegmt=True)
    client, _unused, _unused = make_api([json_response(403, {"message": "Invalid request signature"}, headers={"Date": date})])
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    message = str(info.value)
    assert "Invalid request signature" in message
    assert "api_key" in message and "api_secret" in message
    assert "clock" not in message
    assert info.value.status == 403


def test_403_without_date_header_hints_at_credentials(make_api):
    client, _unused, _unused = make_api([json_response(403, {"message": "Invalid request signature"})])
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    assert "EXOSCALE_API_KEY" in str(info.value)


@pytest.mark.parametrize("offset, direction", [(-600, "ahead of"), (600, "behind")])
def test_403_with_skewed_server_date_hints_at_clock(make_api, offset, direction):
    date = email.utils.formatdate(time.time() + offset, usegmt=True)
    client, _unused, _unused = make_api([json_response(403, {"message": "request signature expired"}, headers={"Date": date})])
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    message = str(info.value)
    assert "clock" in message
    assert direction in message
    assert "NTP" in message
    assert info.value.api_message == "request signature expired"


def test_non_403_errors_have_no_credential_hint(make_api):
    client, _unused, _unused = make_api([json_response(400, {"detail": "bad name"})])
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": ""})
    assert "api_key" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_get_retried_on_transient_status(make_api, status):
    client, server, sleeps = make_api([json_response(status, {"message": "busy"})] * 2 + [json_response(200, {"ok": 1})])
    assert client.get("/ai/model") == {"ok": 1}
    assert server.methods == ["GET"] * 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_get_retried_on_transport_errors(make_api, exc):
    client, server, sleeps = make_api([exc, exc, json_response(200, {"ok": 1})])
    assert client.get("/ai/model") == {"ok": 1}
    assert len(server.requests) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("attempts", [1, 3, 6])
def test_get_gives_up_after_attempts_on_status(make_api, attempts):
    client, server, sleeps = make_api([json_response(503, {"message": "unavailable"})] * attempts, attempts=attempts)
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    assert len(server.requests) == attempts
    assert len(sleeps) == attempts - 1
    assert info.value.status == 503
    assert "unavailable" in str(info.value)


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ConnectError])
def test_get_gives_up_after_attempts_on_transport_error(make_api, exc):
    client, server, sleeps = make_api([exc] * 4, attempts=4)
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    assert len(server.requests) == 4
    assert len(sleeps) == 3
    assert exc.__name__ in str(info.value)
    assert info.value.method == "GET" and info.value.path == "/ai/model"
    assert info.value.status is None


def test_non_transient_status_is_not_retried(make_api):
    client, server, sleeps = make_api([json_response(400, {"message": "boom"})])
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    assert len(server.requests) == 1 and sleeps == []
    assert info.value.status == 400


def test_server_error_on_get_is_retried_like_the_official_sdk(make_api):
    client, server, sleeps = make_api([json_response(500, {"message": "boom"}), json_response(200, {"models": []})])
    assert client.get("/ai/model") == {"models": []}
    assert len(server.requests) == 2 and len(sleeps) == 1


def test_server_error_on_a_create_is_not_retried(make_api):
    client, server, sleeps = make_api([json_response(500, {"message": "boom"})])
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert len(server.requests) == 1 and sleeps == [] and info.value.status == 500


def test_each_retry_is_freshly_signed_with_same_body(make_api):
    client, server, _unused = make_api([json_response(429, {}), json_response(200, {"id": OP_ID, "state": "success"})])
    client.request("POST", "/ai/model", body={"name": "Qwen/Qwen3-0.6B"})
    assert len(server.requests) == 2
    assert server.requests[0].content == server.requests[1].content == b'{"name": "Qwen/Qwen3-0.6B"}'
    for sent in server.requests:
        assert sent.headers["authorization"] == official_header(sent)


def test_backoff_is_jittered_and_bounded_by_cap(make_api):
    rand = RecordingRand(fraction=1.0)
    client, _unused, sleeps = make_api([json_response(503, {})] * 7, attempts=7, base=0.5, cap=3.0, rand=rand)
    with pytest.raises(ExoscaleError):
        client.get("/zone")
    assert rand.calls == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 3.0), (0, 3.0), (0, 3.0)]
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_default_jitter_stays_within_bounds():
    rng = random.Random(7)
    policy = RetryPolicy(attempts=10, base=0.5, cap=8.0, rand=rng.uniform)
    for attempt in range(12):
        bound = min(8.0, 0.5 * 2 ** attempt)
        delays = [policy.delay(attempt) for _unused in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # actually spread over the range, not a constant
        assert min(delays) < bound * 0.2


def test_retry_after_seconds_is_honoured(make_api):
    rand = RecordingRand()
    client, _unused, sleeps = make_api([json_response(429, {}, headers={"Retry-After": "7"}), json_response(200, {})], rand=rand)
    client.get("/zone")
    assert sleeps == [7.0]
    assert rand.calls == []


def test_retry_after_is_capped_by_max_retry_after(make_api):
    client, _unused, sleeps = make_api([json_response(503, {}, headers={"Retry-After": "3600"}), json_response(200, {})],
                                       max_retry_after=20.0)
    client.get("/zone")
    assert sleeps == [20.0]


def test_retry_after_http_date_is_honoured(make_api):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    client, _unused, sleeps = make_api([json_response(503, {}, headers={"Retry-After": when}), json_response(200, {})])
    client.get("/zone")
    assert len(sleeps) == 1
    assert 27.0 <= sleeps[0] <= 30.0


def test_retry_after_http_date_capped(make_api):
    when = email.utils.formatdate(time.time() + 7200, usegmt=True)
    client, _unused, sleeps = make_api([json_response(429, {}, headers={"Retry-After": when}), json_response(200, {})],
                                       max_retry_after=60.0)
    client.get("/zone")
    assert sleeps == [60.0]


def test_unparseable_retry_after_falls_back_to_backoff(make_api):
    rand = RecordingRand(fraction=0.5)
    client, _unused, sleeps = make_api([json_response(503, {}, headers={"Retry-After": "soon"}), json_response(200, {})],
                                       rand=rand, base=0.5)
    client.get("/zone")
    assert rand.calls == [(0, 0.5)]
    assert sleeps == [0.25]


def test_parse_retry_after():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("later") is None
    now = 1800000000.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now=now) == 90.0
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("status", [502, 503, 504])
def test_post_not_resent_after_gateway_errors(make_api, status):
    client, server, sleeps = make_api([json_response(status, {"message": "gateway"}), json_response(200, {})])
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert server.methods == ["POST"]
    assert sleeps == []
    assert info.value.uncertain is True
    assert info.value.status == status
    assert "may or may not have taken effect" in str(info.value)


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.WriteTimeout])
def test_post_not_resent_after_lost_response(make_api, exc):
    client, server, sleeps = make_api([exc, json_response(200, {})])
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert len(server.requests) == 1
    assert sleeps == []
    assert info.value.uncertain is True
    assert info.value.method == "POST"
    assert exc.__name__ in str(info.value)


def test_post_resent_after_429(make_api):
    client, server, sleeps = make_api([json_response(429, {}), json_response(200, {"id": OP_ID})])
    assert client.request("POST", "/ai/model", body={"name": "m"}) == {"id": OP_ID}
    assert server.methods == ["POST", "POST"]
    assert len(sleeps) == 1


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout])
def test_post_resent_after_connect_failure(make_api, exc):
    client, server, sleeps = make_api([exc, json_response(200, {"id": OP_ID})])
    assert client.request("POST", "/ai/model", body={"name": "m"}) == {"id": OP_ID}
    assert server.methods == ["POST", "POST"]


def test_post_connect_failure_exhausted_is_certain(make_api):
    client, server, _unused = make_api([httpx.ConnectError] * 3, attempts=3)
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert len(server.requests) == 3
    assert info.value.uncertain is False


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "POST"])
def test_write_not_retried_without_retry_writes(make_api, method):
    client, server, _unused = make_api([json_response(503, {}), json_response(200, {})])
    with pytest.raises(ExoscaleError) as info:
        client.request(method, "/ai/deployment/%s" % DEP_ID, body={"name": "x"})
    assert len(server.requests) == 1
    assert info.value.uncertain is True


@pytest.mark.parametrize("first", [json_response(503, {}), json_response(502, {}), httpx.ReadTimeout])
def test_retry_writes_makes_patch_retried_like_get(make_api, first):
    client, server, sleeps = make_api([first, json_response(200, {"id": OP_ID})])
    assert client.request("PATCH", "/ai/deployment/%s" % DEP_ID, body={"name": "x"}, retry_writes=True) == {"id": OP_ID}
    assert server.methods == ["PATCH", "PATCH"]
    assert len(sleeps) == 1


def test_409_not_retried_by_default(make_api):
    client, server, _unused = make_api([json_response(409, {"detail": "operation in progress"}), json_response(200, {})])
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/deployment/%s/scale" % DEP_ID, body={"replicas": 1})
    assert len(server.requests) == 1
    assert info.value.status == 409
    assert info.value.uncertain is False
    assert info.value.api_message == "operation in progress"


@pytest.mark.parametrize("method", ["POST", "DELETE", "GET"])
def test_retry_conflict_retries_409(make_api, method):
    client, server, sleeps = make_api([json_response(409, {}), json_response(409, {}), json_response(200, {"id": OP_ID})])
    assert client.request(method, "/ai/deployment/%s" % DEP_ID, retry_conflict=True) == {"id": OP_ID}
    assert server.methods == [method] * 3
    assert len(sleeps) == 2


def test_retry_conflict_gives_up_after_attempts(make_api):
    client, server, _unused = make_api([json_response(409, {"detail": "busy"})] * 3, attempts=3)
    with pytest.raises(ExoscaleError) as info:
        client.request("DELETE", "/ai/deployment/%s" % DEP_ID, retry_conflict=True)
    assert len(server.requests) == 3
    assert info.value.status == 409


def test_post_gateway_error_on_last_attempt_is_uncertain(make_api):
    client, server, _unused = make_api([json_response(429, {}), json_response(502, {})], attempts=2)
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert server.methods == ["POST", "POST"]
    assert info.value.uncertain is True


def test_post_gateway_error_with_single_attempt_is_uncertain(make_api):
    client, server, _unused = make_api([json_response(503, {})], attempts=1)
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert len(server.requests) == 1
    assert info.value.uncertain is True


# ---------------------------------------------------------------------------------------------
# Proxy settings (trust_env)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("base_url, trust", [
    ("http://127.0.0.1:8080/v2", False),
    ("http://127.0.0.2:8080/ch-gva-2/v2", False),
    ("http://localhost:9999/v2", False),
    ("http://[::1]:8080/v2", False),
    ("https://api-ch-gva-2.exoscale.com/v2", True),
    ("https://api-de-fra-1.exoscale.com/v2/", True),
    ("http://10.0.0.5:8080/v2", True),
])
def test_trust_env_only_for_non_loopback(base_url, trust):
    client = ExoscaleClient(KEY, SECRET, base_url, validate_certs=False)
    try:
        assert client.http._trust_env is trust
        assert client.base_url == base_url.rstrip("/")
    finally:
        client.close()


def test_loopback_ignores_proxy_environment(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    local = ExoscaleClient(KEY, SECRET, "http://127.0.0.1:8080/v2", validate_certs=False)
    remote = ExoscaleClient(KEY, SECRET, "https://api-ch-gva-2.exoscale.com/v2", validate_certs=False)
    try:
        assert not local.http._mounts  # no proxy transport mounted
        assert remote.http._mounts  # the proxy environment is honoured
    finally:
        local.close()
        remote.close()


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------

def operation_server(polls, create_status=200, first=None):
    """Route: POST/DELETE answer a pending operation; GET /operation/{id} answers ``polls`` in turn (last repeats)."""
    answers = list(polls)

    def route(request):
        if request.url.path.endswith("/operation/%s" % OP_ID):
            assert request.method == "GET"
            return json_response(200, answers.pop(0) if len(answers) > 1 else answers[0])
        return json_response(create_status, first or {"id": OP_ID, "state": "pending",
                                                      "reference": {"id": DEP_ID, "link": "/v2/ai/deployment/" + DEP_ID}})
    return route


def test_operation_polls_until_success(make_api):
    final = {"id": OP_ID, "state": "success", "reference": {"id": DEP_ID}}
    pending = {"id": OP_ID, "state": "pending"}
    client, server, sleeps = make_api(route=operation_server([pending, pending, final]))
    result = client.operation("POST", "/ai/deployment", body={"name": "d"})
    assert result == final
    # The POST's own "pending" answer counts as the first look: every poll comes after a sleep.
    assert server.methods == ["POST", "GET", "GET", "GET"]
    assert server.paths[1:] == ["/v2/operation/%s" % OP_ID] * 3
    assert sleeps == [0.5, 0.75, 1.125]
    for sent in server.requests:
        assert sent.headers["authorization"] == official_header(sent)


def test_operation_already_successful_is_not_polled(make_api):
    done = {"id": OP_ID, "state": "success", "reference": {"id": DEP_ID}}
    client, server, sleeps = make_api([json_response(200, done)])
    assert client.operation("DELETE", "/ai/model/x", retry_writes=True) == done
    assert len(server.requests) == 1 and sleeps == []


def test_operation_with_empty_answer_returns_none(make_api):
    client, server, _unused = make_api([httpx.Response(204)])
    assert client.operation("DELETE", "/ai/model/x", retry_writes=True) is None
    assert len(server.requests) == 1


@pytest.mark.parametrize("state", ["failure", "timeout"])
def test_operation_failure_raises_with_details(make_api, state):
    failed = {"id": OP_ID, "state": state, "reason": "incorrect", "message": "gpu-type gpua5000 is not available"}
    client, _unused, _unused = make_api(route=operation_server([{"id": OP_ID, "state": "pending"}, failed]))
    with pytest.raises(ExoscaleError) as info:
        client.operation("POST", "/ai/deployment", body={"name": "d"})
    error = info.value
    assert error.operation_id == OP_ID
    assert error.reason == "incorrect"
    assert error.api_message == "gpu-type gpua5000 is not available"
    text = str(error)
    assert OP_ID in text and state in text and "incorrect" in text and "gpu-type gpua5000 is not available" in text


def test_operation_immediate_failure_raises(make_api):
    failed = {"id": OP_ID, "state": "failure", "reason": "forbidden", "message": "quota"}
    client, server, _unused = make_api([json_response(200, failed)])
    with pytest.raises(ExoscaleError) as info:
        client.operation("POST", "/ai/model", body={"name": "m"})
    assert info.value.operation_id == OP_ID
    assert len(server.requests) == 1


def test_operation_still_pending_at_deadline(make_api, clock):
    client, server, _unused = make_api(route=operation_server([{"id": OP_ID, "state": "pending"}]), sleep=clock.sleep)
    deadline = Deadline(5, clock=clock)
    with pytest.raises(ExoscaleError) as info:
        client.operation("POST", "/ai/deployment", body={"name": "d"}, deadline=deadline)
    assert info.value.operation_id == OP_ID
    assert OP_ID in str(info.value)
    assert "pending" in str(info.value)
    assert sum(clock.sleeps) == pytest.approx(5.0)
    assert clock.now - deadline.started == pytest.approx(5.0)
    assert server.methods[0] == "POST" and set(server.methods[1:]) == {"GET"}


def test_operation_poll_intervals_are_capped(make_api, clock):
    client, server, _unused = make_api(route=operation_server([{"id": OP_ID, "state": "pending"}]), sleep=clock.sleep)
    with pytest.raises(ExoscaleError):
        client.operation("POST", "/ai/deployment", body={"name": "d"}, deadline=Deadline(60, clock=clock))
    assert max(clock.sleeps) <= 2.0
    assert clock.sleeps[:3] == [0.5, 0.75, 1.125]


@pytest.mark.parametrize("lost, in_flight", [
    (json_response(504, {"message": "gateway timeout"}), True),
    (json_response(502, {"message": "bad gateway"}), False),
    (httpx.ReadTimeout, True),
    (httpx.RemoteProtocolError, False),
])
def test_uncertain_post_says_whether_the_server_may_still_be_working(make_api, lost, in_flight):
    client, _unused, _unused = make_api([lost])
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert info.value.uncertain is True
    assert info.value.in_flight is in_flight


def test_403_expired_signature_without_skewed_date_still_hints_at_clock(make_api):
    client, _unused, _unused = make_api([json_response(403, {"detail": "request signature expired at 1 (server time 2)"})])
    with pytest.raises(ExoscaleError) as info:
        client.get("/ai/model")
    message = str(info.value)
    assert "expired" in message and "local clock" in message and "behind" in message and "NTP" in message
    assert "600 s" in message


# ---------------------------------------------------------------------------------------------
# Writes whose outcome is uncertain: look before sending again (issue 12)
# ---------------------------------------------------------------------------------------------

def deployment_server(script, deployment):
    """Route: writes answer from ``script`` in turn; GET /ai/deployment/{id} answers ``deployment``."""
    answers = list(script)

    def route(request):
        if request.method == "GET" and request.url.path.endswith("/ai/deployment/%s" % DEP_ID):
            return json_response(200, deployment)
        item = answers.pop(0)
        if isinstance(item, type) and issubclass(item, Exception):
            raise item("simulated %s" % item.__name__, request=request)
        return item
    return route


BUSY = json_response(409, {"detail": "deployment is scaling: another operation is in progress"})
DONE = json_response(200, {"id": OP_ID, "state": "success", "reference": {"id": DEP_ID}})


@pytest.mark.parametrize("lost", [httpx.RemoteProtocolError, httpx.ReadTimeout, json_response(504, {}),
                                  json_response(502, {})])
def test_a_scale_whose_answer_was_lost_is_not_sent_again_once_it_shows(make_api, lost):
    """The resend would meet the 409 of its own operation until the scale ends (before: the budget ran out)."""
    client, server, _unused = make_api(route=deployment_server([lost, BUSY, BUSY, BUSY], {"id": DEP_ID, "replicas": 2}),
                                       attempts=3)
    assert client.operation("POST", "/ai/deployment/%s/scale" % DEP_ID, body={"replicas": 2},
                            retry_writes=True, retry_conflict=True) is None
    assert server.methods == ["POST", "GET"]


def test_a_patch_whose_answer_was_lost_is_sent_again_while_it_does_not_show(make_api):
    client, server, _unused = make_api(route=deployment_server(
        [httpx.RemoteProtocolError, DONE], {"id": DEP_ID, "inference-engine-parameters": []}))
    body = {"inference-engine-parameters": ["--max-model-len=4096"]}
    assert client.operation("PATCH", "/ai/deployment/%s" % DEP_ID, body=body, retry_writes=True)["state"] == "success"
    assert server.methods == ["PATCH", "GET", "PATCH"]


def test_a_write_that_was_answered_is_never_looked_up(make_api):
    client, server, _unused = make_api(route=deployment_server([BUSY, DONE], {"id": DEP_ID, "replicas": 2}))
    client.operation("POST", "/ai/deployment/%s/scale" % DEP_ID, body={"replicas": 2}, retry_writes=True,
                     retry_conflict=True)
    assert server.methods == ["POST", "POST"], "a 409 means the server did not act: no look needed"


def test_a_failing_look_lets_the_idempotent_write_go_again(make_api):
    def route(request):
        if request.method == "GET":
            return json_response(404, {"detail": "not found"})
        return answers.pop(0)
    answers = [json_response(503, {}), DONE]
    client, server, _unused = make_api(route=route, attempts=2)
    assert client.operation("PATCH", "/ai/deployment/%s" % DEP_ID, body={"name": "n"}, retry_writes=True)
    assert server.methods == ["PATCH", "GET", "PATCH"]


def test_an_uncertain_error_carries_the_servers_retry_after(make_api):
    client, _unused, _unused2 = make_api([json_response(503, {}, headers={"Retry-After": "7"})])
    with pytest.raises(ExoscaleError) as info:
        client.request("POST", "/ai/model", body={"name": "m"})
    assert info.value.uncertain is True and info.value.retry_after == 7.0


def test_plain_http_endpoints_load_no_certificate_store(monkeypatch):
    """TLS settings only matter for https; building an SSL context costs ~60 ms per task."""
    made = []
    real_client = httpx.Client
    monkeypatch.setattr(client_mod.httpx, "Client", lambda **kwargs: made.append(kwargs) or real_client(**kwargs))
    for url in ("http://127.0.0.1:8080/v2", "https://api-ch-gva-2.exoscale.com/v2"):
        ExoscaleClient(KEY, SECRET, url).close()
    assert [kwargs["verify"] for kwargs in made] == [False, True]


def test_the_default_sleep_is_looked_up_when_called(monkeypatch):
    """A test process compresses time by patching time.sleep: the client must not hold the original."""
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    client = ExoscaleClient(KEY, SECRET, "http://127.0.0.1:8080/v2")
    try:
        client.sleep(1.5)
    finally:
        client.close()
    assert slept == [1.5]
