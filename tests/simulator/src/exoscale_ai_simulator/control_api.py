"""The unsigned control API under /_sim/: fault injection, observation, configuration, reset."""
import re

from . import catalogue, engine, failures, latency, queueing, state
from .errors import ApiError

FAULT_ACTIONS = ("status", "drop", "delay", "drop_after", "raw", "trickle")
CONFIG_KEYS = ("speed", "clock_skew", "inference_warmup", "timings", "quota", "limits")


def _fault(body):
    if not isinstance(body, dict):
        raise ApiError(400, "fault: a JSON object is required")
    fault = {"method": str(body.get("method", "*")).upper(), "path": body.get("path", "*"), "count": body.get("count", 1),
             "action": body.get("action", "status"),
             "status": body.get("status", 200 if body.get("action") == "raw" else 503), "retry_after": body.get("retry_after"),
             "delay": body.get("delay", 0), "body": body.get("body")}
    if fault["action"] == "raw":
        fault["content_type"] = body.get("content_type", "text/event-stream")
        if not isinstance(fault["body"], str):
            raise ApiError(400, "body: the raw answer's text is required with action raw")
    if fault["action"] == "trickle":
        fault["delay"] = body.get("delay", 0.5)
        fault["duration"] = body.get("duration", 120)
        for name in ("delay", "duration"):
            if not isinstance(fault[name], (int, float)) or isinstance(fault[name], bool) or not 0 < fault[name] <= 3600:
                raise ApiError(400, f"{name}: must be a number of seconds > 0 and <= 3600 with action trickle")
    if fault["action"] not in FAULT_ACTIONS:
        raise ApiError(400, f"action: invalid value {fault['action']!r}, allowed values: {', '.join(FAULT_ACTIONS)}")
    if not isinstance(fault["count"], int) or fault["count"] < 1:
        raise ApiError(400, "count: must be an integer >= 1")
    return fault


def _check_limits(body):
    """Quota limits: {resource: integer >= -1} (-1 = unlimited); any resource name (a new one is listed by /v2/quota)."""
    if not isinstance(body, dict):
        raise ApiError(400, "limits: a JSON object {resource: limit} is required")
    for resource, limit in body.items():
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < -1:
            raise ApiError(400, f"limits.{resource}: must be an integer >= -1 (-1 = unlimited), got {limit!r}")
    return body


def _check_families(body, where):
    """{family: {free: int >= 0, authorized: bool} | null}."""
    if not isinstance(body, dict):
        raise ApiError(400, f"{where}: a JSON object {{family: {{free, authorized}} | null}} is required")
    for family, entry in body.items():
        if entry is None:
            continue
        if not isinstance(entry, dict) or set(entry) - {"free", "authorized"}:
            raise ApiError(400, f"{where}.{family}: expected {{free, authorized}} or null (not offered)")
        free = entry.get("free", 0)
        if not isinstance(free, int) or isinstance(free, bool) or free < 0:
            raise ApiError(400, f"{where}.{family}.free: must be an integer >= 0, got {free!r}")
        if not isinstance(entry.get("authorized", True), bool):
            raise ApiError(400, f"{where}.{family}.authorized: must be true or false")


def _merge_families(families, body):
    for family, entry in body.items():
        if entry is None:
            families.pop(family, None)
            continue
        current = families.setdefault(family, {"free": 0, "authorized": True})
        current.update({key: entry[key] for key in ("free", "authorized") if key in entry})


class ControlApi:
    def __init__(self, server):
        self.server = server
        self.store = server.store

    def handle(self, method, path, query, body):
        routes = [
            ("GET", r"/_sim/faults", self.list_faults), ("POST", r"/_sim/faults", self.add_fault),
            ("DELETE", r"/_sim/faults", self.clear_faults),
            ("POST", r"/_sim/deployments/([^/]+)/error", self.error_deployment),
            ("POST", r"/_sim/models/([^/]+)/error", self.error_model),
            ("POST", r"/_sim/operations/fail-next", self.fail_next),
            ("POST", r"/_sim/reset", self.reset),
            ("GET", r"/_sim/requests", self.list_requests), ("DELETE", r"/_sim/requests", self.clear_requests),
            ("GET", r"/_sim/config", self.get_config), ("POST", r"/_sim/config", self.set_config),
            ("GET", r"/_sim/inventory", self.get_inventory), ("POST", r"/_sim/inventory", self.set_inventory),
            ("GET", r"/_sim/zones", self.get_zones), ("POST", r"/_sim/zones", self.set_zones),
            ("GET", r"/_sim/limits", self.get_limits), ("POST", r"/_sim/limits", self.set_limits),
            ("GET", r"/_sim/state", self.dump_state),
            ("GET", r"/_sim/failures", self.list_failures), ("POST", r"/_sim/failures", self.add_failure),
            ("DELETE", r"/_sim/failures", self.clear_failures),
            ("GET", r"/_sim/latency-model", self.latency_model),
            ("GET", r"/_sim/queueing", self.list_queueing), ("POST", r"/_sim/queueing", self.set_queueing),
            ("DELETE", r"/_sim/queueing", self.clear_queueing),
            ("GET", r"/_sim/queueing/capacity", self.queueing_capacity),
            ("GET", r"/_sim/inference-log", self.inference_log), ("DELETE", r"/_sim/inference-log", self.clear_inference_log),
        ]
        allowed = []
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                with self.store.lock:
                    return action(query, body or {}, *match.groups())
            if match:
                allowed.append(route_method)
        if allowed:
            raise ApiError(405, f"no control route {method} {path}, allowed: {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})
        raise ApiError(404, f"no control route {method} {path}")

    def list_faults(self, query, body):
        return 200, {"faults": list(self.store.faults)}

    def add_fault(self, query, body):
        fault = _fault(body)
        self.store.faults.append(fault)
        return 200, fault

    def clear_faults(self, query, body):
        self.store.faults.clear()
        return 200, {"faults": []}

    def _find(self, kind, resource_id, zone):
        zones = [zone] if zone else list(self.store.zones)
        for name in zones:
            found = self.store.zones.get(name, {}).get(kind, {}).get(resource_id)
            if found:
                return found
        raise ApiError(404, f"{kind[:-1]} {resource_id} not found")

    def error_deployment(self, query, body, dep_id):
        dep = self._find("deployments", dep_id, query.get("zone"))
        if "cause" in body:
            if body["cause"] not in engine.CAUSES:
                raise ApiError(400, f"cause: invalid value {body['cause']!r}, allowed values: {', '.join(engine.CAUSES)}")
            details = engine.force(self.store, dep, body["cause"])["details"]
        else:
            details = body.get("state_details", "simulated failure")
            self.store.force_deployment_error(dep, details)
        self.store.save()
        return 200, {"id": dep_id, "state": "error", "state_details": details}

    def error_model(self, query, body, model_id):
        model = self._find("models", model_id, query.get("zone"))
        model["forced"] = {"at": self.store.now(), "details": body.get("state_details", "simulated failure")}
        self.store.save()
        return 200, {"id": model_id, "state": "error"}

    def fail_next(self, query, body):
        self.store.fail_next = {"count": int(body.get("count", 1)), "reason": body.get("reason", "fault"),
                                "message": body.get("message", "injected operation failure")}
        self.store.save()
        return 200, dict(self.store.fail_next)

    def reset(self, query, body):
        self.store.reset()
        failures.clear(self.store)
        queueing.clear(self.store)
        return 200, {"reset": True}

    def list_requests(self, query, body):
        return 200, {"requests": list(self.store.requests)}

    def clear_requests(self, query, body):
        self.store.requests.clear()
        return 200, {"requests": []}

    def get_config(self, query, body):
        return 200, dict(self.store.config, url_style=self.server.options["url_style"])

    def set_config(self, query, body):
        unknown = set(body) - set(CONFIG_KEYS)
        if unknown:
            raise ApiError(400, f"unknown config keys {sorted(unknown)}, allowed: {', '.join(CONFIG_KEYS)}")
        if "speed" in body and not (isinstance(body["speed"], (int, float)) and body["speed"] > 0):
            raise ApiError(400, "speed: must be a number > 0")
        for name in body.get("timings", {}):
            if name not in catalogue.TIMINGS:
                raise ApiError(400, f"timings: unknown duration {name!r}, allowed: {', '.join(catalogue.TIMINGS)}")
        _check_limits(body.get("limits", {}))
        for key, value in body.items():
            if key in ("timings", "limits"):
                self.store.config[key].update(value)
            else:
                self.store.config[key] = float(value) if key in ("speed", "clock_skew") else value
        return self.get_config(query, body)

    def _inventory_zone(self, zone):
        if zone not in catalogue.ZONES:
            raise ApiError(400, f"zone: unknown zone {zone!r}, allowed values: {', '.join(catalogue.ZONES)}")
        return zone

    def get_inventory(self, query, body):
        """One zone's families (?zone=, default the default zone)."""
        return 200, dict(self.store.families(self._inventory_zone(query.get("zone", catalogue.DEFAULT_ZONE))))

    def set_inventory(self, query, body):
        """Merge families into one zone (?zone=) or, without zone, into every zone; null removes a family (not offered)."""
        zones = [self._inventory_zone(query["zone"])] if "zone" in query else list(catalogue.ZONES)
        _check_families(body, "inventory")
        for zone in zones:
            _merge_families(self.store.zone_inventory[zone], body)
        self.store.save()
        return 200, dict(self.store.families(zones[0] if "zone" in query else catalogue.DEFAULT_ZONE))

    def get_zones(self, query, body):
        return 200, {"zones": {zone: dict(families) for zone, families in self.store.zone_inventory.items()}}

    def set_zones(self, query, body):
        """{"preset": NAME, "zones": {zone: {family: {free, authorized} | null}}}: the preset replaces every zone's
        families, then the zones given are merged (null removes a family from that zone)."""
        unknown = set(body) - {"preset", "zones"}
        if unknown:
            raise ApiError(400, f"unknown keys {sorted(unknown)}, allowed: preset, zones")
        presets = ("uniform",) + tuple(catalogue.ZONE_PRESETS)
        if "preset" in body and body["preset"] not in presets:
            raise ApiError(400, f"preset: invalid value {body['preset']!r}, allowed values: {', '.join(presets)}")
        zones = body.get("zones", {})
        if not isinstance(zones, dict):
            raise ApiError(400, "zones: a JSON object {zone: {family: {free, authorized} | null}} is required")
        for zone, families in zones.items():
            self._inventory_zone(zone)
            _check_families(families, f"zones.{zone}")
        if "preset" in body:
            self.store.zone_inventory = state.zone_inventory(body["preset"])
        for zone, families in zones.items():
            _merge_families(self.store.zone_inventory[zone], families)
        self.store.save()
        return self.get_zones(query, body)

    def get_limits(self, query, body):
        return 200, dict(self.store.config["limits"])

    def set_limits(self, query, body):
        self.store.config["limits"].update(_check_limits(body))
        return self.get_limits(query, body)

    def dump_state(self, query, body):
        return 200, self.store.dump()

    # ----- forced vLLM / Hub failures and the latency model (failures.py, engine.py, latency.py) -----

    def list_failures(self, query, body):
        return 200, {"failures": failures.listed(self.store)}

    def add_failure(self, query, body):
        return 200, failures.add(self.store, body)

    def clear_failures(self, query, body):
        failures.clear(self.store)
        return 200, {"failures": []}

    def latency_model(self, query, body):
        return 200, latency.control_answer(self.store, query)

    # ----- the queueing model and the per-request timing log (queueing.py) -----

    def list_queueing(self, query, body):
        return 200, {"profiles": queueing.profiles(self.store)}

    def set_queueing(self, query, body):
        return 200, queueing.set_profile(self.store, body)

    def clear_queueing(self, query, body):
        queueing.clear(self.store)
        return 200, {"profiles": []}

    def queueing_capacity(self, query, body):
        return 200, queueing.control_capacity(self.store, query, latency.find_deployment)

    def inference_log(self, query, body):
        return 200, {"requests": queueing.log_entries(self.store)}

    def clear_inference_log(self, query, body):
        queueing.clear_log(self.store)
        return 200, {"requests": []}
