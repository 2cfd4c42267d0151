# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The benchmark's statistics, thresholds, SSE reading and load loop (plugins/module_utils/benchmark.py)."""

import json
import statistics
import threading
import time

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils import benchmark
from ansible_collections.inferops.exoscale.plugins.module_utils.benchmark import (
    Sample,
    check_thresholds,
    percentile,
    run_load,
    send_one,
    summarize,
)

FINITE = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_percentile_known_values():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10, 20, 30, 40, 50], 0.95) == pytest.approx(48.0)
    assert percentile([3, 1, 2], 0.0) == 1 and percentile([3, 1, 2], 1.0) == 3


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.lists(FINITE, min_size=2, max_size=60), st.sampled_from([0.5, 0.95, 0.99]))
def test_percentile_matches_statistics_inclusive_quantiles(values, fraction):
    """Python's inclusive quantiles interpolate like numpy's default; ours must agree and stay within the data."""
    cut = {0.5: 50, 0.95: 95, 0.99: 99}[fraction]
    reference = statistics.quantiles(values, n=100, method="inclusive")[cut - 1]
    assert percentile(values, fraction) == pytest.approx(reference, rel=1e-9, abs=1e-9)
    assert min(values) <= percentile(values, fraction) <= max(values)
    assert percentile(values, 0.5) <= percentile(values, 0.95) <= percentile(values, 0.99)


def sample(started=0.0, latency=1.0, ttft=0.1, tokens=10, decode=0.9, error=None):
    result = Sample(started)
    result.latency, result.error = latency, error
    if error is None:
        result.ttft, result.decode, result.chunks = ttft, decode, tokens
    return result


def test_summarize_definitions():
    samples = [sample(ttft=0.1, decode=0.9, tokens=10, latency=1.0),  # ITL 0.1 s -> 10 tokens/s
               sample(ttft=0.3, decode=1.8, tokens=10, latency=2.1),  # ITL 0.2 s -> 5 tokens/s
               sample(error="503"), sample(error="503"), sample(error="timeout")]
    stats = summarize(samples, wall_seconds=4.0)
    assert stats["requests"] == dict(sent=5, succeeded=2, failed=3)
    assert stats["errors"] == {"503": 2, "timeout": 1} and stats["error_rate"] == 0.6
    assert stats["output_tokens"] == 20 and stats["tokens_per_second"]["total"] == 5.0
    assert stats["ttft_ms"] == dict(p50=200.0, p95=290.0, mean=200.0, max=300.0)
    assert stats["inter_token_latency_ms"]["mean"] == 150.0
    assert stats["tokens_per_second"]["per_request_p50"] == 7.5
    assert stats["latency_ms"]["p50"] == 1550.0 and stats["latency_ms"]["p99"] == pytest.approx(2089.0)
    assert stats["requests_per_second"] == 1.25


def test_summarize_without_stream_or_success():
    whole = Sample(0.0)
    whole.latency, whole.tokens = 2.0, 40
    stats = summarize([whole], 2.0)
    assert stats["ttft_ms"]["p50"] is None and stats["inter_token_latency_ms"]["mean"] is None
    assert stats["tokens_per_second"]["per_request_p50"] == 20.0  # its tokens over its latency
    failed = summarize([sample(error="connection")], 1.0)
    assert failed["latency_ms"]["p95"] is None and failed["tokens_per_second"]["total"] == 0.0


def test_thresholds_say_measured_against_wanted():
    stats = summarize([sample(ttft=0.5), sample(ttft=0.7), sample(error="503")], 2.0)
    verdicts, failures = check_thresholds(stats, dict(ttft_p95_ms=600, tokens_per_second_min=5, error_rate_max=0.5,
                                                      latency_p99_ms=None))
    assert verdicts["ttft_p95_ms"] == dict(wanted=600, measured=690.0, passed=False)
    assert verdicts["tokens_per_second_min"]["passed"] is True and verdicts["error_rate_max"]["passed"] is True
    assert "latency_p99_ms" not in verdicts
    assert failures == ["ttft_p95_ms: measured 690.0, wanted at most 600"]
    dummy, failures = check_thresholds(summarize([sample(error="503")], 1.0), dict(latency_p50_ms=100))
    assert failures == ["latency_p50_ms: measured nothing (no successful request), wanted at most 100"]


def test_every_threshold_names_a_returned_figure():
    stats = summarize([sample()], 1.0)
    for name, (path, direction, needs_stream) in benchmark.THRESHOLDS.items():
        value = stats
        for key in path:
            value = value[key]
        assert isinstance(value, float), name
        assert direction in ("min", "max") and name.endswith("_min") == (direction == "min"), name
    assert benchmark.threshold_problems(dict(ttft_p95_ms=1, error_rate_max=0.1), stream=False) == [
        "thresholds.ttft_p95_ms needs stream=true (time to first token and inter-token latency are measured on the"
        " stream)."]
    assert benchmark.threshold_problems(dict(ttft_p95_ms=1), stream=True) == []


def sse(*chunks):
    return "".join("data: %s\n\n" % (c if isinstance(c, str) else json.dumps(c)) for c in chunks).encode()


class Ticks:
    """A clock that moves 1 s at each reading."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def client_answering(status=200, content=b"", content_type="text/event-stream"):
    def handler(request):
        assert json.loads(request.content)["stream"] is True
        return httpx.Response(status, content=content, headers={"content-type": content_type})
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_send_one_times_a_vllm_stream():
    role = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    stream = sse(role, *[{"choices": [{"delta": {"content": " w%d" % i}}]} for i in range(3)],
                 {"choices": [], "usage": {"completion_tokens": 3}}, "[DONE]")
    body = benchmark.chat_body("m", "hi", 3, True, 0.0)
    assert body["stream_options"] == {"include_usage": True}
    result = send_one(client_answering(content=stream), "http://sim/v1/chat/completions", {}, body, clock=Ticks())
    # clock: 1 start, then one reading per text chunk (2, 3, 4), then the end (5)
    assert (result.error, result.ttft, result.decode, result.chunks, result.tokens) == (None, 1.0, 2.0, 3, 3)
    assert result.latency == 4.0 and result.inter_token_latency == 1.0


def test_send_one_counts_errors_and_whole_answers():
    body = benchmark.chat_body("m", "hi", 3, True, 0.0)
    failed = send_one(client_answering(503, b'{"error": {}}', "application/json"), "http://sim/x", {}, body)
    assert failed.error == "503"
    whole = send_one(client_answering(content=json.dumps({"usage": {"completion_tokens": 7}}).encode(),
                                      content_type="application/json"), "http://sim/x", {}, body)
    assert whole.error is None and whole.tokens == 7 and whole.ttft is None

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)
    gone = send_one(httpx.Client(transport=httpx.MockTransport(refuse)), "http://sim/x", {}, body)
    assert gone.error == "connection"


def test_run_load_is_bounded_by_requests_and_concurrency():
    lock = threading.Lock()
    state = dict(active=0, most=0)

    def send(index):
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        time.sleep(0.01)
        with lock:
            state["active"] -= 1
        return sample(latency=0.01)

    samples, wall = run_load(send, concurrency=3, requests=10, duration=60)
    assert len(samples) == 10 and state["most"] == 3 and wall < 5


def test_run_load_stops_starting_requests_after_the_duration():
    samples, wall = run_load(lambda index: (time.sleep(0.05), sample())[1], concurrency=2, requests=10000,
                             duration=0.3)
    assert 4 <= len(samples) <= 16 and wall < 2
