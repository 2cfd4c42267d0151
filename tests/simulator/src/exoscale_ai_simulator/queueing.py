"""Queueing model of a deployment's inference endpoint and the per-request timing log (README: "Queueing model").

A profile gives a replica a known capacity: ``slots`` sequences served at once (vLLM's --max-num-seqs), a
prefill rate and a per-sequence decode rate, in tokens per second at speed 1. A request waits in one FIFO
queue shared by all replicas of the deployment (the load balancer) until one of the ``slots x replicas``
slots is free, then its first token arrives after the prompt's prefill and each further token after one
decode step. So time to first token is the queue wait plus the prefill, and a replica completes at most
``slots / (prompt_tokens / prefill + (output_tokens - 1) / decode)`` requests per second: the knee.

Profiles match a deployment by name or id, else by GPU family and count, else by GPU family alone. A
deployment without a profile keeps the bandwidth model of latency.py. Every completion, either way, is
logged with its timings (``GET /_sim/inference-log``), so tests can compute oracles from what the server did.
"""
import collections
import threading
import time
import weakref

from .errors import ApiError

LOG_LIMIT = 20000
PROFILE_FIELDS = ("slots", "prefill_tokens_per_s", "decode_tokens_per_s")
MATCH_FIELDS = ("deployment", "gpu_type", "gpu_count")

_STATE = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class _StoreState:
    def __init__(self):
        self.profiles = []  # [{deployment | gpu_type [, gpu_count], slots, prefill_tokens_per_s, decode_tokens_per_s}]
        self.pools = {}  # deployment id -> SlotPool
        self.log = collections.deque(maxlen=LOG_LIMIT)
        # Answers whose last bytes are being written and that are not logged yet: a client that read its last
        # byte must find its request in the log (the writing thread may run again only after the read).
        self.finishing = 0
        self.logged = threading.Condition()


def _state(store):
    with _LOCK:
        return _STATE.setdefault(store, _StoreState())


def check_profile(body):
    if not isinstance(body, dict):
        raise ApiError(400, "queueing: a JSON object {deployment or gpu_type [, gpu_count], slots, prefill_tokens_per_s,"
                            " decode_tokens_per_s} is required")
    unknown = set(body) - set(PROFILE_FIELDS) - set(MATCH_FIELDS)
    if unknown:
        raise ApiError(400, f"queueing: unknown keys {sorted(unknown)}, allowed: {', '.join(MATCH_FIELDS + PROFILE_FIELDS)}")
    if bool(body.get("deployment")) == bool(body.get("gpu_type")):
        raise ApiError(400, "queueing: give exactly one of deployment (name or id) or gpu_type (with gpu_count optional)")
    if "gpu_count" in body and (not isinstance(body["gpu_count"], int) or isinstance(body["gpu_count"], bool)
                                or body["gpu_count"] < 1 or body.get("deployment")):
        raise ApiError(400, "queueing.gpu_count: an integer >= 1, only with gpu_type")
    if not isinstance(body.get("slots"), int) or isinstance(body.get("slots"), bool) or body["slots"] < 1:
        raise ApiError(400, f"queueing.slots: must be an integer >= 1, got {body.get('slots')!r}")
    for name in PROFILE_FIELDS[1:]:
        value = body.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < float("inf"):
            raise ApiError(400, f"queueing.{name}: must be a number > 0 (tokens per second at speed 1), got {value!r}")
    return {key: body[key] for key in MATCH_FIELDS + PROFILE_FIELDS if key in body}


def set_profile(store, body):
    profile = check_profile(body)
    key = tuple(profile.get(name) for name in MATCH_FIELDS)
    state = _state(store)
    with _LOCK:
        state.profiles = [p for p in state.profiles if tuple(p.get(name) for name in MATCH_FIELDS) != key] + [profile]
    return dict(profile)


def profiles(store):
    state = _state(store)
    with _LOCK:
        return [dict(p) for p in state.profiles]


def clear(store):
    state = _state(store)
    with _LOCK:
        state.profiles = []
        state.log.clear()


def profile_for(store, dep):
    """The profile that applies to deployment ``dep``, or None (the bandwidth model of latency.py then)."""
    found = profiles(store)
    for matches in (lambda p: p.get("deployment") in (dep["id"], dep["name"]),
                    lambda p: p.get("gpu_type") == dep["gpu-type"] and p.get("gpu_count") == dep["gpu-count"],
                    lambda p: p.get("gpu_type") == dep["gpu-type"] and "gpu_count" not in p):
        chosen = [p for p in found if matches(p)]
        if chosen:
            return chosen[-1]
    return None


def service_seconds(profile, prompt_tokens, output_tokens):
    """Seconds a request holds a slot at speed 1: its prefill, then one decode step per token after the first."""
    return prompt_tokens / profile["prefill_tokens_per_s"] + max(output_tokens - 1, 0) / profile["decode_tokens_per_s"]


def capacity(profile, replicas, prompt_tokens, output_tokens, speed=1.0):
    """Requests per second the deployment completes at most (all its slots busy), at ``speed``."""
    service = service_seconds(profile, prompt_tokens, output_tokens)
    per_replica = profile["slots"] / service if service > 0 else float("inf")
    return {"service_s": service / speed, "per_replica_rps": per_replica * speed, "replicas": replicas,
            "capacity_rps": per_replica * speed * max(replicas, 0), "speed": speed,
            "at_speed_1": {"service_s": service, "per_replica_rps": per_replica, "capacity_rps": per_replica * max(replicas, 0)}}


class SlotPool:
    """``size`` slots taken in arrival order (FIFO tickets), so a queued request's wait is fair."""

    def __init__(self):
        self.condition = threading.Condition()
        self.active = 0
        self.next_ticket = 0
        self.serving = 0

    def enter(self, size):
        with self.condition:
            ticket = self.next_ticket
            self.next_ticket += 1
            while ticket != self.serving or self.active >= size():
                self.condition.wait(0.05)
            self.serving += 1
            self.active += 1
            self.condition.notify_all()

    def leave(self):
        with self.condition:
            self.active -= 1
            self.condition.notify_all()


def _pool(store, dep_id):
    state = _state(store)
    with _LOCK:
        return state.pools.setdefault(dep_id, SlotPool())


class QueuedPacer:
    """Paces one request under a profile: a slot, the prefill, then one decode step per token (latency.Pacer's API)."""

    MIN_SLEEP_S = 0.001

    def __init__(self, store, dep, profile, prompt_tokens):
        self.store = store
        self.dep = dep
        self.profile = profile
        self.pool = _pool(store, dep["id"])
        self.speed = store.config["speed"]
        self.prompt_tokens = prompt_tokens
        self.due = 0.0
        self.index = 0
        self.slot_at = None
        self.first_due = None

    def _size(self):
        return self.profile["slots"] * max(int(self.dep.get("replicas") or 0), 1)

    def __enter__(self):
        self.pool.enter(self._size)
        self.slot_at = self.due = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.pool.leave()

    def next_due(self):
        if self.index == 0:
            self.due += self.prompt_tokens / self.profile["prefill_tokens_per_s"] / self.speed
            self.first_due = self.due
        else:
            self.due += 1.0 / self.profile["decode_tokens_per_s"] / self.speed
        self.index += 1
        return self.due

    def wait(self, due):
        remaining = due - time.monotonic()
        if remaining < self.MIN_SLEEP_S:
            return False
        time.sleep(remaining)
        return True


def finishing(store):
    """The answer is about to write its last bytes: log_entries waits for its entry."""
    state = _state(store)
    with state.logged:
        state.finishing += 1


def record(store, entry, finished=False):
    state = _state(store)
    with state.logged:
        state.log.append(entry)
        if finished:
            state.finishing -= 1
            state.logged.notify_all()


def log_entries(store, settle_s=5.0):
    state = _state(store)
    with state.logged:
        state.logged.wait_for(lambda: state.finishing <= 0, timeout=settle_s)
        return list(state.log)


def clear_log(store):
    _state(store).log.clear()


def control_capacity(store, query, find_deployment):
    """GET /_sim/queueing/capacity?deployment=<id or name>&prompt_tokens=P&output_tokens=O[&zone=Z]."""
    reference = query.get("deployment")
    if not reference:
        raise ApiError(400, "deployment: a deployment id or name is required")
    try:
        prompt_tokens = int(query.get("prompt_tokens", 16))
        output_tokens = int(query.get("output_tokens", 16))
    except ValueError:
        raise ApiError(400, "prompt_tokens and output_tokens: must be integers") from None
    if prompt_tokens < 0 or output_tokens < 1:
        raise ApiError(400, "prompt_tokens: must be >= 0 and output_tokens >= 1")
    dep = find_deployment(store, reference, query.get("zone"))
    if dep is None:
        raise ApiError(404, f"deployment {reference!r} not found")
    profile = profile_for(store, dep)
    if profile is None:
        raise ApiError(404, f"deployment {reference!r} has no queueing profile (POST /_sim/queueing sets one)")
    return dict(capacity(profile, dep.get("replicas") or 0, prompt_tokens, output_tokens, store.config["speed"]),
                profile=dict(profile), deployment=dep["id"], name=dep["name"], prompt_tokens=prompt_tokens,
                output_tokens=output_tokens)
