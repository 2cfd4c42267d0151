# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures shared by the module_utils unit tests."""

import httpx
import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils.client import ExoscaleClient, RetryPolicy
from tests.unit.plugins.module_utils.exo_fakes import BASE_URL, KEY, SECRET, FakeClock, FakeServer, RecordingRand


@pytest.fixture
def make_api():
    """``make_api(script_or_route, base_url=..., attempts=..., ...) -> (client, server, sleeps)``."""
    clients = []

    def factory(script=None, route=None, base_url=BASE_URL, sleep=None, retry=None, **retry_kwargs):
        sleeps = []
        if retry is None:
            retry_kwargs.setdefault("rand", RecordingRand())
            retry = RetryPolicy(**retry_kwargs)
        # validate_certs=False only keeps construction cheap (no CA bundle load): the transport is replaced.
        client = ExoscaleClient(KEY, SECRET, base_url, retry=retry, sleep=sleep or sleeps.append,
                                validate_certs=False)
        server = FakeServer(script, route)
        headers = client.http.headers
        client.http.close()
        client.http = httpx.Client(transport=httpx.MockTransport(server), headers=headers)
        clients.append(client)
        return client, server, sleeps

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def clock():
    return FakeClock()
