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
    Run,
    Sample,
    check_thresholds,
    percentile,
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
    result.latency, result.error, result.finished = latency, error, True
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
    assert stats["ttft_ms"] == dict(p50=200.0, p95=290.0, p99=298.0, mean=200.0, median=200.0, std=100.0, max=300.0)
    assert stats["tpot_ms"]["mean"] == pytest.approx(((1.0 - 0.1) / 9 + (2.1 - 0.3) / 9) / 2 * 1000, abs=0.01)
    assert stats["inter_token_latency_ms"]["mean"] == 150.0
    assert stats["tokens_per_second"]["per_request_p50"] == 7.5
    assert stats["latency_ms"]["p50"] == 1550.0 and stats["latency_ms"]["p99"] == pytest.approx(2089.0)
    assert stats["requests_per_second"] == 1.25


def test_summarize_without_stream_or_success():
    whole = Sample(0.0)
    whole.latency, whole.tokens, whole.finished = 2.0, 40, True
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
    stats = summarize([sample()], 1.0, slo=dict(ttft_ms=1000))
    for name, (path, direction, needs_stream) in benchmark.THRESHOLDS.items():
        value = stats
        for key in path:
            value = value[key]
        assert isinstance(value, float), name
        assert direction in ("min", "max") and ("_min" in name) == (direction == "min"), name
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
    assert (result.error, result.chunks, result.tokens, len(result.gaps)) == (None, 3, 3, 2)
    assert result.decode == sum(result.gaps) and 0 < result.ttft < result.latency
    assert result.inter_token_latency == result.decode / 2 and result.finished


def test_send_one_counts_errors_and_whole_answers():
    body = benchmark.chat_body("m", "hi", 3, True, 0.0)
    failed = send_one(client_answering(503, b'{"error": {}}', "application/json"), "http://sim/x", {}, body)
    assert failed.error == "503"
    answer = {"choices": [{"message": {"content": "seven words"}}], "usage": {"completion_tokens": 7}}
    whole = send_one(client_answering(content=json.dumps(answer).encode(),
                                      content_type="application/json"), "http://sim/x", {}, body)
    assert whole.error is None and whole.tokens == 7 and whole.ttft is None

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)
    gone = send_one(httpx.Client(transport=httpx.MockTransport(refuse)), "http://sim/x", {}, body)
    assert gone.error == "connection"


def closed(send, concurrency, requests, duration, deadline=60):
    run = Run(lambda index, sample, dl: send(index, sample), name="unit")
    samples = run.closed_loop(concurrency, requests, duration, time.monotonic() + deadline)
    return samples, run.finish()


def finish(sample, pause=0.0):
    time.sleep(pause)
    sample.latency, sample.finished = pause, True
    return sample


def test_closed_loop_is_bounded_by_requests_and_concurrency():
    lock = threading.Lock()
    state = dict(active=0, most=0)

    def send(index, sample):
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        finish(sample, 0.01)
        with lock:
            state["active"] -= 1

    samples, wall = closed(send, concurrency=3, requests=10, duration=60)
    assert len(samples) == 10 and state["most"] == 3 and wall < 5


def test_closed_loop_stops_starting_requests_after_the_duration():
    samples, wall = closed(lambda index, sample: finish(sample, 0.05), concurrency=2, requests=10000, duration=0.3)
    assert 4 <= len(samples) <= 16 and wall < 2


# ----- answers that are not what a vLLM endpoint sends are each an error, never a crash -----

DONE = "data: [DONE]\n\n"
CHUNK = 'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n'


@pytest.mark.parametrize("content, content_type, error", [
    ("data: 123\n\n" + DONE, "text/event-stream", "invalid chunk"),
    ("data: []\n\n" + DONE, "text/event-stream", "invalid chunk"),
    ('data: {"choices": 5}\n\n' + DONE, "text/event-stream", "invalid chunk"),
    ('data: {"choices": [7]}\n\n' + DONE, "text/event-stream", "invalid chunk"),
    ("data: {}\n\n" + DONE, "text/event-stream", "no tokens"),
    (DONE, "text/event-stream", "no tokens"),
    (CHUNK, "text/event-stream", "incomplete stream"),
    (": keep-alive\n\n", "text/event-stream", "incomplete stream"),
    ("data: not json\n\n" + DONE, "text/event-stream", "invalid chunk"),
    ("<html><body>Gateway</body></html>", "text/html", "invalid answer"),
    ("[]", "application/json", "invalid answer"),
    ("{}", "application/json", "no tokens"),
    ('{"choices": [{"message": {"content": ""}}]}', "application/json", "no tokens"),
    ("", "application/json", "invalid answer"),
    (CHUNK + DONE, "text/event-stream", None),
])
def test_garbage_answers_are_errors(content, content_type, error):
    body = benchmark.chat_body("m", "hi", 3, True, 0.0)
    result = send_one(client_answering(content=content.encode(), content_type=content_type), "http://sim/x", {}, body)
    assert result.error == error and result.finished


def test_an_exception_inside_a_request_is_its_error():
    def explode(request):
        raise RuntimeError("boom")
    result = send_one(httpx.Client(transport=httpx.MockTransport(explode)), "http://sim/x", {}, {})
    assert result.error == "exception" and "boom" in result.detail and result.finished


@settings(derandomize=True, deadline=None, max_examples=60)
@given(st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20).map(lambda b: b.decode("latin-1"))),
                max_size=6), st.sampled_from(["text/event-stream", "application/json", "text/html"]))
def test_no_answer_crashes_a_request(lines, content_type):
    body = benchmark.chat_body("m", "hi", 3, True, 0.0)
    content = "".join("data: %s\n\n" % line for line in lines).encode("utf-8", "replace")
    result = send_one(client_answering(content=content, content_type=content_type), "http://sim/x", {}, body)
    assert result.finished and (result.error is not None or result.chunks > 0)


# ----- arrival process, goodput, knee -----

@pytest.mark.parametrize("arrival, burstiness, cv_range", [
    ("poisson", 1.0, (0.9, 1.1)), ("gamma", 0.25, (1.8, 2.2)), ("gamma", 4.0, (0.45, 0.55)), ("constant", 1.0, (0, 1e-9))])
def test_arrival_gaps_have_the_mean_and_spread_of_their_distribution(arrival, burstiness, cv_range):
    """Gamma gaps of shape k have a coefficient of variation of 1/sqrt(k): 1 for Poisson (vLLM's burstiness)."""
    rate, count = 20.0, 4000
    offsets = benchmark.arrival_offsets(rate, count, arrival, burstiness, benchmark.random.Random(7))
    gaps = [b - a for a, b in zip([0.0] + offsets, offsets)]
    mean = sum(gaps) / len(gaps)
    cv = statistics.pstdev(gaps) / mean
    assert mean == pytest.approx(1 / rate, rel=1e-9) and offsets[-1] == pytest.approx(count / rate)
    assert cv_range[0] <= cv <= cv_range[1], cv
    again = benchmark.arrival_offsets(rate, count, arrival, burstiness, benchmark.random.Random(7))
    assert again == offsets, "the seed makes the schedule repeatable"


def test_goodput_counts_requests_meeting_every_slo():
    fast = sample(ttft=0.1, decode=0.9, tokens=10, latency=1.0)
    slow_start = sample(ttft=0.6, decode=0.9, tokens=10, latency=1.5)
    slow_end = sample(ttft=0.1, decode=2.9, tokens=10, latency=3.0)
    stats = summarize([fast, slow_start, slow_end, sample(error="503")], 2.0, slo=dict(ttft_ms=500, e2el_ms=2000))
    assert stats["goodput"] == dict(slo=dict(ttft_ms=500, e2el_ms=2000), requests=1, percent=25.0,
                                    requests_per_second=0.5)
    assert summarize([fast], 1.0, slo=dict(tpot_ms=99))["goodput"]["requests"] == 0  # TPOT 0.1 s


def stage(rate, completed, failed=0, goodput=None):
    result = dict(rate=dict(requested=rate), completion_rate=completed,
                  requests=dict(sent=100, succeeded=100 - failed, failed=failed))
    if goodput is not None:
        result["goodput"] = dict(percent=goodput)
    return result


def test_knee_is_the_last_rate_that_held():
    stages = [stage(2, 2.0), stage(4, 3.9), stage(6, 5.8), stage(8, 6.1), stage(10, 6.0)]
    assert benchmark.knee(stages) == dict(rate=6, completed_per_second=5.8, goodput_percent=None,
                                          limited_by="8 req/s: completed only 6.1 req/s")
    with_slo = [stage(2, 2.0, goodput=99), stage(4, 4.0, goodput=96), stage(6, 6.0, goodput=80)]
    assert benchmark.knee(with_slo, 95)["rate"] == 4 and "goodput 80" in benchmark.knee(with_slo, 95)["limited_by"]
    assert benchmark.knee([stage(2, 2.0, failed=10)])["rate"] is None


@pytest.mark.parametrize("params, message", [
    (dict(timeout=float("nan")), "timeout (seconds) must be a number more than 0 and at most 600, got nan"),
    (dict(timeout=1e12), "timeout (seconds) must be a number more than 0 and at most 600, got 1e+12"),
    (dict(timeout=float("inf")), "timeout (seconds) must be a number more than 0 and at most 600, got inf"),
    (dict(rate=1e9), "rate (requests per second) must be a number more than 0 and at most 500"),
    (dict(duration=float("nan")), "duration (seconds) must be a number more than 0 and at most 900, got nan"),
    (dict(temperature=float("nan")), "temperature must be a number at least 0 and at most 2, got nan"),
    (dict(rate=2, sweep=dict(rates=[1])), "Give only one of rate, stages and sweep"),
    (dict(burstiness=0.5), "burstiness needs arrival=gamma"),
    (dict(stages=[dict(rate=1, duration=None)]), "stages[0] needs rate and duration"),
    (dict(sweep=dict(min_rate=5, max_rate=2)), "sweep.min_rate (5) must be below sweep.max_rate (2)"),
    (dict(input_tokens=dict(min=9, max=3)), "input_tokens must be 1 to 32768 tokens with min <= max"),
    (dict(percentiles=[150]), "percentiles must be numbers between 0 and 100"),
    (dict(thresholds=dict(goodput_min_percent=90)), "thresholds.goodput_min_percent needs goodput"),
    (dict(stream=False, goodput=dict(ttft_ms=100)), "goodput.ttft_ms/tpot_ms needs stream=true"),
])
def test_input_problems_name_the_option_and_the_allowed_range(params, message):
    full = dict(concurrency=None, requests=None, duration=None, timeout=60.0, rate=None, arrival="poisson",
                burstiness=None, temperature=0.0, max_tokens=64, warmup_requests=0, stages=None, sweep=None,
                prompts=["hi"], input_tokens=None, output_tokens=None, percentiles=[50, 95, 99], goodput=None,
                thresholds=None, stream=True, url=None)
    full.update(params)
    problems = " ".join(benchmark.input_problems(full))
    assert message in problems, problems


def test_a_request_still_running_after_the_deadline_is_unfinished_and_counted():
    """A send that ignores its deadline (a stuck thread) leaves its sample unfinished; the run still returns."""
    def stuck(index, sample):
        time.sleep(5)

    started = time.monotonic()
    samples, wall = closed(stuck, concurrency=1, requests=1, duration=0.1, deadline=0.2)
    stats = summarize(samples, wall)
    assert time.monotonic() - started < 3, "the run waits for the deadline plus one second, not for the thread"
    assert stats["unfinished"] == 1 and stats["errors"] == {"unfinished": 1} and stats["requests"]["failed"] == 1


def test_completion_rate_is_the_slope_of_the_completions():
    def done(end):
        finished = sample(latency=1.0)
        finished.started = end - 1.0
        return finished
    steady = [done(1 + i / 5.0) for i in range(20)]
    assert benchmark.completion_rate(steady) == pytest.approx(5.0)
    late = steady[:-1] + [done(1 + 19 / 5.0 + 0.5)]  # one answer half a second late
    assert benchmark.completion_rate(late) == pytest.approx(5.0, rel=0.1)
    assert (len(late) - 1) / (late[-1].end - late[0].end) < 4.5, "the naive estimate moves more"
    assert benchmark.completion_rate(steady[:1]) is None


NUMBERS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 6, 10 ** 13))


@settings(derandomize=True, deadline=None, max_examples=300)
@given(timeout=NUMBERS, duration=NUMBERS, rate=NUMBERS, burstiness=NUMBERS, temperature=NUMBERS,
       rates=st.lists(NUMBERS.filter(lambda v: v is not None), max_size=3))
def test_input_checks_refuse_any_number_out_of_range_and_never_raise(
        timeout, duration, rate, burstiness, temperature, rates):
    import math as _math
    params = dict(concurrency=None, requests=None, duration=duration, timeout=timeout, rate=rate, arrival="gamma",
                  burstiness=burstiness, temperature=temperature, max_tokens=64, warmup_requests=0, stages=None,
                  sweep=dict(rates=rates) if rates and rate is None else None, prompts=["hi"], input_tokens=None,
                  output_tokens=None, percentiles=[50], goodput=None, thresholds=None, stream=True, url=None)
    problems = " ".join(benchmark.input_problems(params))
    bounds = dict(timeout=(timeout, benchmark.MAX_TIMEOUT), duration=(duration, benchmark.MAX_DURATION),
                  rate=(rate, benchmark.MAX_RATE))
    for name, (value, high) in bounds.items():
        bad = value is not None and not (_math.isfinite(value) and 0 < value <= high)
        assert (name + " (") in problems if bad else (name + " (") not in problems, (name, value, problems)
    if rates and rate is None and not all(_math.isfinite(r) and 0 < r <= benchmark.MAX_RATE for r in rates):
        assert "sweep.rates[" in problems
