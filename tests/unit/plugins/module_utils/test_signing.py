# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""EXO2-HMAC-SHA256 signing: official vectors, and agreement with the official signer
(requests-exoscale-auth) on generated requests, both for the pure function and for what the
client actually puts on the wire."""

import json
import random
import uuid
from urllib.parse import urlencode

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from exoscale_auth import ExoscaleV2Auth

from ansible_collections.inferops.exoscale.plugins.module_utils import signing
from ansible_collections.inferops.exoscale.plugins.module_utils.signing import authorization_header, signature_message
from tests.unit.plugins.module_utils.exo_fakes import KEY, SECRET, json_response, official_header

VECTOR_KEY = "EXOxxxxxxxxxxxxxxxxxxxxxxxx"
VECTOR_SECRET = "X" * 43
VECTOR_EXPIRES = 3376684800

VECTORS = [
    ("GET", "/v2/zone", b"", [],
     "EXO2-HMAC-SHA256 credential=EXOxxxxxxxxxxxxxxxxxxxxxxxx,expires=3376684800,"
     "signature=Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY="),
    ("GET", "/v2/zone", b"", [("k1", "v1"), ("k2", "v2")],
     "EXO2-HMAC-SHA256 credential=EXOxxxxxxxxxxxxxxxxxxxxxxxx,signed-query-args=k1;k2,expires=3376684800,"
     "signature=iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY="),
    ("POST", "/v2/load-balancer", b'{"name": "foo"}', [],
     "EXO2-HMAC-SHA256 credential=EXOxxxxxxxxxxxxxxxxxxxxxxxx,expires=3376684800,"
     "signature=duldkM0+pgWRtUznj0rMrZauzsYOtSVLn1LCGcs7CcE="),
]


def official(method, url, body, expires, key=KEY, secret=SECRET):
    prepared = requests.PreparedRequest()
    prepared.method = method
    prepared.url = url
    prepared.body = body or None
    prepared.headers = CaseInsensitiveDict()
    ExoscaleV2Auth(key, secret)._sign_request(prepared, expires)
    return prepared.headers["Authorization"]


@pytest.mark.parametrize("method, path, body, query, expected", VECTORS, ids=["get", "get-query", "post-body"])
def test_official_vectors(method, path, body, query, expected):
    assert authorization_header(VECTOR_KEY, VECTOR_SECRET, method, path, body, query, expires=VECTOR_EXPIRES) == expected


@pytest.mark.parametrize("method, path, body, query, expected", VECTORS, ids=["get", "get-query", "post-body"])
def test_official_vectors_hold_for_the_official_signer_too(method, path, body, query, expected):
    # Guards the oracle used below: the official library reproduces the documented vectors.
    url = "https://api-ch-gva-2.exoscale.com" + path + ("?" + urlencode(query) if query else "")
    assert official(method, url, body, VECTOR_EXPIRES, VECTOR_KEY, VECTOR_SECRET) == expected


def test_vector_message_is_five_lines_without_trailing_newline():
    message = signature_message("post", "/v2/load-balancer", b'{"name": "foo"}', [], VECTOR_EXPIRES)
    assert message == b'POST /v2/load-balancer\n{"name": "foo"}\n\n\n3376684800'


def test_query_values_sorted_by_name_and_concatenated():
    message = signature_message("GET", "/v2/x", b"", [("b", "2"), ("a", "1"), ("c", "3")], 7)
    assert message.split(b"\n")[2] == b"123"
    header = authorization_header(KEY, SECRET, "GET", "/v2/x", b"", [("b", "2"), ("a", "1"), ("c", "3")], expires=7)
    assert ",signed-query-args=a;b;c," in header


def test_query_order_does_not_change_the_signature():
    pairs = [("tail", "10"), ("visibility", "private"), ("force", "true")]
    shuffled = [pairs[2], pairs[0], pairs[1]]
    assert (authorization_header(KEY, SECRET, "GET", "/v2/a", b"", pairs, expires=1)
            == authorization_header(KEY, SECRET, "GET", "/v2/a", b"", shuffled, expires=1))


def test_repeated_parameter_is_listed_but_its_values_are_not_signed():
    pairs = [("a", "1"), ("b", "x"), ("a", "2")]
    message = signature_message("GET", "/v2/a", b"", pairs, 5)
    assert message.split(b"\n")[2] == b"x"
    header = authorization_header(KEY, SECRET, "GET", "/v2/a", b"", pairs, expires=5)
    assert "signed-query-args=a;b," in header
    assert header == official("GET", "https://h/v2/a?a=1&b=x&a=2", b"", 5)


def test_default_expiry_is_now_plus_600(monkeypatch):
    monkeypatch.setattr(signing.time, "time", lambda: 1700000000.75)
    header = authorization_header(KEY, SECRET, "GET", "/v2/zone")
    assert ",expires=1700000600," in header
    assert header == authorization_header(KEY, SECRET, "GET", "/v2/zone", expires=1700000600)


def test_signature_depends_on_every_input():
    base = dict(api_key=KEY, api_secret=SECRET, method="POST", path="/v2/ai/model", body=b'{"a": 1}',
                query=[("q", "1")], expires=100)
    reference = authorization_header(**base).rsplit("signature=", 1)[1]
    for field, other in [("api_secret", SECRET + "x"), ("method", "PATCH"), ("path", "/v2/ai/model/x"),
                         ("body", b'{"a": 2}'), ("query", [("q", "2")]), ("expires", 101)]:
        changed = dict(base, **{field: other})
        assert authorization_header(**changed).rsplit("signature=", 1)[1] != reference, field


# ---------------------------------------------------------------------------------------------
# Generated agreement with the official signer
# ---------------------------------------------------------------------------------------------

ZONE_PREFIXES = ["/v2", "/ch-gva-2/v2", "/de-fra-1/v2", "/at-vie-2/v2", "/bg-sof-1/v2"]
QUERY_NAMES = ["visibility", "tail", "version", "name", "force", "limit", "k1", "a-b", "x_y", "z"]
TEXTS = ["private", "public", "0.12.0", "Qwen/Qwen3-0.6B", "zürich", "日本語", "a b", "a+b", "x&y=z",
         "100%", "slash/and?q", "ünï cødé ✓", "--max-model-len=4096", "emoji 🚀"]


def random_path(rng):
    uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return rng.choice(ZONE_PREFIXES) + rng.choice([
        "/ai/deployment/%s/scale" % uid, "/ai/deployment/%s" % uid, "/ai/deployment/%s/logs" % uid,
        "/ai/deployment/%s/api-key" % uid, "/ai/model/%s" % uid, "/ai/model", "/ai/deployment",
        "/operation/%s" % uid, "/ai/help/inference-engine-parameters", "/zone"])


def random_scalar(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice([True, False])
    if kind == 1:
        return rng.randint(0, 100000)
    return rng.choice(TEXTS)


def random_body(rng):
    if rng.random() < 0.3:
        return None
    body = {"name": rng.choice(TEXTS)}
    for _unused in range(rng.randrange(4)):
        key = rng.choice(["replicas", "gpu-count", "gpu-type", "model", "inference-engine-parameters", "nested"])
        if key == "model":
            body[key] = {"name": rng.choice(TEXTS)}
        elif key == "inference-engine-parameters":
            body[key] = [rng.choice(TEXTS) for _unused in range(rng.randrange(3))]
        else:
            body[key] = random_scalar(rng)
    return body


def wire(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_agrees_with_official_signer_on_generated_requests():
    rng = random.Random(20260101)
    for case in range(400):
        method = rng.choice(["GET", "POST", "PATCH", "DELETE"])
        path = random_path(rng)
        body = random_body(rng)
        content = json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8") if body is not None else b""
        pairs = [(rng.choice(QUERY_NAMES), wire(random_scalar(rng))) for _unused in range(rng.randrange(4))]
        expires = rng.randint(1600000000, 4000000000)
        url = "https://api-ch-gva-2.exoscale.com" + path + ("?" + urlencode(pairs) if pairs else "")
        ours = authorization_header(KEY, SECRET, method, path, content, pairs, expires=expires)
        assert ours == official(method, url, content, expires), "case %d: %s %s %r %r" % (case, method, url, pairs, body)


BASE_URLS = ["https://api-ch-gva-2.exoscale.com/v2", "https://api-de-fra-1.exoscale.com/v2",
             "http://127.0.0.1:8080/ch-gva-2/v2", "http://localhost:9999/at-vie-1/v2", "http://127.0.0.1:8080/v2"]


def test_client_requests_as_sent_agree_with_official_signer(make_api):
    """End to end: whatever URL (encoded query) and body bytes the client puts on the wire carry an
    Authorization header identical to the official signer's for that exact request."""
    rng = random.Random(424242)
    apis = [make_api(route=lambda request: json_response(200, {"ok": True}), base_url=url) for url in BASE_URLS]
    checked = 0
    for case in range(320):
        client, server, _unused = rng.choice(apis)
        method = rng.choice(["GET", "POST", "PATCH", "DELETE"])
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        path = rng.choice(["/ai/deployment/%s/scale" % uid, "/ai/model/%s" % uid, "/ai/deployment",
                           "/operation/%s" % uid, "/ai/deployment/%s/logs" % uid])
        query = dict((rng.choice(QUERY_NAMES), random_scalar(rng)) for _unused in range(rng.randrange(4)))
        body = random_body(rng) if method != "GET" else None
        assert client.request(method, path, query=query or None, body=body) == {"ok": True}
        sent = server.requests[-1]
        assert sent.url.path == client.base_path + path
        assert sent.headers["authorization"] == official_header(sent), "case %d: %s %s" % (case, method, sent.url)
        if query:
            assert "signed-query-args=" + ";".join(sorted(query)) + "," in sent.headers["authorization"]
        checked += 1
    assert checked == 320


def test_empty_query_value_agrees_with_official_signer(make_api):
    client, server, _unused = make_api(script=[json_response(200, {})])
    client.request("GET", "/ai/deployment", query={"visibility": "", "tail": 5})
    (sent,) = server.requests
    assert sent.headers["authorization"] == official_header(sent)
