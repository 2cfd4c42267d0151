# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A bounded load against an OpenAI-compatible endpoint, its statistics and the thresholds they are held to.

Definitions (those of ``vllm bench serve``): time to first token (TTFT) is from sending the request to the
first chunk with generated text; time per output token (TPOT) is a request's ``(latency - TTFT) /
(output tokens - 1)``; inter-token latency (ITL) is every gap between two chunks with text; end-to-end
latency (E2EL) is from sending to the end of the answer; goodput counts the requests that meet every SLO.

Load: closed loop (``concurrency`` clients, each sending its next request when the last one ended) or open
loop (requests started at a ``rate``, constant or with gamma-distributed gaps, burstiness 1 = Poisson, as
in vLLM), in stages or as a sweep of rates. One deadline bounds a run: no request is started after its
duration and none outlives ``timeout`` past it, enforced inside stream reads (a watchdog closes the socket).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import math
import random
import socket
import threading
import time

from ansible_collections.inferops.exoscale.plugins.module_utils import progress
# httpx comes through the client, which imports it lightly (None when missing: client_from_module reports that)
from ansible_collections.inferops.exoscale.plugins.module_utils.client import LOOPBACK_HOSTS, USER_AGENT, httpx

MAX_REQUESTS = 10000
MAX_DURATION = 900.0
MAX_CONCURRENCY = 128
MAX_RATE = 500.0
MAX_TIMEOUT = 600.0
MAX_WARMUP = 100
MAX_STAGES = 20
MAX_TOKENS = 32768
DEFAULT_REQUESTS = 20
DEFAULT_CONCURRENCY = 4
DEFAULT_PERCENTILES = (50.0, 95.0, 99.0)
SWEEP_DEFAULTS = dict(steps=6, stage_duration=5.0, spacing="linear")
PROGRESS_EVERY = 5.0
# A stage keeps up when it completes at least this share of the requested rate (the sweep's knee test).
KEEP_UP = 0.93
# The load generator says it could not keep up below this share of the requested start rate.
GENERATOR_KEEP_UP = 0.95
WORDS = ("alpine", "lake", "river", "summit", "glacier", "valley", "forest", "meadow", "harbour", "bridge",
         "tower", "garden", "market", "station", "library", "castle")

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
    "goodput_min_percent": (("goodput", "percent"), "min", False),
}
GOODPUT_SLOS = (("ttft_ms", "ttft"), ("tpot_ms", "tpot"), ("e2el_ms", "latency"))


class Sample:
    """One request: ``error`` is None or what went wrong (an HTTP status as text, ``timeout``, ``no tokens``...)."""

    def __init__(self, started, scheduled=None, stage=0):
        self.started = started
        self.scheduled = scheduled  # when the open-loop schedule wanted it started (monotonic), None in closed loop
        self.stage = stage
        self.error = None
        self.detail = None
        self.latency = None
        self.ttft = None
        self.decode = None  # seconds from the first to the last token
        self.chunks = 0  # chunks with text: one token each in vLLM's stream
        self.gaps = []  # seconds between chunks with text (ITL)
        self.tokens = None  # usage.completion_tokens when the server sends it
        self.prompt_tokens = None
        self.finished = False

    @property
    def output_tokens(self):
        return self.tokens if self.tokens is not None else self.chunks

    @property
    def end(self):
        return self.started + (self.latency or 0.0)

    @property
    def inter_token_latency(self):
        if self.decode is None or self.chunks < 2:
            return None
        return self.decode / (self.chunks - 1)

    @property
    def tpot(self):
        """vLLM's TPOT; 0 for a one-token answer (as vLLM counts it for goodput)."""
        if self.ttft is None or self.latency is None:
            return None
        return (self.latency - self.ttft) / (self.output_tokens - 1) if self.output_tokens > 1 else 0.0

    def fail(self, error, detail=None):
        if self.error is None:
            self.error, self.detail = error, detail


# ----- statistics -----

def percentile(values, fraction):
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def point_name(point):
    return "p%s" % (int(point) if point == int(point) else point)


def distribution(values, scale=1.0, points=(50.0, 95.0), spread=False):
    """``p<N>`` for each point, ``mean``, ``max`` (and with ``spread`` ``median`` and ``std``, vLLM's population std)."""
    values = [v * scale for v in values if v is not None]
    names = [point_name(p) for p in points] + ["mean", "max"] + (["median", "std"] if spread else [])
    if not values:
        return dict((name, None) for name in names)
    found = dict((point_name(p), round(percentile(values, p / 100.0), 2)) for p in points)
    mean = sum(values) / len(values)
    found.update(mean=round(mean, 2), max=round(max(values), 2))
    if spread:
        found.update(median=round(percentile(values, 0.5), 2),
                     std=round(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), 2))
    return found


def meets_slo(sample, slo):
    """Whether a successful sample meets every SLO that is set (milliseconds), as vLLM's goodput counts it."""
    for option, attribute in GOODPUT_SLOS:
        wanted = (slo or {}).get(option)
        if wanted is None:
            continue
        measured = getattr(sample, attribute)
        if measured is None or measured * 1000.0 > wanted:
            return False
    return True


def completion_rate(good):
    """Requests completed per second while the stage ran: one over the least-squares slope of the completion times
    against their rank, so one late answer does not move it the way it moves (n - 1) / (last - first)."""
    ends = sorted(s.end for s in good)
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return None
    count = len(ends)
    mean_rank, mean_end = (count - 1) / 2.0, sum(ends) / count
    slope = sum((i - mean_rank) * (end - mean_end) for i, end in enumerate(ends)) / \
        sum((i - mean_rank) ** 2 for i in range(count))
    return 1.0 / slope if slope > 0 else None


def summarize(samples, wall_seconds, points=DEFAULT_PERCENTILES, slo=None):
    """The figures the module returns for finished ``samples`` of a run that took ``wall_seconds``."""
    finished = [s for s in samples if s.finished]
    good = [s for s in finished if s.error is None]
    errors, details = {}, {}
    for sample in samples:
        error = sample.error if sample.finished else "unfinished"
        if sample.finished and sample.error is None:
            continue
        errors[error] = errors.get(error, 0) + 1
        if sample.detail and error not in details:
            details[error] = sample.detail[:200]
    output_tokens = sum(s.output_tokens for s in good)
    per_request = [1.0 / s.inter_token_latency for s in good if s.inter_token_latency]
    if not per_request:  # no stream: a request's tokens over its whole latency
        per_request = [s.output_tokens / s.latency for s in good if s.latency and s.output_tokens]

    def per_second(count):
        return round(count / wall_seconds, 2) if wall_seconds > 0 else None

    tokens_per_second = dict(total=per_second(output_tokens))
    tokens_per_second.update(("per_request_" + k, v) for k, v in distribution(per_request).items()
                             if k in ("p50", "mean"))
    latency_points = sorted(set(points) | set((50.0, 95.0, 99.0)))
    result = dict(
        requests=dict(sent=len(samples), succeeded=len(good), failed=len(samples) - len(good)),
        unfinished=len(samples) - len(finished),
        errors=errors,
        error_details=details,
        error_rate=round((len(samples) - len(good)) / float(len(samples)), 4) if samples else 0.0,
        duration_s=round(wall_seconds, 3),
        requests_per_second=per_second(len(samples)),
        completed_per_second=per_second(len(good)),
        output_tokens=output_tokens,
        input_tokens=sum(s.prompt_tokens or 0 for s in good),
        ttft_ms=distribution([s.ttft for s in good], 1000.0, sorted(set(points) | set((50.0, 95.0))), spread=True),
        tpot_ms=distribution([s.tpot for s in good if s.output_tokens > 1], 1000.0, points, spread=True),
        itl_ms=distribution([gap for s in good for gap in s.gaps], 1000.0, points, spread=True),
        e2el_ms=distribution([s.latency for s in good], 1000.0, points, spread=True),
        inter_token_latency_ms=distribution([s.inter_token_latency for s in good], 1000.0),
        latency_ms=distribution([s.latency for s in good], 1000.0, latency_points),
        tokens_per_second=tokens_per_second,
    )
    if any(s.scheduled is not None for s in samples):
        result["rate"] = achieved_rate(samples)
    if slo and any(v is not None for v in slo.values()):
        met = len([s for s in good if meets_slo(s, slo)])
        result["goodput"] = dict(slo=dict((k, v) for k, v in slo.items() if v is not None), requests=met,
                                 percent=round(100.0 * met / len(samples), 2) if samples else 0.0,
                                 requests_per_second=per_second(met))
    return result


def achieved_rate(samples, origin=None):
    """The open-loop generator's check on itself: starts per second against the schedule, and how late they were."""
    timed = [s for s in samples if s.scheduled is not None]
    if not timed:
        return None
    origin = min(s.origin for s in timed) if origin is None else origin
    last = max(s.started for s in timed)
    lags = [max(s.started - s.scheduled, 0.0) for s in timed]
    requested = timed[0].requested_rate
    achieved = len(timed) / (last - origin) if last > origin else None
    return dict(requested=requested, achieved=round(achieved, 3) if achieved else None,
                kept_up=bool(achieved and achieved >= GENERATOR_KEEP_UP * requested),
                start_lag_ms=distribution(lags, 1000.0, (50.0, 95.0)))


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


# ----- input checks -----

def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number_problem(name, value, low, high, low_open=True):
    if value is None:
        return []
    if not _finite(value) or (value <= low if low_open else value < low) or value > high:
        return ["%s must be a number %s %g and at most %g, got %s." % (
            name, "more than" if low_open else "at least", low, high,
            "%g" % value if isinstance(value, (int, float)) else repr(value))]
    return []


def token_range(value, name):
    """``(low, high)`` of an ``input_tokens``/``output_tokens`` option (a number or ``{min, max}``), or a problem."""
    if value is None:
        return None, []
    if isinstance(value, dict):
        low, high = value.get("min"), value.get("max", value.get("min"))
        unknown = sorted(set(value) - set(("min", "max")))
        if unknown:
            return None, ["%s: unknown keys %s, allowed: min, max." % (name, ", ".join(unknown))]
    else:
        low = high = value
    try:
        low, high = int(low), int(high)
    except (TypeError, ValueError):
        return None, ["%s must be a number of tokens or {min, max}, got %r." % (name, value)]
    if not 1 <= low <= high <= MAX_TOKENS:
        return None, ["%s must be 1 to %d tokens with min <= max, got %r." % (name, MAX_TOKENS, value)]
    return (low, high), []


def stage_list(params):
    """The open-loop stages ``[{rate, duration}]`` asked for by ``rate``, ``stages`` (a sweep adds its own)."""
    if params.get("stages"):
        return [dict(rate=s.get("rate"), duration=s.get("duration")) for s in params["stages"]]
    if params.get("rate") is not None:
        return [dict(rate=params["rate"], duration=params.get("duration"))]
    return []


def input_problems(params):
    """What cannot work, each naming the option and what is allowed; said before any request."""
    problems = []
    concurrency = params.get("concurrency")
    if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
        problems.append("concurrency must be 1 to %d, got %d." % (MAX_CONCURRENCY, concurrency))
    if params.get("requests") is not None and not 1 <= params["requests"] <= MAX_REQUESTS:
        problems.append("requests must be 1 to %d, got %d." % (MAX_REQUESTS, params["requests"]))
    problems += _number_problem("duration (seconds)", params.get("duration"), 0, MAX_DURATION)
    problems += _number_problem("timeout (seconds)", params.get("timeout"), 0, MAX_TIMEOUT)
    problems += _number_problem("rate (requests per second)", params.get("rate"), 0, MAX_RATE)
    problems += _number_problem("burstiness", params.get("burstiness"), 0, 100)
    problems += _number_problem("temperature", params.get("temperature"), 0, 2, low_open=False)
    if params.get("max_tokens") is not None and not 1 <= params["max_tokens"] <= MAX_TOKENS:
        problems.append("max_tokens must be 1 to %d, got %d." % (MAX_TOKENS, params["max_tokens"]))
    if not 0 <= (params.get("warmup_requests") or 0) <= MAX_WARMUP:
        problems.append("warmup_requests must be 0 to %d, got %d." % (MAX_WARMUP, params["warmup_requests"]))
    modes = [name for name in ("rate", "stages", "sweep") if params.get(name)]
    if len(modes) > 1:
        problems.append("Give only one of rate, stages and sweep, got %s." % ", ".join(modes))
    if params.get("burstiness") not in (None, 1.0) and params.get("arrival") != "gamma":
        problems.append("burstiness needs arrival=gamma (arrival=poisson is gamma with burstiness 1).")
    stages = params.get("stages") or []
    if len(stages) > MAX_STAGES:
        problems.append("stages: at most %d, got %d." % (MAX_STAGES, len(stages)))
    for index, stage in enumerate(stages):
        problems += _number_problem("stages[%d].rate" % index, stage.get("rate"), 0, MAX_RATE)
        problems += _number_problem("stages[%d].duration" % index, stage.get("duration"), 0, MAX_DURATION)
        if stage.get("rate") is None or stage.get("duration") is None:
            problems.append("stages[%d] needs rate and duration." % index)
    if stages and sum(s.get("duration") or 0 for s in stages if _finite(s.get("duration"))) > MAX_DURATION:
        problems.append("stages: their durations add up to more than %g seconds." % MAX_DURATION)
    problems += sweep_problems(params.get("sweep"))
    for name in ("input_tokens", "output_tokens"):
        problems += token_range(params.get(name), name)[1]
    if params.get("input_tokens") is not None and params.get("prompts_given"):
        problems.append("Give prompts or input_tokens (synthetic prompts), not both.")
    if not params.get("input_tokens") and (
            not params.get("prompts") or not all(isinstance(p, str) and p.strip() for p in params["prompts"])):
        problems.append("prompts must be a non-empty list of non-empty strings.")
    if params.get("url") and not params["url"].startswith(("http://", "https://")):
        problems.append("url must be an http(s) URL such as the deployment's deployment_url.")
    points = params.get("percentiles") or []
    if not all(_finite(p) and 0 < p < 100 for p in points):
        problems.append("percentiles must be numbers between 0 and 100 (exclusive), got %s." % points)
    for option, dummy in GOODPUT_SLOS:
        problems += _number_problem("goodput.%s" % option, (params.get("goodput") or {}).get(option), 0, 3600000)
    thresholds = params.get("thresholds") or {}
    if thresholds.get("error_rate_max") is not None and not 0 <= thresholds["error_rate_max"] <= 1:
        problems.append("thresholds.error_rate_max must be 0 to 1, got %g." % thresholds["error_rate_max"])
    if thresholds.get("goodput_min_percent") is not None and not any((params.get("goodput") or {}).values()):
        problems.append("thresholds.goodput_min_percent needs goodput (at least one of ttft_ms, tpot_ms, e2el_ms).")
    for name, value in thresholds.items():
        if value is not None and not _finite(value):
            problems.append("thresholds.%s must be a finite number, got %s." % (name, value))
    needs_stream = [name for name, value in sorted(thresholds.items()) if value is not None and THRESHOLDS[name][2]]
    if (params.get("goodput") or {}).get("ttft_ms") is not None or (params.get("goodput") or {}).get("tpot_ms"):
        needs_stream.append("goodput.ttft_ms/tpot_ms")
    if not params.get("stream", True):
        problems += ["%s needs stream=true (time to first token and inter-token latency are measured on the"
                     " stream)." % ("thresholds." + n if not n.startswith("goodput") else n) for n in needs_stream]
    return problems


def threshold_problems(thresholds, stream):
    """Refusals before any request: thresholds that this run cannot measure."""
    return ["thresholds.%s needs stream=true (time to first token and inter-token latency are measured on the"
            " stream)." % name for name, value in sorted((thresholds or {}).items())
            if value is not None and THRESHOLDS[name][2] and not stream]


def sweep_problems(sweep):
    if not sweep:
        return []
    problems = []
    rates = sweep.get("rates") or []
    for index, rate in enumerate(rates):
        problems += _number_problem("sweep.rates[%d]" % index, rate, 0, MAX_RATE)
    problems += _number_problem("sweep.min_rate", sweep.get("min_rate"), 0, MAX_RATE)
    problems += _number_problem("sweep.max_rate", sweep.get("max_rate"), 0, MAX_RATE)
    problems += _number_problem("sweep.stage_duration", sweep.get("stage_duration"), 0, MAX_DURATION)
    steps = sweep.get("steps")
    if steps is not None and not 2 <= steps <= MAX_STAGES:
        problems.append("sweep.steps must be 2 to %d, got %d." % (MAX_STAGES, steps))
    if sweep.get("spacing") not in (None, "linear", "geometric"):
        problems.append("sweep.spacing must be linear or geometric, got %s." % sweep.get("spacing"))
    if rates and (sweep.get("min_rate") or sweep.get("max_rate")):
        problems.append("sweep: give rates, or min_rate/max_rate, not both.")
    low, high = sweep.get("min_rate"), sweep.get("max_rate")
    if _finite(low) and _finite(high) and low >= high:
        problems.append("sweep.min_rate (%g) must be below sweep.max_rate (%g)." % (low, high))
    if sweep.get("spacing") == "geometric" and not rates and not (_finite(low) and low > 0):
        problems.append("sweep.spacing=geometric needs sweep.min_rate.")
    if len(rates) > MAX_STAGES:
        problems.append("sweep.rates: at most %d rates, got %d." % (MAX_STAGES, len(rates)))
    duration = sweep.get("stage_duration") or SWEEP_DEFAULTS["stage_duration"]
    count = len(rates) or steps or SWEEP_DEFAULTS["steps"]
    if _finite(duration) and duration * (count + 1) > MAX_DURATION:
        problems.append("sweep: %d stages of %g seconds exceed %g seconds." % (count + 1, duration, MAX_DURATION))
    return problems


def sweep_rates(sweep, saturation=None):
    """The rates a sweep runs, low to high: given, or linear/geometric from min_rate to max_rate (or to 1.2 x the
    measured saturation throughput, GuideLLM's way of finding the range)."""
    if sweep.get("rates"):
        return sorted(float(r) for r in sweep["rates"])
    steps = sweep.get("steps") or SWEEP_DEFAULTS["steps"]
    high = sweep.get("max_rate") or (saturation or 1.0) * 1.2
    low = sweep.get("min_rate") or high / steps
    if sweep.get("spacing") == "geometric":
        factor = (high / low) ** (1.0 / (steps - 1))
        return [round(low * factor ** i, 4) for i in range(steps)]
    return [round(low + (high - low) * i / (steps - 1), 4) for i in range(steps)]


def knee(stages, min_goodput_percent=None):
    """The highest rate before the first stage that did not keep up (completed < KEEP_UP x requested, errors, or
    goodput below ``min_goodput_percent``), and why the next one failed."""
    best, reason = None, None
    for stage in sorted(stages, key=lambda s: s["rate"]["requested"]):
        # a stage the generator could not start at its rate is judged at the rate it did start
        requested = min(stage["rate"]["requested"], stage["rate"].get("achieved") or stage["rate"]["requested"])
        completed = stage.get("completion_rate")
        if stage["requests"]["succeeded"] < stage["requests"]["sent"] * 0.99:
            reason = "%g req/s: %d of %d requests failed" % (requested, stage["requests"]["failed"],
                                                             stage["requests"]["sent"])
        elif completed is None or completed < KEEP_UP * requested:
            reason = "%g req/s: completed only %s req/s" % (requested, completed)
        elif min_goodput_percent is not None and stage.get("goodput", {}).get("percent", 0) < min_goodput_percent:
            reason = "%g req/s: goodput %s %% < %g %%" % (requested, stage["goodput"]["percent"], min_goodput_percent)
        else:
            best = dict(stage, offered=round(requested, 3))
            continue
        break
    return dict(rate=best["offered"] if best else None,
                completed_per_second=best.get("completion_rate") if best else None,
                goodput_percent=best.get("goodput", {}).get("percent") if best else None,
                limited_by=reason)


# ----- requests -----

def request_shapes(count, rng, prompts=None, input_tokens=None, output_tokens=None, max_tokens=64):
    """``[(prompt, max_tokens)]``: the user's prompts in turn, or synthetic prompts of ``input_tokens`` words."""
    shapes = []
    for index in range(count):
        if input_tokens:
            words = rng.randint(*input_tokens)
            prompt = " ".join(WORDS[rng.randrange(len(WORDS))] for dummy in range(words))
        else:
            prompt = prompts[index % len(prompts)]
        shapes.append((prompt, rng.randint(*output_tokens) if output_tokens else max_tokens))
    return shapes


def chat_body(model, prompt, max_tokens, stream, temperature, ignore_eos=False):
    body = dict(model=model, messages=[dict(role="user", content=prompt)], max_tokens=max_tokens,
                temperature=temperature)
    if ignore_eos:  # vLLM's sampling parameter: generate max_tokens, as `vllm bench serve` does for random data
        body["ignore_eos"] = True
    if stream:
        body.update(stream=True, stream_options=dict(include_usage=True))
    return body


def _usage(sample, usage):
    if isinstance(usage, dict):
        if isinstance(usage.get("completion_tokens"), int):
            sample.tokens = usage["completion_tokens"]
        if isinstance(usage.get("prompt_tokens"), int):
            sample.prompt_tokens = usage["prompt_tokens"]


def read_stream(response, sample, clock, deadline):
    """Time the tokens of an SSE answer (``data: {json}`` lines, then ``data: [DONE]``); a stream that does not
    end with ``[DONE]``, has no text, or has a chunk that is not a chunk object is that sample's error."""
    first = last = None
    done = False
    for line in response.iter_lines():
        if clock() >= deadline:
            sample.fail("timeout", "the answer was still streaming at the deadline")
            return
        if not line.startswith("data:"):
            continue  # comments (keep-alives), event names, blank lines
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not isinstance(chunk, dict) or not isinstance(choices if choices is not None else [], list) \
                or not all(isinstance(c, dict) for c in choices or []):
            sample.fail("invalid chunk", "not a completion chunk: %s" % data[:80])
            return
        _usage(sample, chunk.get("usage"))
        for choice in choices or []:
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            text = delta.get("content") if "delta" in choice else choice.get("text")
            if text and isinstance(text, str):
                now = clock()
                if last is not None:
                    sample.gaps.append(now - last)
                first = now if first is None else first
                last = now
                sample.chunks += 1
    if first is not None:
        sample.ttft = first - sample.started
        sample.decode = last - first
    if not done:
        sample.fail("incomplete stream", "the stream ended without data: [DONE]")
    elif not sample.chunks:
        sample.fail("no tokens", "the stream had no generated text")


def read_json(response, sample):
    """A whole (non-streamed) answer: the first token arrives with the body."""
    try:
        answer = json.loads(response.read())
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        sample.fail("invalid answer", "not a JSON object (content-type %s)" % response.headers.get("content-type"))
        return
    _usage(sample, answer.get("usage"))
    choices = answer.get("choices")
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) \
        else None
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str) or not text:
        sample.fail("no tokens", "the answer has no choices[0].message.content")
        return
    if sample.tokens is None:
        sample.tokens = len(text.split())


class Watchdog:
    """Shuts a response's socket down at its deadline, so that a blocked read returns (a trickle cannot hold it)."""

    def __init__(self, deadline, clock):
        self.lock = threading.Lock()
        self.response = None
        self.done = False
        self.expired = False  # the deadline passed
        self.fired = False  # and the watchdog closed the answer's socket
        self.timer = threading.Timer(max(deadline - clock(), 0.0), self.fire)
        self.timer.daemon = True
        self.timer.start()

    def watch(self, response):
        with self.lock:
            self.response = response
        if self.expired:
            self.fire()

    def fire(self):
        with self.lock:
            self.expired = True
            if self.done or self.response is None:
                return
            self.fired = True
            stream = self.response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def finish(self):
        with self.lock:
            self.done = True
        self.timer.cancel()


def send_one(http, url, headers, body, clock=time.monotonic, timeout=60.0, deadline=None, sample=None):
    """One request, timed, never past ``min(start + timeout, deadline)``; never raises: any exception is this
    sample's error."""
    sample = sample or Sample(clock())
    sample.started = clock()
    limit = min(sample.started + timeout, deadline if deadline is not None else float("inf"))
    watchdog = Watchdog(limit, clock)
    try:
        with http.stream("POST", url, json=body, headers=headers,
                         timeout=max(limit - sample.started, 0.001)) as response:
            watchdog.watch(response)
            try:
                if response.status_code >= 400:
                    response.read()
                    sample.fail(str(response.status_code), response.text[:200])
                elif "text/event-stream" in response.headers.get("content-type", ""):
                    read_stream(response, sample, clock, limit)
                else:
                    read_json(response, sample)
            finally:
                watchdog.finish()
    except Exception as exc:  # pylint: disable=broad-except
        if watchdog.fired or (httpx is not None and isinstance(exc, httpx.TimeoutException)):
            sample.fail("timeout", "no complete answer within %g s" % (limit - sample.started))
        elif httpx is not None and isinstance(exc, httpx.TransportError):
            sample.fail("connection", "%s: %s" % (type(exc).__name__, exc))
        else:
            sample.fail("exception", "%s: %s" % (type(exc).__name__, exc))
    finally:
        watchdog.finish()
    if watchdog.fired:  # the stream ended because the watchdog closed it, whatever the reader saw then
        sample.error, sample.detail = "timeout", "no complete answer within %g s" % (limit - sample.started)
    sample.latency = clock() - sample.started
    sample.finished = True
    return sample


# ----- load -----

def arrival_offsets(rate, count, arrival, burstiness, rng):
    """Start times (seconds from the origin) of ``count`` requests at ``rate``: constant gaps, or gamma-distributed
    gaps of shape ``burstiness`` (1 = exponential, a Poisson process), rescaled so the last is at count / rate."""
    if arrival == "constant":
        gaps = [1.0 / rate] * count
    else:
        shape = burstiness if arrival == "gamma" else 1.0
        gaps = [rng.gammavariate(shape, 1.0 / (rate * shape)) for dummy in range(count)]
    offsets, total = [], 0.0
    for gap in gaps:
        total += gap
        offsets.append(total)
    scale = (count / rate) / total if total > 0 else 1.0
    return [offset * scale for offset in offsets]


class Run:
    """One benchmark run: its deadline, its samples and progress reporting."""

    def __init__(self, send, name=None, clock=time.monotonic, sleep=time.sleep):
        self.send = send
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self.lock = threading.Lock()
        self.samples = []
        self.started = clock()
        self.reported = self.started
        self.capped = 0  # open-loop starts that waited for the concurrency cap

    def _report(self, state="running"):
        now = self.clock()
        if state == "running" and now - self.reported < PROGRESS_EVERY:
            return
        self.reported = now
        progress.report("benchmark", self.name, state, now - self.started, "%d requests, %d errors" % (
            len(self.samples), len([s for s in self.samples if s.finished and s.error])))

    def _new(self, index, scheduled=None, stage=0):
        sample = Sample(self.clock(), scheduled, stage)
        sample.index = index
        with self.lock:
            self.samples.append(sample)
        return sample

    def _join(self, threads, deadline):
        for thread in threads:
            thread.join(max(deadline - self.clock(), 0.0) + 1.0)
        with self.lock:
            self._report()

    def closed_loop(self, concurrency, requests, duration, deadline, first_index=0, stage=0):
        """``concurrency`` clients until ``requests`` were started or ``duration`` passed."""
        begin = self.clock()
        state = dict(next=0)

        def worker():
            while True:
                with self.lock:
                    index = state["next"]
                    if index >= requests or self.clock() - begin >= duration:
                        return
                    state["next"] += 1
                sample = self._new(first_index + index, stage=stage)
                self.send(first_index + index, sample, deadline)
                with self.lock:
                    self._report()

        threads = [threading.Thread(target=worker, name="benchmark-%d" % i) for i in range(concurrency)]
        for thread in threads:
            thread.daemon = True
            thread.start()
        self._join(threads, deadline)
        return [s for s in self.samples if s.stage == stage]

    def open_loop(self, offsets, rate, cap, deadline, first_index=0, stage=0):
        """Start a request at each offset (seconds from now); at most ``cap`` in flight (a later start waits)."""
        origin = self.clock()
        slots = threading.Semaphore(cap)
        threads = []

        def run(index, sample):
            try:
                self.send(index, sample, deadline)
            finally:
                slots.release()
                with self.lock:
                    self._report()

        for number, offset in enumerate(offsets):
            wait = origin + offset - self.clock()
            if wait > 0:
                self.sleep(wait)
            if not slots.acquire(False):
                self.capped += 1
                if not slots.acquire(timeout=max(deadline - self.clock(), 0.0)):
                    break
            if self.clock() >= deadline:
                slots.release()
                break
            sample = self._new(first_index + number, scheduled=origin + offset, stage=stage)
            sample.origin, sample.requested_rate = origin, rate
            thread = threading.Thread(target=run, args=(first_index + number, sample), name="benchmark-%d" % number)
            thread.daemon = True
            thread.start()
            threads.append(thread)
        self._join(threads, deadline)
        return [s for s in self.samples if s.stage == stage]

    def finish(self):
        wall = self.clock() - self.started
        self._report("finished")
        return wall


# ----- a whole benchmark -----

STAGE_KEYS = ("requests", "unfinished", "errors", "error_rate", "duration_s", "completed_per_second", "ttft_ms", "tpot_ms", "e2el_ms",
              "goodput", "rate")


def stage_count(rate, duration, requests):
    if duration is None:
        return requests or DEFAULT_REQUESTS
    count = max(1, int(round(rate * duration)))
    return min(count, requests) if requests else count


def plan(params):
    """What the run will do: ``{mode, stages: [{rate, count}], ...}`` (also the check-mode answer)."""
    rate_stages = stage_list(params)
    sweep = params.get("sweep")
    concurrency = params.get("concurrency")
    if sweep:
        duration = sweep.get("stage_duration") or SWEEP_DEFAULTS["stage_duration"]
        probe = not sweep.get("rates") and not sweep.get("max_rate")
        rates = sweep_rates(sweep) if not probe else None
        return dict(mode="sweep", probe=probe, rates=rates, stage_duration=duration,
                    concurrency=concurrency, max_concurrency=concurrency or MAX_CONCURRENCY)
    if rate_stages:
        stages = [dict(rate=s["rate"], duration=s["duration"],
                       count=stage_count(s["rate"], s["duration"], params.get("requests") if len(rate_stages) == 1
                                         else None)) for s in rate_stages]
        return dict(mode="stages" if params.get("stages") else "rate", stages=stages,
                    max_concurrency=concurrency or MAX_CONCURRENCY)
    requests = params.get("requests") or (MAX_REQUESTS if params.get("duration") else DEFAULT_REQUESTS)
    return dict(mode="concurrency", concurrency=concurrency or DEFAULT_CONCURRENCY, requests=requests,
                duration=params.get("duration"))


def _stage_summary(samples, wall, points, slo):
    summary = summarize(samples, wall, points, slo)
    stage = dict((key, summary[key]) for key in STAGE_KEYS if key in summary)
    stage["completion_rate"] = completion_rate([s for s in samples if s.finished and s.error is None])
    if stage["completion_rate"] is not None:
        stage["completion_rate"] = round(stage["completion_rate"], 3)
    return stage


def run_benchmark(params, send, name=None, clock=time.monotonic, sleep=time.sleep):
    """Run the load ``params`` describe through ``send(index, sample, deadline)``; returns ``(result, warnings,
    samples)``."""
    rng = random.Random(params.get("seed") or 0)
    points = tuple(params.get("percentiles") or DEFAULT_PERCENTILES)
    slo = params.get("goodput") or None
    timeout = params["timeout"]
    arrival, burstiness = params.get("arrival") or "poisson", params.get("burstiness") or 1.0
    layout = plan(params)
    run = Run(send, name, clock, sleep)
    warnings = []
    warmup = params.get("warmup_requests") or 0
    if warmup:
        run.closed_loop(min(layout.get("concurrency") or DEFAULT_CONCURRENCY, warmup), warmup, timeout,
                        clock() + timeout, first_index=0, stage=-1)
        run.samples = [s for s in run.samples if s.stage != -1]
    begin = clock()
    stages = []

    def open_stage(number, rate, count):
        span = count / rate
        deadline = min(clock() + span + timeout, total_deadline[0])
        stage_begin = clock()
        run.capped = 0
        samples = run.open_loop(arrival_offsets(rate, count, arrival, burstiness, rng), rate,
                                layout["max_concurrency"], deadline, first_index=warmup + 100000 * number,
                                stage=number)
        summary = _stage_summary(samples, clock() - stage_begin, points, slo)
        summary["rate"] = summary.get("rate") or dict(requested=rate, achieved=None, kept_up=False)
        if not summary["rate"]["kept_up"]:
            warnings.append("The load generator could not keep up at %g req/s: it started %s req/s%s." % (
                rate, summary["rate"]["achieved"], "; %d requests waited for the concurrency cap of %d" % (
                    run.capped, layout["max_concurrency"]) if run.capped else
                "; the machine running the benchmark is too slow for this rate"))
        summary["rate"]["waited_for_cap"] = run.capped
        stages.append(summary)
        return summary

    total_deadline = [float("inf")]
    if layout["mode"] == "concurrency":
        duration = layout["duration"] or MAX_DURATION
        total_deadline[0] = begin + duration + timeout
        run.closed_loop(layout["concurrency"], layout["requests"], duration, total_deadline[0], first_index=warmup)
    elif layout["mode"] in ("rate", "stages"):
        total_deadline[0] = begin + sum(s["count"] / s["rate"] for s in layout["stages"]) + timeout
        for number, stage in enumerate(layout["stages"]):
            if clock() >= total_deadline[0]:
                warnings.append("Stages from %d on did not run: the run's deadline passed." % number)
                break
            open_stage(number, stage["rate"], stage["count"])
    else:
        stage_duration = layout["stage_duration"]
        rates = layout["rates"]
        saturation = None
        probe_span = stage_duration if layout["probe"] else 0.0
        count_rates = rates or [0] * ((params["sweep"].get("steps") or SWEEP_DEFAULTS["steps"]))
        total_deadline[0] = begin + probe_span + stage_duration * len(count_rates) + timeout * 2
        if layout["probe"]:
            probe = run.closed_loop(layout["concurrency"] or 16, MAX_REQUESTS, stage_duration,
                                    min(clock() + stage_duration + timeout, total_deadline[0]), first_index=warmup,
                                    stage=-2)
            saturation = completion_rate([s for s in probe if s.finished and s.error is None])
            if not saturation:
                warnings.append("The sweep's saturation probe completed no request; no stage was run.")
                rates = []
            else:
                rates = sweep_rates(params["sweep"], saturation)
            run.samples = [s for s in run.samples if s.stage != -2]
        failed_in_a_row = 0
        for number, rate in enumerate(rates, start=1):
            if clock() >= total_deadline[0]:
                warnings.append("Sweep rates from %g req/s on did not run: the run's deadline passed." % rate)
                break
            summary = open_stage(number, rate, max(2, int(round(rate * stage_duration))))
            holds = knee([summary], (params["sweep"] or {}).get("goodput_min_percent"))["rate"] is not None
            failed_in_a_row = 0 if holds else failed_in_a_row + 1
            if failed_in_a_row >= 2 and params["sweep"].get("stop_after_knee", True):
                break
        found = knee(stages, params["sweep"].get("goodput_min_percent"))
        rates_done = [s["completion_rate"] for s in stages if s.get("completion_rate")]
        sweep_result = dict(rates=[s["rate"]["requested"] for s in stages], stages=stages, knee=found,
                            saturation_rps=round(max(rates_done), 3) if rates_done else None)
        if saturation:
            sweep_result["probe_completion_rate"] = round(saturation, 3)
    wall = run.finish()
    result = summarize(run.samples, wall, points, slo)
    load = dict(mode=layout["mode"], seed=params.get("seed") or 0, warmup_requests=warmup,
                concurrency=layout.get("concurrency") if layout["mode"] == "concurrency" else params.get("concurrency"))
    if layout["mode"] != "concurrency":
        load.update(arrival=arrival, burstiness=burstiness if arrival == "gamma" else (
            1.0 if arrival == "poisson" else None))
    result["load"] = load
    if layout["mode"] == "stages":
        result.pop("rate", None)
        result["stages"] = stages
    elif layout["mode"] == "rate" and stages:
        result["rate"] = stages[0]["rate"]
    elif layout["mode"] == "sweep":
        result.pop("rate", None)
        result["sweep"] = sweep_result
    return result, warnings, run.samples


VLLM_METRICS = (("ttft", "ttft_ms"), ("tpot", "tpot_ms"), ("itl", "itl_ms"), ("e2el", "e2el_ms"))


def vllm_result(result, samples, model, params):
    """The result under the field names of ``vllm bench serve --save-result`` where they mean the same thing."""
    good = [s for s in samples if s.finished and s.error is None]
    wall = result["duration_s"] or None
    rate = result.get("rate") or {}
    saved = dict(
        date=time.strftime("%Y%m%d-%H%M%S"), backend="openai-chat", endpoint_type="openai-chat", label="inferops",
        model_id=model, num_prompts=result["requests"]["sent"],
        request_rate=rate.get("requested", "inf"), burstiness=(result["load"].get("burstiness") or 1.0),
        max_concurrency=params.get("concurrency"), duration=result["duration_s"],
        completed=result["requests"]["succeeded"], failed=result["requests"]["failed"],
        total_input_tokens=result["input_tokens"], total_output_tokens=result["output_tokens"],
        request_throughput=round(len(good) / wall, 4) if wall else None,
        request_goodput=(result.get("goodput") or {}).get("requests_per_second"),
        output_throughput=result["tokens_per_second"]["total"],
        total_token_throughput=round((result["input_tokens"] + result["output_tokens"]) / wall, 2) if wall else None,
        input_lens=[s.prompt_tokens for s in samples], output_lens=[s.output_tokens if not s.error else 0
                                                                    for s in samples],
        ttfts=[s.ttft for s in samples], itls=[s.gaps for s in samples], errors=[s.error or "" for s in samples])
    for metric, key in VLLM_METRICS:
        figures = result[key]
        saved["mean_%s_ms" % metric] = figures.get("mean")
        saved["median_%s_ms" % metric] = figures.get("median")
        saved["std_%s_ms" % metric] = figures.get("std")
        for name, value in figures.items():
            if name.startswith("p"):
                saved["%s_%s_ms" % (name, metric)] = value
    saved["inferops"] = result
    return saved


def http_client(base_url, connections, timeout):
    """An HTTP client with room for ``connections`` requests at once (the API client's pool holds fewer)."""
    host = httpx.URL(base_url).host
    return httpx.Client(timeout=timeout, verify=not base_url.startswith("http://"),
                        trust_env=host not in LOOPBACK_HOSTS and not host.startswith("127."),
                        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
                        headers={"User-Agent": USER_AGENT, "Accept": "application/json, text/event-stream"})
