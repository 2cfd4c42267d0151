"""HTTP-level conformance (issue 12 item 6), probed by hand: unknown methods, broken framing, chunked bodies, error media
types, empty query names and boolean query parameters. Each test failed on the simulator before these fixes."""
import json
import socket
import time

import pytest
import requests
from exoscale.api import v2
from exoscale_auth import ExoscaleV2Auth
from openapi_schema_validator import OAS30Validator

from exoscale_ai_simulator import auth
from tests.simulator.tests.conftest import SPEC, check_against_spec
from exoscale_ai_simulator.server import BODY_READ_TIMEOUT

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def _raw(server, data, timeout=BODY_READ_TIMEOUT + 5):
    """Send raw bytes, read until the server closes or answers completely; returns (status, headers, body, seconds)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.server.server_address[1]), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            piece = sock.recv(65536)
            assert piece, f"connection closed without an answer: {received!r}"
            received += piece
        head, _unused, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _sep, value in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            piece = sock.recv(65536)
            if not piece:
                break
            body += piece
    return int(lines[0].split()[1]), headers, body, time.monotonic() - started


def _signed_request(server, method, path, body=b"", extra_headers=""):
    header = auth.authorization_header(server.key, server.secret, method, path, body, "", int(time.time()) + 600)
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {header}\r\n"
            f"Content-Type: application/json\r\n{extra_headers}\r\n").encode() + body


def _problem(status, headers, body):
    assert headers["content-type"] == "application/json", headers
    problem = json.loads(body)
    OAS30Validator({"$ref": "#/components/schemas/error-response", "components": SPEC["components"]}).validate(problem)
    assert problem["status"] == status
    return problem


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "BREW", "CONNECT"])
def test_unknown_methods_answer_405_with_a_problem_body(server, api, method):
    status, headers, body, _seconds = _raw(server, _signed_request(server, method, "/v2/ai/model"))
    assert status == 405 and headers["allow"] == "GET, POST"
    assert method in _problem(405, headers, body)["detail"]
    status, headers, body, _seconds = _raw(server, f"{method} /_sim/faults HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405 and headers["allow"] == "GET, POST, DELETE"
    _problem(405, headers, body)
    deployment_path = "/inference/ch-gva-2/00000000-0000-4000-8000-000000000000/v1/models"
    status, headers, body, _seconds = _raw(server, f"{method} {deployment_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405 and headers["allow"] == "GET, POST" and set(json.loads(body)["error"]) == {"message", "type", "code"}
    assert api.get("/ai/model").status_code == 200


def test_http_server_errors_are_json_problems(server):
    status, headers, body, _seconds = _raw(server, b"GET /v2/ai/model HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
    assert status == 431
    _problem(431, headers, body)


@pytest.mark.parametrize("lengths, status, detail", [
    (["-1"], 400, "invalid Content-Length '-1'"), (["abc"], 400, "invalid Content-Length"), (["1e3"], 400, "invalid Content-Length"),
    (["+13"], 400, "invalid Content-Length"), (["13, 14"], 400, "invalid Content-Length"), (["13", "14"], 400, "conflicting"),
    (["100"], 400, "shorter than announced: 13 of 100 bytes"), (["99999999999"], 413, "larger than the limit"),
])
def test_invalid_content_length_is_refused_quickly(server, api, lengths, status, detail):
    request = _signed_request(server, "POST", "/v2/ai/model", b"", "".join(f"Content-Length: {v}\r\n" for v in lengths))
    answer, headers, body, seconds = _raw(server, request + b'{"name": "x"}')
    assert answer == status and seconds < BODY_READ_TIMEOUT + 2
    assert detail in _problem(status, headers, body)["detail"]
    assert headers["connection"] == "close"
    assert api.ok("GET", "/ai/model") == {"models": []}  # no thread hangs, nothing was created


def _chunks(data, size=7):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_chunked_request_body_is_read_and_signature_verified(server, api):
    body = json.dumps({"name": QWEN}).encode()
    header = auth.authorization_header(server.key, server.secret, "POST", "/v2/ai/model", body, "", int(time.time()) + 600)
    response = api.http.post("/v2/ai/model", content=_chunks(body), headers={"Authorization": header, "Content-Type": "application/json"})
    assert response.request.headers["transfer-encoding"] == "chunked" and "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    check_against_spec("POST", "/ai/model", 200, response.json())
    tampered = api.http.post("/v2/ai/model", content=_chunks(json.dumps({"name": "openai/gpt-oss-20b"}).encode()),
                             headers={"Authorization": header, "Content-Type": "application/json"})
    assert tampered.status_code == 403 and "signature" in tampered.json()["detail"]
    assert [m["name"] for m in api.ok("GET", "/ai/model")["models"]] == [QWEN]


def test_malformed_chunked_body_is_400(server):
    request = _signed_request(server, "POST", "/v2/ai/model", b"", "Transfer-Encoding: chunked\r\n") + b"zz\r\n{}\r\n0\r\n\r\n"
    status, headers, body, seconds = _raw(server, request)
    assert status == 400 and seconds < BODY_READ_TIMEOUT + 2
    assert "chunk" in _problem(400, headers, body)["detail"]


def test_every_error_response_has_the_media_type_the_spec_declares(server, api):
    server.store.config["timings"]["deployment_scaling"] = 1000.0  # 1 s at FAST, for the 409
    declared = {media for operations in SPEC["paths"].values() for operation in operations.values()
                for status, response in operation["responses"].items() if status >= "400" for media in response.get("content", {})}
    assert declared == {"application/json"}
    model = api.ready_model()
    deployment = api.ready_deployment(model)
    answers = [
        api.post("/ai/deployment", {"name": "x"}),                                    # 400
        api.get("/ai/model", key="EXOunknown"),                                        # 403
        api.get("/ai/model/00000000-0000-4000-8000-000000000000"),                     # 404
        api.request("PUT", "/ai/model", check=False),                                   # 405
        api.delete(f"/ai/model/{model['id']}"),                                         # 412 (its own body)
        api.post(f"/ai/deployment/{deployment['id']}/scale", {"replicas": 20}),         # 412 (16 free)
    ]
    api.ok("POST", f"/ai/deployment/{deployment['id']}/scale", {"replicas": 2})
    answers.append(api.post(f"/ai/deployment/{deployment['id']}/scale", {"replicas": 1}))  # 409 while scaling
    assert [answer.status_code for answer in answers] == [400, 403, 404, 405, 412, 412, 409]
    assert {answer.headers["content-type"] for answer in answers} == {"application/json"}


def test_empty_query_parameter_name_is_signed_like_the_official_signer(server, api):
    session = requests.Session()
    session.trust_env = False
    session.auth = ExoscaleV2Auth(server.key, server.secret)
    for query in ("=x", "=x&visibility=private", "visibility=private&=", "&&visibility=public"):
        response = session.get(f"{server.url}/ai/deployment?{query}", timeout=10)
        assert response.status_code == 200, (query, response.text)
        check_against_spec("GET", "/ai/deployment", 200, response.json())
    assert api.get("/ai/model", query="=x").status_code == 200


def test_boolean_and_integer_query_parameters_are_validated(server, api):
    deployment = api.ready_deployment(api.ready_model())
    official = v2.Client(server.key, server.secret, url=server.url)  # sends Python booleans as they print: "False"
    assert official.get_deployment_logs(id=deployment["id"], stream=False, tail=1)["logs"]
    path = f"/ai/deployment/{deployment['id']}/logs"
    for value in ("false", "true", "True", "FALSE"):
        assert api.get(path, query=f"stream={value}", check=False).status_code == 200
    for query, field in (("stream=yes", "stream"), ("stream=1", "stream"), ("tail=abc", "tail"),
                         ("tail=99999999999999999999", "tail")):
        refused = api.get(path, query=query)
        assert refused.status_code == 400 and refused.json()["detail"].startswith(f"{field}: must be"), query
