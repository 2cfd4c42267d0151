"""Signature checks: the official vectors, and every way a request can be refused with 403."""
import time

import pytest

from exoscale_ai_simulator import auth

VECTOR_KEY = "EXOxxxxxxxxxxxxxxxxxxxxxxxx"
VECTOR_SECRET = "X" * 43
VECTOR_EXPIRES = 3376684800


@pytest.mark.parametrize("method, path, query, body, expected", [
    ("GET", "/v2/zone", "", b"", "Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY="),
    ("GET", "/v2/zone", "k1=v1&k2=v2", b"", "iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY="),
    ("POST", "/v2/load-balancer", "", b'{"name": "foo"}', "duldkM0+pgWRtUznj0rMrZauzsYOtSVLn1LCGcs7CcE="),
])
def test_official_vectors(method, path, query, body, expected):
    message = auth.string_to_sign(method, path, body, query, VECTOR_EXPIRES)
    assert auth.signature(VECTOR_SECRET, message) == expected
    header = auth.authorization_header(VECTOR_KEY, VECTOR_SECRET, method, path, body, query, VECTOR_EXPIRES)
    assert header.endswith(f"expires={VECTOR_EXPIRES},signature={expected}")
    if query:
        assert ",signed-query-args=k1;k2," in header
    assert auth.verify(header, method, path, body, query, {VECTOR_KEY: VECTOR_SECRET}, now=VECTOR_EXPIRES - 1) == VECTOR_KEY


def test_vector_signed_by_the_official_signer_is_accepted():
    import requests  # pylint: disable=import-outside-toplevel
    from exoscale_auth import ExoscaleV2Auth  # pylint: disable=import-outside-toplevel
    request = requests.Request("GET", "https://api-ch-gva-2.exoscale.com/v2/zone?k1=v1&k2=v2").prepare()
    ExoscaleV2Auth(VECTOR_KEY, VECTOR_SECRET)._sign_request(request, VECTOR_EXPIRES)  # pylint: disable=protected-access
    assert auth.verify(request.headers["Authorization"], "GET", "/v2/zone", b"", "k1=v1&k2=v2", {VECTOR_KEY: VECTOR_SECRET}, 0)


def _status_and_detail(response):
    return response.status_code, response.json()["detail"]


def test_valid_signature_with_query_and_zone_prefix(api):
    assert api.get("/ai/deployment", query="visibility=private").status_code == 200
    assert api.get("/ai/model", zone="de-fra-1").status_code == 200


def test_missing_header_is_403(server, api):
    response = api.http.get("/v2/ai/model")
    assert _status_and_detail(response)[0] == 403
    assert "missing Authorization" in response.json()["detail"]


@pytest.mark.parametrize("header, words", [
    ("Bearer abc", "unsupported authorization scheme"),
    ("EXO2-HMAC-SHA256 credential=x", "missing expires"),
    ("EXO2-HMAC-SHA256 garbage", "malformed"),
    ("EXO2-HMAC-SHA256 credential=k,expires=soon,signature=abc", "UNIX timestamp"),
])
def test_malformed_headers_are_403(api, header, words):
    response = api.http.get("/v2/ai/model", headers={"Authorization": header})
    status, detail = _status_and_detail(response)
    assert status == 403 and words in detail


def test_unknown_key_wrong_secret_expired_and_query_mismatch_are_403(api):
    assert "unknown API key" in api.get("/ai/model", key="EXOnobody").json()["detail"]
    assert api.get("/ai/model", secret="wrong").json()["detail"] == "Invalid request signature"
    expired = api.get("/ai/model", expires=int(time.time()) - 5)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    header = auth.authorization_header(api.key, api.secret, "GET", "/v2/ai/deployment", b"", "", int(time.time()) + 60)
    mismatch = api.http.get("/v2/ai/deployment?visibility=public", headers={"Authorization": header})
    assert mismatch.status_code == 403 and "signed-query-args" in mismatch.json()["detail"]


def test_signature_covers_zone_prefix_and_body(api):
    expires = int(time.time()) + 60
    header = auth.authorization_header(api.key, api.secret, "GET", "/v2/ai/model", b"", "", expires)
    assert api.http.get("/de-fra-1/v2/ai/model", headers={"Authorization": header}).status_code == 403
    body = b'{"name": "Qwen/Qwen2.5-0.5B-Instruct"}'
    header = auth.authorization_header(api.key, api.secret, "POST", "/v2/ai/model", body, "", expires)
    tampered = api.http.post("/v2/ai/model", content=body.replace(b"0.5B", b"7B"), headers={"Authorization": header})
    assert tampered.status_code == 403


def test_clock_skew_makes_fresh_signatures_expire(server, api):
    server.store.config["clock_skew"] = 3600
    response = api.get("/ai/model")
    assert response.status_code == 403 and "expired" in response.json()["detail"]


def test_several_key_pairs_share_one_organisation():
    from exoscale_ai_simulator.server import start_in_thread  # pylint: disable=import-outside-toplevel
    from tests.simulator.tests.conftest import SignedClient  # pylint: disable=import-outside-toplevel
    handle = start_in_thread(speed=1000, credentials={"EXOone": "s1", "EXOtwo": "s2"})
    try:
        one = SignedClient(handle.base, "EXOone", "s1")
        two = SignedClient(handle.base, "EXOtwo", "s2")
        operation = one.ok("POST", "/ai/model", {"name": "Qwen/Qwen2.5-0.5B-Instruct"})
        assert [m["id"] for m in two.ok("GET", "/ai/model")["models"]] == [operation["reference"]["id"]]
        assert one.get("/ai/model", secret="s2").status_code == 403
    finally:
        one.http.close()
        two.http.close()
        handle.stop()
