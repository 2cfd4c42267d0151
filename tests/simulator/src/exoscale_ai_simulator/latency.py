"""Latency model of a deployment's inference endpoint (README: "Latency model").

Decoding is memory-bandwidth bound: one step streams the weights (split over gpu_count GPUs) once, so the
inter-token latency of one request follows from the weights and the GPU's bandwidth; a batch of b requests
shares each step, each request slowing down a little (3 % per extra request) while the total throughput
grows, up to max_batch (--max-num-seqs) requests, beyond which requests queue for a slot. Time to first
token is two decode steps plus the prompt's prefill. All durations are divided by the simulator's speed.
"""
import hashlib
import threading
import time
import weakref

from . import catalogue, engine
from .errors import ApiError

# Memory bandwidth per GPU family, GB/s (vendor specifications of the cards in catalogue.GPU_MEMORY_GB).
BANDWIDTH_GBPS = {"gpu3080ti": 912, "gpua5000": 768, "gpua30": 933, "gpu3": 696, "gpurtx6000pro": 1792, "gpu2": 900, "gpu": 732}
DEFAULT_BANDWIDTH_GBPS = 768
EFFICIENCY = 0.6  # share of the bandwidth a decode step achieves
STEP_OVERHEAD_S = 0.004  # scheduling, sampling and kernel launches per step
BATCH_SLOWDOWN = 0.03  # per extra request in the batch
PREFILL_TOKENS_PER_STEP = 128
DEFAULT_MAX_BATCH = 256  # vLLM's --max-num-seqs default
JITTER = 0.1  # each delay is multiplied by a factor in [1 - JITTER/2, 1 + JITTER/2], mean 1


def itl_single(gpu_type, model_size, gpu_count):
    """Seconds between two tokens of a request served alone, at speed 1."""
    bandwidth = BANDWIDTH_GBPS.get(gpu_type, DEFAULT_BANDWIDTH_GBPS) * 1e9
    return STEP_OVERHEAD_S + (model_size / max(gpu_count, 1)) / (bandwidth * EFFICIENCY)


def itl(single, batch):
    return single * (1 + BATCH_SLOWDOWN * (max(batch, 1) - 1))


def ttft(inter_token, prompt_tokens):
    return inter_token * (2 + prompt_tokens / PREFILL_TOKENS_PER_STEP)


def expected(gpu_type, model_size, gpu_count, concurrency, prompt_tokens=16, speed=1.0, max_batch=DEFAULT_MAX_BATCH):
    """The model's figures for `concurrency` steady concurrent requests (seconds scaled by speed; at_speed_1 unscaled)."""
    batch = max(1, min(concurrency, max_batch))
    inter_token = itl(itl_single(gpu_type, model_size, gpu_count), batch)
    first = ttft(inter_token, prompt_tokens)
    unscaled = {"ttft_s": first, "itl_s": inter_token, "tokens_per_second_per_request": 1 / inter_token,
                "tokens_per_second_total": batch / inter_token}
    scaled = {"ttft_s": first / speed, "itl_s": inter_token / speed, "tokens_per_second_per_request": speed / inter_token,
              "tokens_per_second_total": speed * batch / inter_token}
    return dict(scaled, gpu_type=gpu_type, gpu_count=gpu_count, model_size=model_size, concurrency=concurrency, batch=batch,
                max_batch=max_batch, queued=max(0, concurrency - max_batch), prompt_tokens=prompt_tokens, speed=speed, at_speed_1=unscaled)


def max_batch_of(dep):
    value = engine.parse_parameters(dep["inference-engine-parameters"]).get("--max-num-seqs")
    try:
        return max(1, int(value)) if value is not None else DEFAULT_MAX_BATCH
    except ValueError:
        return DEFAULT_MAX_BATCH


def seed_of(dep):
    return engine.parse_parameters(dep["inference-engine-parameters"]).get("--seed") or "0"


def model_size_of(dep):
    return catalogue.MODELS.get(dep["model"]["name"], {}).get("size", 1 * catalogue.GB)


def for_deployment(dep, concurrency, prompt_tokens=16, speed=1.0):
    return dict(expected(dep["gpu-type"], model_size_of(dep), dep["gpu-count"], concurrency, prompt_tokens, speed, max_batch_of(dep)),
                deployment=dep["id"], name=dep["name"])


def jitter(seed, key, index):
    digest = hashlib.sha256(f"{seed}|{key}|{index}".encode()).digest()
    return 1 + JITTER * (int.from_bytes(digest[:4], "big") / 2 ** 32 - 0.5)


class Batch:
    """The requests a deployment serves at once: at most max_batch, the others wait for a slot (FIFO enough)."""

    def __init__(self):
        self.condition = threading.Condition()
        self.active = 0

    def enter(self, limit):
        with self.condition:
            while self.active >= limit:
                self.condition.wait()
            self.active += 1

    def leave(self):
        with self.condition:
            self.active -= 1
            self.condition.notify()

    def size(self, limit):
        return max(1, min(self.active, limit))


_BATCHES = weakref.WeakKeyDictionary()
_BATCHES_LOCK = threading.Lock()


def batch_for(store, dep_id):
    with _BATCHES_LOCK:
        return _BATCHES.setdefault(store, {}).setdefault(dep_id, Batch())


class Pacer:
    """Paces one request's tokens: TTFT for the first, then one ITL per token, with the batch size of the moment."""

    # Below this, sleeping costs more than it is worth: tokens due sooner are sent together.
    MIN_SLEEP_S = 0.001

    def __init__(self, store, dep, prompt_tokens, key):
        self.batch = batch_for(store, dep["id"])
        self.limit = max_batch_of(dep)
        self.single = itl_single(dep["gpu-type"], model_size_of(dep), dep["gpu-count"])
        self.speed = store.config["speed"]
        self.prompt_tokens = prompt_tokens
        self.seed = seed_of(dep)
        self.key = key
        self.due = 0.0
        self.index = 0
        self.first_due = None

    def __enter__(self):
        self.batch.enter(self.limit)
        self.due = time.monotonic()  # a queued request's TTFT counts from when it got a slot, plus the wait
        return self

    def __exit__(self, *exc):
        self.batch.leave()

    def next_due(self):
        """Advance to the next token's due time (monotonic seconds); the first call gives the first token's."""
        inter_token = itl(self.single, self.batch.size(self.limit))
        delay = ttft(inter_token, self.prompt_tokens) if self.index == 0 else inter_token
        self.due += delay * jitter(self.seed, self.key, self.index) / self.speed
        if self.index == 0:
            self.first_due = self.due
        self.index += 1
        return self.due

    def wait(self, due):
        """Sleep until due; False (no sleep) when it is too close to be worth it."""
        remaining = due - time.monotonic()
        if remaining < self.MIN_SLEEP_S:
            return False
        time.sleep(remaining)
        return True


def find_deployment(store, reference, zone=None):
    """A deployment by id or name (private ones first), in `zone` or any zone."""
    zones = [zone] if zone else list(store.zones)
    candidates = [dep for name in zones for dep in store.zones.get(name, {}).get("deployments", {}).values()
                  if reference in (dep["id"], dep["name"])]
    candidates.sort(key=lambda dep: dep["visibility"] != "private")
    return candidates[0] if candidates else None


def control_answer(store, query):
    """GET /_sim/latency-model?deployment=<id or name>&concurrency=N[&prompt_tokens=P][&zone=Z]."""
    reference = query.get("deployment")
    if not reference:
        raise ApiError(400, "deployment: a deployment id or name is required")
    try:
        concurrency = int(query.get("concurrency", 1))
        prompt_tokens = int(query.get("prompt_tokens", 16))
    except ValueError:
        raise ApiError(400, "concurrency and prompt_tokens: must be integers") from None
    if concurrency < 1 or prompt_tokens < 0:
        raise ApiError(400, "concurrency: must be >= 1 (and prompt_tokens >= 0)")
    dep = find_deployment(store, reference, query.get("zone"))
    if dep is None:
        raise ApiError(404, f"deployment {reference!r} not found")
    return for_deployment(dep, concurrency, prompt_tokens, store.config["speed"])
