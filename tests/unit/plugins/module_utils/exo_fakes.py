# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Test doubles shared by the module_utils unit tests: a fake API server (httpx.MockTransport),
a fake monotonic clock, a recording jitter source and the official signer as an oracle."""

import json

import httpx
import requests
from requests.structures import CaseInsensitiveDict

from exoscale_auth import ExoscaleV2Auth

KEY = "EXOtestkey0000000000000000"
SECRET = "test-secret-not-for-real-use-0123456789abc"
BASE_URL = "https://api-ch-gva-2.exoscale.com/v2"


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called; records every sleep."""

    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0, "negative sleep %r" % seconds
        self.sleeps.append(seconds)
        self.now += seconds


def json_response(status=200, body=None, headers=None):
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, content=json.dumps(body).encode("utf-8"),
                          headers=dict({"Content-Type": "application/json"}, **(headers or {})))


def fresh(response):
    """A new, unread copy of ``response`` whose body is a stream, as a real transport returns it
    (a Response built with ``content=`` is already read, so httpx never sets its ``elapsed``);
    also lets a test list the same Response object several times."""
    return httpx.Response(response.status_code, headers=response.headers,
                          stream=httpx.ByteStream(response.content))


class FakeServer:
    """Answers requests in order from a script, or through a routing function.

    Script items: an ``httpx.Response``, an exception class/instance from httpx (raised as a
    transport error), or a callable ``request -> Response``. Running out of script fails the test.
    """

    def __init__(self, script=None, route=None):
        self.script = list(script or [])
        self.route = route
        self.requests = []

    def __call__(self, request):
        request.read()
        self.requests.append(request)
        if self.route is not None:
            item = self.route(request)
        else:
            assert self.script, "unexpected extra request: %s %s" % (request.method, request.url)
            item = self.script.pop(0)
        if isinstance(item, type) and issubclass(item, Exception):
            raise item("simulated %s" % item.__name__, request=request)
        if isinstance(item, Exception):
            raise item
        if callable(item) and not isinstance(item, httpx.Response):
            item = item(request)
        return fresh(item)

    @property
    def methods(self):
        return [r.method for r in self.requests]

    @property
    def paths(self):
        return [r.url.path for r in self.requests]


def official_header(request, key=KEY, secret=SECRET):
    """Authorization header the official signer computes for this httpx request, as sent."""
    fields = dict(part.split("=", 1) for part in request.headers["authorization"].split(" ", 1)[1].split(","))
    prepared = requests.PreparedRequest()
    prepared.method = request.method
    prepared.url = str(request.url)
    prepared.body = request.content or None
    prepared.headers = CaseInsensitiveDict()
    ExoscaleV2Auth(key, secret)._sign_request(prepared, int(fields["expires"]))
    return prepared.headers["Authorization"]


class RecordingRand:
    """Stands in for random.uniform: records its bounds and returns a fixed fraction of the range."""

    def __init__(self, fraction=1.0):
        self.fraction = fraction
        self.calls = []

    def __call__(self, low, high):
        self.calls.append((low, high))
        return low + (high - low) * self.fraction
