# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A bounded load against an OpenAI-compatible endpoint, its statistics and the thresholds they are held to.

Definitions (those of vLLM's serving benchmark): time to first token (TTFT) is from sending the request
to the first chunk with generated text; inter-token latency is a request's mean gap between tokens,
``(last token - first token) / (tokens - 1)``; a request's tokens per second is its inverse (decode
speed); total tokens per second is all output tokens over the wall time of the run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import math
import threading
import time

try:
    import httpx
except ImportError:  # the module reports the missing library through client_from_module
    httpx = None

from ansible_collections.inferops.exoscale.plugins.module_utils import progress

MAX_REQUESTS = 10000
MAX_DURATION = 900.0
MAX_CONCURRENCY = 128
DEFAULT_REQUESTS = 20
PROGRESS_EVERY = 5.0

# name: (statistic path in the result, "max" = measured must not exceed, "min" = must reach, needs streaming)
THRESHOLDS = {
    "ttft_p50_ms": (("ttft_ms", "p50"), "max", True),
    "ttft_p95_ms": (("ttft_ms", "p95"), "max", True),
    "inter_token_latency_ms_max": (("inter_token_latency_ms", "mean"), "max", True),
    "latency_p50_ms": (("latency_ms", "p50"), "max", False),
    "latency_p95_ms": (("latency_ms", "p95"), "max", False),
    "latency_p99_ms": (("latency_ms", "p99"), "max", False),
    "tokens_per_second_min": (("tokens_per_second", "total"), "min", False),
    "tokens_per_second_per_request_min": (("tokens_per_second", "per_request_p50"), "min", False),
    "requests_per_second_min": (("requests_per_second",), "min", False),
    "error_rate_max": (("error_rate",), "max", False),
}


class Sample:
    """One request: ``error`` is None or what went wrong (an HTTP status as text, ``timeout``, ``connection``)."""

    def __init__(self, started):
        self.started = started
        self.error = None
        self.latency = None
        self.ttft = None
        self.decode = None  # seconds from the first to the last token
        self.chunks = 0  # chunks with text: one token each in vLLM's stream
        self.tokens = None  # usage.completion_tokens when the server sends it

    @property
    def output_tokens(self):
        return self.tokens if self.tokens is not None else self.chunks

    @property
    def inter_token_latency(self):
        if self.decode is None or self.chunks < 2:
            return None
        return self.decode / (self.chunks - 1)


def percentile(values, fraction):
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values, scale=1.0, points=(("p50", 0.5), ("p95", 0.95))):
    values = [v * scale for v in values if v is not None]
    if not values:
        return dict((name, None) for name in [point[0] for point in points] + ["mean", "max"])
    found = dict((name, round(percentile(values, fraction), 2)) for name, fraction in points)
    found.update(mean=round(sum(values) / len(values), 2), max=round(max(values), 2))
    return found


def summarize(samples, wall_seconds):
    """The figures the module returns for finished ``samples`` of a run that took ``wall_seconds``."""
    good = [s for s in samples if s.error is None]
    errors = {}
    for sample in samples:
        if sample.error is not None:
            errors[sample.error] = errors.get(sample.error, 0) + 1
    output_tokens = sum(s.output_tokens for s in good)
    per_request = [1.0 / s.inter_token_latency for s in good if s.inter_token_latency]
    if not per_request:  # no stream: a request's tokens over its whole latency
        per_request = [s.output_tokens / s.latency for s in good if s.latency and s.output_tokens]
    tokens_per_second = dict(total=round(output_tokens / wall_seconds, 2) if wall_seconds > 0 else None)
    tokens_per_second.update(("per_request_" + k, v) for k, v in distribution(per_request).items()
                             if k in ("p50", "mean"))
    return dict(
        requests=dict(sent=len(samples), succeeded=len(good), failed=len(samples) - len(good)),
        errors=errors,
        error_rate=round((len(samples) - len(good)) / float(len(samples)), 4) if samples else 0.0,
        duration_s=round(wall_seconds, 3),
        requests_per_second=round(len(samples) / wall_seconds, 2) if wall_seconds > 0 else None,
        output_tokens=output_tokens,
        ttft_ms=distribution([s.ttft for s in good], 1000.0),
        inter_token_latency_ms=distribution([s.inter_token_latency for s in good], 1000.0),
        latency_ms=distribution([s.latency for s in good], 1000.0,
                                points=(("p50", 0.5), ("p95", 0.95), ("p99", 0.99))),
        tokens_per_second=tokens_per_second,
    )


def check_thresholds(stats, thresholds):
    """``(verdicts, failures)``: each set threshold with wanted and measured; failures as sentences."""
    verdicts, failures = {}, []
    for name, wanted in sorted((thresholds or {}).items()):
        if wanted is None:
            continue
        path, direction, dummy = THRESHOLDS[name]
        measured = stats
        for key in path:
            measured = measured.get(key) if isinstance(measured, dict) else None
        if measured is None:
            passed = False
        else:
            passed = measured <= wanted if direction == "max" else measured >= wanted
        verdicts[name] = dict(wanted=wanted, measured=measured, passed=passed)
        if not passed:
            failures.append("%s: measured %s, wanted %s %s" % (
                name, "nothing (no successful request)" if measured is None else measured,
                "at most" if direction == "max" else "at least", int(wanted) if wanted == int(wanted) else wanted))
    return verdicts, failures


def threshold_problems(thresholds, stream):
    """Refusals before any request: thresholds that this run cannot measure."""
    return ["thresholds.%s needs stream=true (time to first token and inter-token latency are measured on the"
            " stream)." % name for name, value in sorted((thresholds or {}).items())
            if value is not None and THRESHOLDS[name][2] and not stream]


def chat_body(model, prompt, max_tokens, stream, temperature):
    body = dict(model=model, messages=[dict(role="user", content=prompt)], max_tokens=max_tokens,
                temperature=temperature)
    if stream:
        body.update(stream=True, stream_options=dict(include_usage=True))
    return body


def read_stream(response, sample, clock):
    """Time the tokens of an SSE answer (``data: {json}`` lines, then ``data: [DONE]``)."""
    first = last = None
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if chunk.get("usage"):
            sample.tokens = chunk["usage"].get("completion_tokens", sample.tokens)
        for choice in chunk.get("choices") or []:
            text = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
            if text:
                now = clock()
                first = now if first is None else first
                last = now
                sample.chunks += 1
    if first is not None:
        sample.ttft = first - sample.started
        sample.decode = last - first


def read_json(response, sample):
    """A whole (non-streamed) answer: the first token arrives with the body."""
    try:
        answer = json.loads(response.read())
    except ValueError:
        sample.error = "invalid answer"
        return
    sample.tokens = (answer.get("usage") or {}).get("completion_tokens")
    if sample.tokens is None:
        text = ((answer.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
        sample.tokens = len(text.split())


def send_one(http, url, headers, body, clock=time.monotonic):
    """One request, timed; never raises for what the endpoint does."""
    sample = Sample(clock())
    try:
        with http.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code >= 400:
                response.read()
                sample.error = str(response.status_code)
            elif "text/event-stream" in response.headers.get("content-type", ""):
                read_stream(response, sample, clock)
            else:
                read_json(response, sample)
    except httpx.TimeoutException:
        sample.error = "timeout"
    except httpx.TransportError:
        sample.error = "connection"
    sample.latency = clock() - sample.started
    return sample


def run_load(send, concurrency, requests, duration, name=None, clock=time.monotonic):
    """Call ``send(index)`` from ``concurrency`` threads until ``requests`` were started or ``duration`` passed.

    Returns ``(samples, wall_seconds)``. No request starts after the duration; those in flight finish
    (each bounded by the client's timeout).
    """
    samples = []
    lock = threading.Lock()
    started = clock()
    state = dict(next=0, reported=started)

    def worker():
        while True:
            with lock:
                index = state["next"]
                if index >= requests or (duration is not None and clock() - started >= duration):
                    return
                state["next"] += 1
            sample = send(index)
            with lock:
                samples.append(sample)
                now = clock()
                if now - state["reported"] >= PROGRESS_EVERY:
                    state["reported"] = now
                    progress.report("benchmark", name, "running", now - started,
                                    "%d requests, %d errors" % (len(samples), len([s for s in samples if s.error])))

    threads = [threading.Thread(target=worker, name="benchmark-%d" % i) for i in range(concurrency)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    wall = clock() - started
    progress.report("benchmark", name, "finished", wall,
                    "%d requests, %d errors" % (len(samples), len([s for s in samples if s.error])))
    return samples, wall
