"""The simulator's store: resources per zone, their lazily computed state machines, and persistence.

Resources keep absolute timestamps of their future transitions ("phases"); the state shown is the
last phase whose time has come. Nothing runs in the background, so reads are cheap and a restarted
process (with --state-file) resumes the same timeline.
"""
import copy
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone

from . import catalogue, hub

STATE_VERSION = 2  # 2: the GPU inventory is per zone


def iso(ts, millis=False):
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id():
    return str(uuid.uuid4())


# Organisation quotas (GET /v2/quota), -1 = unlimited. The GPU families count gpu-count x replicas of the
# organisation's private deployments in every zone; the other resources are listed with usage 0 so that
# clients have to pick the GPU families out (as `exo limits gpu` does). Real organisations start at 0 GPUs
# and ask support for more; these defaults leave room for the tests' deployments.
GPU_QUOTA_RESOURCES = ("gpu", "gpu2", "gpu3", "gpua30", "gpu3080ti", "gpua5000", "gpurtx6000pro")
DEFAULT_LIMITS = {"instance": 20, "snapshot": 50, "template": 10, "private-network": 10, "sks-cluster": 2,
                  "network-load-balancer": 5, "bucket": 50, "iam-key": 50,
                  "gpu": 8, "gpu2": 8, "gpu3": 8, "gpua30": 8, "gpu3080ti": 16, "gpua5000": 32, "gpurtx6000pro": 16}


def default_config(speed):
    return {"speed": float(speed), "clock_skew": 0.0, "inference_warmup": 0, "timings": dict(catalogue.TIMINGS), "quota": None,
            "limits": dict(DEFAULT_LIMITS)}


def uniform_families():
    """The families every zone offers by default (catalogue.GPU_FAMILIES), with their capacity and authorization."""
    return {family: {"free": spec["free"], "authorized": spec["authorized"]} for family, spec in catalogue.GPU_FAMILIES.items()}


def zone_inventory(preset="uniform"):
    """{zone: {family: {free, authorized}}}: "uniform" (every zone the same, the default) or a preset of catalogue.ZONE_PRESETS
    (the zones it names offer exactly its families; the others keep the uniform ones)."""
    if preset != "uniform" and preset not in catalogue.ZONE_PRESETS:
        raise ValueError(preset)
    inventory = {zone: uniform_families() for zone in catalogue.ZONES}
    for zone, families in catalogue.ZONE_PRESETS.get(preset, {}).items():
        inventory[zone] = {family: dict(entry) for family, entry in families.items()}
    return inventory


def empty_zone():
    return {"models": {}, "deployments": {}, "operations": {}, "api_keys": {}}


def _serves_through(dep, phase):
    return phase[0] == "ready" or (phase[0] == "scaling" and repr(phase[1]) in dep.get("serving_while_scaling", {}))


def serving_replicas(dep, now):
    """Replicas that answer inference at ``now``: all of a ready deployment's, those kept while it scales from a
    serving count to another count above 0, else none."""
    phase = current_phase(dep["phases"], now)
    if phase[0] == "ready":
        return dep["replicas"]
    if phase[0] == "scaling":
        return dep.get("serving_while_scaling", {}).get(repr(phase[1]), 0)
    return 0


def current_phase(phases, now):
    """The [state, ts, details] phase in effect at `now` (phases are sorted by time)."""
    active = phases[0]
    for phase in phases:
        if phase[1] <= now:
            active = phase
        else:
            break
    return active


class Store:
    """All mutable simulator state behind one lock. Call the mutating methods with `lock` held."""

    def __init__(self, speed=1.0, state_file=None, clock=time.time):
        self.lock = threading.RLock()
        self.clock = clock
        self.initial_speed = float(speed)
        self.state_file = state_file
        self.reset(persist=False)
        if state_file and os.path.exists(state_file):
            self.load()

    # ----- lifecycle -----

    def reset(self, persist=True):
        with self.lock:
            self.config = default_config(self.initial_speed)
            self.zone_inventory = zone_inventory()
            self.zones = {zone: empty_zone() for zone in catalogue.ZONES}
            self.fail_next = {"count": 0, "reason": "fault", "message": "injected operation failure"}
            self.faults = []
            self.requests = []
            self.inference_counts = {}
            for zone in catalogue.ZONES:
                self._seed_public_deployments(zone)
            if persist:
                self.save()

    def _seed_public_deployments(self, zone):
        epoch = datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp()
        for entry in catalogue.PUBLIC_DEPLOYMENTS:
            dep_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"exoscale-sim/{zone}/{entry['name']}"))
            self.zones[zone]["deployments"][dep_id] = {
                "id": dep_id, "zone": zone, "name": entry["name"], "visibility": "public",
                "model": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"exoscale-sim/{zone}/model/{entry['model']}")), "name": entry["model"]},
                "gpu-type": entry["gpu-type"], "gpu-count": entry["gpu-count"], "replicas": entry["replicas"],
                "inference-engine-version": catalogue.DEFAULT_ENGINE_VERSION, "inference-engine-parameters": [],
                "service-level": "managed", "created": epoch, "updated": epoch, "fits": True,
                "api-key": "sim-public-" + dep_id.replace("-", "")[:24], "phases": [["ready", epoch, ""]],
            }

    def save(self):
        """Persist resources and inventory atomically (temp file + os.replace)."""
        if not self.state_file:
            return
        data = {"version": STATE_VERSION, "zones": self.zones, "zone_inventory": self.zone_inventory, "fail_next": self.fail_next}
        directory = os.path.dirname(os.path.abspath(self.state_file))
        handle, tmp = tempfile.mkstemp(prefix=".simstate-", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(tmp, self.state_file)

    def load(self):
        with open(self.state_file, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("version") != STATE_VERSION:
            return
        for zone, content in data["zones"].items():
            self.zones[zone] = content
        self.zone_inventory = data["zone_inventory"]
        self.fail_next = data["fail_next"]

    def dump(self):
        with self.lock:
            return copy.deepcopy({"config": self.config, "inventory": self.zone_inventory, "fail_next": self.fail_next,
                                  "faults": self.faults, "zones": self.zones, "now": self.now()})

    # ----- time -----

    def now(self):
        return self.clock()

    def duration(self, name):
        return self.config["timings"][name] / self.config["speed"]

    # ----- operations -----

    def new_operation(self, zone, kind, resource_id, apply):
        """Record an async operation. `apply` performs the action unless a failure was injected."""
        now = self.now()
        op = {"id": new_id(), "created": now, "done": now + self.duration("operation"), "outcome": "success",
              "reference": {"id": resource_id, "link": f"/v2/ai/{kind}/{resource_id}", "command": f"get-{'ai-' if kind == 'api-key' else ''}{kind}"}}
        if self.fail_next["count"] > 0:
            self.fail_next["count"] -= 1
            op.update(outcome="failure", reason=self.fail_next["reason"], message=self.fail_next["message"])
        else:
            apply()
        self.zones[zone]["operations"][op["id"]] = op
        self.save()
        # The answer to the mutation itself is always pending, however fast the speed (and however slow the machine).
        return self.operation_view(op, now)

    def operation_view(self, op, now=None):
        view = {"id": op["id"], "reference": dict(op["reference"])}
        if (self.now() if now is None else now) < op["done"]:
            view["state"] = "pending"
            return view
        view["state"] = op["outcome"]
        if op["outcome"] == "failure":
            view["reason"] = op["reason"]
            view["message"] = op["message"]
        return view

    # ----- models -----

    def add_model(self, zone, name, token, forced=None):
        now = self.now()
        creating_until = now + self.duration("model_creating")
        model = {"id": new_id(), "name": name, "created": now, "size": 0, "creating_until": creating_until,
                 "download_until": creating_until, "outcome": "ready", "details": "", "forced": None}
        # The Hub stand-in decides how the download ends (unknown, gated, bad token, no safetensors), so both agree.
        outcome, fails_after, details = hub.download_outcome(name, token, forced)
        model.update(outcome=outcome, details=details)
        if fails_after != "creating":
            model["size"] = catalogue.MODELS[name]["size"]
            model["download_until"] = creating_until + self.duration("model_download_base") + \
                self.duration("model_download_per_gb") * model["size"] / catalogue.GB
        return model

    def model_state(self, model, now=None):
        now = self.now() if now is None else now
        if model["forced"] and model["forced"]["at"] <= now:
            return "error", model["forced"]["at"]
        if now < model["creating_until"]:
            return "creating", model["created"]
        if now < model["download_until"]:
            return "downloading", model["creating_until"]
        return model["outcome"], model["download_until"]

    def model_view(self, model):
        state, since = self.model_state(model)
        size = model["size"] if state in ("downloading", "ready") else 0
        return {"id": model["id"], "name": model["name"], "state": state, "model-size": size,
                "created-at": iso(model["created"]), "updated-at": iso(since)}

    # ----- deployments -----

    def deployment_state(self, dep, now=None):
        phase = current_phase(dep["phases"], self.now() if now is None else now)
        return phase[0], phase[1], phase[2]

    def ready_since(self, dep, now=None):
        """Start of the current serving period, or None when it does not serve (not ready, 0 replicas).

        A serving deployment scaled from one replica count above 0 to another keeps serving on the replicas it keeps
        (as Kubernetes keeps a Deployment's pods while it scales): its serving period runs on through the scaling."""
        now = self.now() if now is None else now
        if serving_replicas(dep, now) == 0:
            return None
        past = [phase for phase in dep["phases"] if phase[1] <= now] or dep["phases"][:1]
        index = len(past) - 1
        while index > 0 and _serves_through(dep, past[index - 1]):
            index -= 1
        return past[index][1]

    def has_served(self, dep):
        now = self.now()
        return any(phase[0] == "ready" and phase[1] <= now for phase in dep["phases"])

    def schedule(self, dep, steps, final_details=""):
        """Append phases starting now: steps is [(state, duration_name)], then ready (or error when it cannot fit)."""
        now = self.now()
        dep["phases"] = [phase for phase in dep["phases"] if phase[1] <= now]
        at = now
        for state, duration in steps:
            dep["phases"].append([state, at, ""])
            at += self.duration(duration)
        if dep["fits"]:
            dep["phases"].append(["ready", at, final_details])
        else:
            dep["phases"].append(["error", at, dep["fit_error"]])
        dep["updated"] = now

    def force_deployment_error(self, dep, details):
        now = self.now()
        dep["phases"] = [phase for phase in dep["phases"] if phase[1] <= now] + [["error", now, details]]
        dep["updated"] = now

    def gpu_used(self, zone, family, exclude=None):
        return sum(dep["gpu-count"] * dep["replicas"] for dep in self.zones[zone]["deployments"].values()
                   if dep["visibility"] == "private" and dep["gpu-type"] == family and dep["id"] != exclude)

    def gpu_used_in_organization(self, family, exclude=None):
        return sum(self.gpu_used(zone, family, exclude) for zone in self.zones)

    def quotas(self):
        """[{resource, usage, limit}] of the organisation: every configured resource plus every family of any zone's inventory."""
        limits = self.config["limits"]
        families = self.all_families()
        names = list(limits) + [family for family in families if family not in limits]
        return [{"resource": name, "usage": self.gpu_used_in_organization(name) if name in GPU_QUOTA_RESOURCES or name in families else 0,
                 "limit": limits.get(name, -1)} for name in names]

    def families(self, zone):
        """{family: {free, authorized}} that the zone offers (what its GET /ai/instance-type lists)."""
        return self.zone_inventory[zone]

    def all_families(self):
        return sorted({family for families in self.zone_inventory.values() for family in families})

    def gpu_free(self, zone, family, exclude=None):
        """The zone's capacity of the family left for a deployment (capacity is per zone; the quota is the organisation's)."""
        return self.families(zone)[family]["free"] - self.gpu_used(zone, family, exclude)

    def deployment_url(self, dep, base_url, style):
        if not self.has_served(dep):
            return ""
        zone = dep.get("zone", catalogue.DEFAULT_ZONE)
        url = f"{base_url}/inference/{zone}/{dep['id']}"
        return url + "/v1" if style == "v1" else url

    def deployment_view(self, dep, base_url, style, full=True):
        state, since, details = self.deployment_state(dep)
        view = {"id": dep["id"], "name": dep["name"], "state": state, "gpu-type": dep["gpu-type"], "gpu-count": dep["gpu-count"],
                "replicas": dep["replicas"], "model": dict(dep["model"]), "deployment-url": self.deployment_url(dep, base_url, style),
                "service-level": dep["service-level"], "visibility": dep["visibility"],
                "created-at": iso(dep["created"]), "updated-at": iso(max(since, dep["updated"]))}
        if full:
            view["state-details"] = details
            view["inference-engine-version"] = dep["inference-engine-version"]
            view["inference-engine-parameters"] = list(dep["inference-engine-parameters"])
        return view
