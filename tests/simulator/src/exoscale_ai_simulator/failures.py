"""Failures forced through the control API (POST /_sim/failures): the next start-ups of a named deployment,
or the next creates of a model repo, fail with a given cause. Not persisted; cleared by /_sim/reset."""
import threading
import weakref

from . import engine
from .errors import ApiError

_FORCED = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _entries(store):
    return _FORCED.setdefault(store, [])


def add(store, body):
    if not isinstance(body, dict):
        raise ApiError(400, "failure: a JSON object {deployment or model, cause, count} is required")
    target = [key for key in ("deployment", "model") if body.get(key)]
    if len(target) != 1:
        raise ApiError(400, "failure: give exactly one of deployment (a deployment name) or model (a Hugging Face repo)")
    causes = engine.CAUSES if target[0] == "deployment" else engine.MODEL_CAUSES
    cause = body.get("cause")
    if cause not in causes:
        raise ApiError(400, f"cause: invalid value {cause!r} for a {target[0]}, allowed values: {', '.join(causes)}")
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ApiError(400, "count: must be an integer >= 1")
    entry = {target[0]: body[target[0]], "cause": cause, "count": count}
    with _LOCK:
        _entries(store).append(entry)
    return dict(entry)


def listed(store):
    with _LOCK:
        return [dict(entry) for entry in _entries(store)]


def clear(store):
    with _LOCK:
        _entries(store).clear()


def take(store, deployment=None, model=None):
    """The cause forced on this start-up (deployment name) or model create (repo), counting it; None if none."""
    key, value = ("deployment", deployment) if deployment is not None else ("model", model)
    with _LOCK:
        for entry in _entries(store):
            if entry.get(key) == value:
                entry["count"] -= 1
                if entry["count"] <= 0:
                    _entries(store).remove(entry)
                return entry["cause"]
    return None
