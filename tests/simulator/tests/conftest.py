"""Fixtures of the simulator's own tests: an in-process simulator and a signing client that checks every answer against the spec."""
import json
import os
import re
import time

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from exoscale_ai_simulator import auth
from exoscale_ai_simulator.server import start_in_thread
from exoscale_ai_simulator.validation import load_spec

SPEC = load_spec()
FAST = 1000.0  # speed for tests that only need things to become ready


def _templates():
    compiled = []
    for template, operations in SPEC["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[a-z]+\\\}", "[^/]+", re.escape(template)) + "$")
        compiled.extend((method.upper(), pattern, operation) for method, operation in operations.items())
    return compiled


TEMPLATES = _templates()


def check_against_spec(method, api_path, status, body):
    """Validate a response body with openapi-schema-validator against the spec's schema for that operation and status."""
    for route_method, pattern, operation in TEMPLATES:
        if route_method == method and pattern.match(api_path):
            response = operation["responses"].get(str(status))
            if response is None:
                assert status >= 400, f"{method} {api_path}: status {status} is not in the spec"
                schema = {"$ref": "#/components/schemas/error-response"}
            else:
                schema = response["content"]["application/json"]["schema"]
            OAS30Validator({**schema, "components": SPEC["components"]}).validate(body)
            return
    raise AssertionError(f"{method} {api_path} is not an operation of the spec")


class SignedClient:
    """Signs requests like the official tools and checks each API answer against the spec."""

    def __init__(self, base, key, secret):
        self.base = base
        self.key = key
        self.secret = secret
        self.http = httpx.Client(base_url=base, trust_env=False, timeout=10)

    def request(self, method, path, body=None, query="", zone=None, expires=None, key=None, secret=None, raw=None, check=True):
        full_path = (f"/{zone}" if zone else "") + "/v2" + path
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        expires = expires or int(time.time()) + 600
        header = auth.authorization_header(key or self.key, secret or self.secret, method, full_path, data, query, expires)
        response = self.http.request(method, full_path + (f"?{query}" if query else ""), content=data,
                                     headers={"Authorization": header, "Content-Type": "application/json"})
        if check:
            check_against_spec(method, path, response.status_code, response.json())
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body=body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self.request("PATCH", path, body=body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def ok(self, method, path, body=None, **kwargs):
        response = self.request(method, path, body=body, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_operation(self, operation, zone=None, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            current = self.ok("GET", f"/operation/{operation['id']}", zone=zone)
            if current["state"] != "pending" or time.monotonic() > deadline:
                return current
            time.sleep(0.005)

    def wait_state(self, kind, resource_id, states, zone=None, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            current = self.ok("GET", f"/ai/{kind}/{resource_id}", zone=zone)
            if current["state"] in states or time.monotonic() > deadline:
                return current
            time.sleep(0.005)

    def ready_model(self, name="Qwen/Qwen2.5-0.5B-Instruct", zone=None):
        operation = self.ok("POST", "/ai/model", {"name": name}, zone=zone)
        assert self.wait_operation(operation, zone=zone)["state"] == "success"
        model = self.wait_state("model", operation["reference"]["id"], ("ready", "error"), zone=zone)
        assert model["state"] == "ready", model
        return model

    def ready_deployment(self, model, zone=None, **fields):
        body = {"name": "dep", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1, **fields}
        operation = self.ok("POST", "/ai/deployment", body, zone=zone)
        self.wait_operation(operation, zone=zone)
        return self.wait_state("deployment", operation["reference"]["id"], ("ready", "error"), zone=zone)


@pytest.fixture(autouse=True, scope="session")
def _no_proxy():
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name, ""), "127.0.0.1", "localhost"]))


@pytest.fixture
def server():
    handle = start_in_thread(speed=FAST)
    yield handle
    handle.stop()


@pytest.fixture
def api(server):  # pylint: disable=redefined-outer-name
    client = SignedClient(server.base, server.key, server.secret)
    yield client
    client.http.close()
