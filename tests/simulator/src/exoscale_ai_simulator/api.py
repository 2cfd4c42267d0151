"""The AI API operations: what each endpoint checks, changes and answers (HTTP-free)."""
import secrets

from . import catalogue, engine, failures
from .errors import ApiError
from .logs import deployment_logs
from .state import iso, new_id
from .validation import is_uuid

# PATCH and scale answer 409 in these states; delete is always accepted (it cancels whatever runs).
BUSY_STATES = ("creating", "preparing", "deploying", "scaling", "updating")
IMMUTABLE_FIELDS = ("model", "gpu-type", "gpu-count", "replicas", "visibility", "service-level")


def _engine_version(version):
    if version not in catalogue.ENGINE_VERSIONS:
        raise ApiError(400, f"unknown inference engine version {version!r}, allowed values: {', '.join(catalogue.ENGINE_VERSIONS)}")
    return version


def check_engine_parameters(version, parameters):
    """Every entry must start with a flag the engine version knows; choice flags must use allowed values."""
    flags = catalogue.engine_flags(version)
    for entry in parameters:
        text = entry.strip()
        if not text.startswith("-"):
            raise ApiError(400, f"inference-engine-parameters: {entry!r} is not a flag (expected e.g. --max-model-len=8192)")
        flag, value = (text.split("=", 1) + [None])[:2] if "=" in text else (text.split(None, 1) + [None])[:2]
        if flag not in flags:
            raise ApiError(400, f"inference-engine-parameters: unknown flag {flag} for inference engine version {version}")
        allowed = flags[flag]["allowed-values"]
        if allowed and value is not None and value.strip() not in allowed:
            raise ApiError(400, f"inference-engine-parameters: invalid value {value.strip()!r} for {flag}, allowed values: {', '.join(allowed)}")


def check_patch_fields(body):
    """PATCH may only change some fields: say so explicitly for the others (before the generic schema check)."""
    for field in IMMUTABLE_FIELDS:
        if isinstance(body, dict) and field in body:
            raise ApiError(400, f"{field}: cannot be changed (only name, inference-engine-version and inference-engine-parameters)")


class AiApi:
    def __init__(self, store, options):
        self.store = store
        self.options = options  # {"base_url": ..., "url_style": "v1"|"bare"}

    # ----- helpers -----

    def _zone(self, zone):
        return self.store.zones[zone]

    def _get(self, zone, kind, resource_id, label):
        if not is_uuid(resource_id):
            raise ApiError(404, f"{label} {resource_id!r} not found: not a valid UUID")
        found = self._zone(zone)[kind].get(resource_id)
        if found is None:
            raise ApiError(404, f"{label} {resource_id} not found in zone {zone}")
        return found

    def _private_deployment(self, zone, dep_id):
        dep = self._get(zone, "deployments", dep_id, "deployment")
        if dep["visibility"] != "private":
            raise ApiError(403, f"deployment {dep_id} is managed by Exoscale and cannot be changed")
        return dep

    def _dep_view(self, dep, full=True):
        return self.store.deployment_view(dep, self.options["base_url"], self.options["url_style"], full)

    # ----- models -----

    def list_models(self, zone, query, body):
        return 200, {"models": [self.store.model_view(m) for m in self._zone(zone)["models"].values()]}

    def get_model(self, zone, query, body, model_id):
        return 200, self.store.model_view(self._get(zone, "models", model_id, "model"))

    def create_model(self, zone, query, body):
        model = self.store.add_model(zone, body["name"], body.get("huggingface-token"), failures.take(self.store, model=body["name"]))
        return 200, self.store.new_operation(zone, "model", model["id"], lambda: self._zone(zone)["models"].__setitem__(model["id"], model))

    def delete_model(self, zone, query, body, model_id):
        model = self._get(zone, "models", model_id, "model")
        users = [dep["name"] for dep in self._zone(zone)["deployments"].values() if dep["model"]["id"] == model["id"]]
        if users:
            raise ApiError(412, "model in use", body={"deployments": users})
        return 200, self.store.new_operation(zone, "model", model_id, lambda: self._zone(zone)["models"].pop(model_id))

    # ----- deployments -----

    def list_deployments(self, zone, query, body):
        visibility = query.get("visibility")
        if visibility not in (None, "private", "public"):
            raise ApiError(400, f"visibility: invalid value {visibility!r}, allowed values: private, public")
        deps = [dep for dep in self._zone(zone)["deployments"].values() if visibility in (None, dep["visibility"])]
        return 200, {"deployments": [self._dep_view(dep, full=False) for dep in deps]}

    def get_deployment(self, zone, query, body, dep_id):
        return 200, self._dep_view(self._get(zone, "deployments", dep_id, "deployment"))

    def _resolve_model(self, zone, ref):
        models = self._zone(zone)["models"].values()
        if "id" in ref:
            candidates = [m for m in models if m["id"] == ref["id"]]
        else:
            candidates = [m for m in models if m["name"] == ref["name"]]
        if not candidates:
            raise ApiError(400, f"model: no model {ref.get('id') or ref.get('name')!r} in zone {zone}")
        ready = [m for m in candidates if self.store.model_state(m)[0] == "ready"]
        if not ready:
            state = self.store.model_state(candidates[0])[0]
            raise ApiError(412, f"model: {candidates[0]['name']} is not ready (state {state})")
        return ready[0]

    def _check_gpus(self, zone, family, needed, exclude=None):
        offered = self.store.families(zone)
        if family not in offered:
            elsewhere = " (offered in other zones)" if family in self.store.all_families() else ""
            raise ApiError(400, f"gpu-type: GPU family {family!r} is not offered in zone {zone}{elsewhere}, allowed values: "
                                f"{', '.join(offered) or '(none)'}")
        if not offered[family]["authorized"]:
            raise ApiError(412, f"gpu-type: your organization is not authorized to use {family} in zone {zone}")
        self._check_quota(family, needed, exclude)
        free = self.store.gpu_free(zone, family, exclude)
        if needed > free:
            raise ApiError(412, f"not enough {family} GPUs available in {zone}: {needed} requested, {max(free, 0)} free")

    def _check_quota(self, family, needed, exclude):
        """The organisation's GPU quota of the family (all zones): 403 when a create or scale-up would exceed it."""
        limit = self.store.config["limits"].get(family, -1)
        others = self.store.gpu_used_in_organization(family, exclude)
        current = self.store.gpu_used_in_organization(family)
        if limit != -1 and others + needed > limit and others + needed > current:
            raise ApiError(403, f"gpu-type: quota exceeded for {family}: {needed} GPU(s) requested, {others} of {limit} in use by the "
                                f"organization (GET /v2/quota/{family}); ask Exoscale support to raise it")

    def create_deployment(self, zone, query, body):
        if body["gpu-count"] > catalogue.MAX_GPU_COUNT:
            raise ApiError(400, f"gpu-count: must be between 1 and {catalogue.MAX_GPU_COUNT}")
        version = _engine_version(body.get("inference-engine-version", catalogue.DEFAULT_ENGINE_VERSION))
        parameters = body.get("inference-engine-parameters", [])
        check_engine_parameters(version, parameters)
        family = body["gpu-type"]
        self._check_gpus(zone, family, 0)
        model = self._resolve_model(zone, body["model"])
        self._check_gpus(zone, family, body["gpu-count"] * body["replicas"])
        now = self.store.now()
        dep = {"id": new_id(), "zone": zone, "name": body["name"], "visibility": "private", "model": {"id": model["id"], "name": model["name"]},
               "gpu-type": family, "gpu-count": body["gpu-count"], "replicas": body["replicas"], "inference-engine-version": version,
               "inference-engine-parameters": list(parameters), "service-level": "standard", "created": now, "updated": now,
               "api-key": "sk-sim-" + secrets.token_hex(16), "phases": []}
        # The engine's start-up at the end of deploying decides ready or error (engine.py: memory model, vLLM failures).
        engine.schedule_start(self.store, dep, [("creating", "deployment_creating"), ("preparing", "deployment_preparing"),
                                                ("deploying", "deployment_deploying")], failures.take(self.store, deployment=dep["name"]))
        return 200, self.store.new_operation(zone, "deployment", dep["id"], lambda: self._zone(zone)["deployments"].__setitem__(dep["id"], dep))

    def _check_idle(self, dep):
        state = self.store.deployment_state(dep)[0]
        if state in BUSY_STATES:
            raise ApiError(409, f"deployment {dep['id']} is {state}: another operation is in progress, retry later")

    def update_deployment(self, zone, query, body, dep_id):
        dep = self._private_deployment(zone, dep_id)
        if not body:
            raise ApiError(400, "nothing to update: give name, inference-engine-version or inference-engine-parameters")
        self._check_idle(dep)
        version = _engine_version(body.get("inference-engine-version", dep["inference-engine-version"]))
        parameters = body.get("inference-engine-parameters", dep["inference-engine-parameters"])
        check_engine_parameters(version, parameters)
        restart = version != dep["inference-engine-version"] or parameters != dep["inference-engine-parameters"]

        def apply():
            dep["name"] = body.get("name", dep["name"])
            dep["updated"] = self.store.now()
            if restart:
                dep["inference-engine-version"] = version
                dep["inference-engine-parameters"] = list(parameters)
                engine.schedule_start(self.store, dep, [("updating", "deployment_updating")], failures.take(self.store, deployment=dep["name"]))
        return 200, self.store.new_operation(zone, "deployment", dep_id, apply)

    def scale_deployment(self, zone, query, body, dep_id):
        dep = self._private_deployment(zone, dep_id)
        self._check_idle(dep)
        replicas = body["replicas"]
        self._check_gpus(zone, dep["gpu-type"], dep["gpu-count"] * replicas, exclude=dep["id"])

        def apply():
            kept = min(dep["replicas"], replicas) if self.store.ready_since(dep) is not None else 0
            dep["replicas"] = replicas
            forced = failures.take(self.store, deployment=dep["name"]) if replicas else None
            engine.schedule_start(self.store, dep, [("scaling", "deployment_scaling")], forced)
            if kept and not forced:
                started = [phase[1] for phase in dep["phases"] if phase[0] == "scaling"][-1]
                dep.setdefault("serving_while_scaling", {})[repr(started)] = kept
        return 200, self.store.new_operation(zone, "deployment", dep_id, apply)

    def delete_deployment(self, zone, query, body, dep_id):
        self._private_deployment(zone, dep_id)
        return 200, self.store.new_operation(zone, "deployment", dep_id, lambda: self._zone(zone)["deployments"].pop(dep_id))

    def reveal_deployment_api_key(self, zone, query, body, dep_id):
        dep = self._get(zone, "deployments", dep_id, "deployment")
        if dep["visibility"] != "private":
            raise ApiError(403, f"deployment {dep_id} is managed by Exoscale: use an organization AI API key")
        return 200, {"api-key": dep["api-key"] if self.store.has_served(dep) else ""}

    def get_deployment_logs(self, zone, query, body, dep_id):
        dep = self._get(zone, "deployments", dep_id, "deployment")
        tail = query.get("tail")
        if tail is not None:
            if not tail.lstrip("-").isdigit():
                raise ApiError(400, f"tail: must be an integer, got {tail!r}")
            tail = int(tail)
            if tail < 0:
                raise ApiError(400, "tail: must be >= 0")
        return 200, {"logs": deployment_logs(self.store, dep, tail)}

    # ----- catalogue-like endpoints -----

    def list_instance_types(self, zone, query, body):
        # Per zone, as on Exoscale: the families this zone offers and whether the organization may use them here.
        return 200, {"instance-types": [{"family": family, "authorized": entry["authorized"]}
                                        for family, entry in self.store.families(zone).items()]}

    def get_engine_help(self, zone, query, body):
        version = _engine_version(query.get("version", catalogue.DEFAULT_ENGINE_VERSION))
        return 200, {"parameters": catalogue.engine_parameters(version)}

    def get_quota(self, zone, query, body):
        return 200, {"quota-uom-per-minute": self.store.config["quota"]}

    # ----- organisation quotas (core API) -----

    def list_quotas(self, zone, query, body):
        return 200, {"quotas": self.store.quotas()}

    def get_resource_quota(self, zone, query, body, entity):
        for quota in self.store.quotas():
            if quota["resource"] == entity:
                return 200, quota
        raise ApiError(404, f"quota for resource {entity!r} not found")

    # ----- operations -----

    def get_operation(self, zone, query, body, op_id):
        return 200, self.store.operation_view(self._get(zone, "operations", op_id, "operation"))

    # ----- organization AI API keys -----

    @staticmethod
    def _key_view(key, with_value=False):
        view = {"id": key["id"], "org-uuid": catalogue.ORG_UUID, "name": key["name"], "scope": key["scope"],
                "created-at": iso(key["created"]), "updated-at": iso(key["created"])}
        if with_value:
            view["value"] = key["value"]
        return view

    def list_api_keys(self, zone, query, body):
        return 200, {"ai-api-keys": [self._key_view(key) for key in self._zone(zone)["api_keys"].values()]}

    def get_api_key(self, zone, query, body, key_id):
        return 200, self._key_view(self._get(zone, "api_keys", key_id, "AI API key"))

    def create_api_key(self, zone, query, body):
        scope = body["scope"]
        if scope != "public":
            if not is_uuid(scope):
                raise ApiError(400, f"scope: must be 'public' or a deployment UUID, got {scope!r}")
            self._get(zone, "deployments", scope, "deployment")
        key = {"id": new_id(), "name": body["name"], "scope": scope, "created": self.store.now(), "value": "sk-exo-" + secrets.token_hex(20)}
        self._zone(zone)["api_keys"][key["id"]] = key
        self.store.save()
        return 200, self._key_view(key, with_value=True)

    def delete_api_key(self, zone, query, body, key_id):
        self._get(zone, "api_keys", key_id, "AI API key")
        return 200, self.store.new_operation(zone, "api-key", key_id, lambda: self._zone(zone)["api_keys"].pop(key_id))


# (method, spec path template, handler name). The server validates bodies against the template's schema.
ROUTES = [
    ("GET", "/ai/model", "list_models"),
    ("POST", "/ai/model", "create_model"),
    ("GET", "/ai/model/{id}", "get_model"),
    ("DELETE", "/ai/model/{id}", "delete_model"),
    ("GET", "/ai/deployment", "list_deployments"),
    ("POST", "/ai/deployment", "create_deployment"),
    ("GET", "/ai/deployment/{id}", "get_deployment"),
    ("PATCH", "/ai/deployment/{id}", "update_deployment"),
    ("DELETE", "/ai/deployment/{id}", "delete_deployment"),
    ("POST", "/ai/deployment/{id}/scale", "scale_deployment"),
    ("GET", "/ai/deployment/{id}/api-key", "reveal_deployment_api_key"),
    ("GET", "/ai/deployment/{id}/logs", "get_deployment_logs"),
    ("GET", "/ai/instance-type", "list_instance_types"),
    ("GET", "/ai/help/inference-engine-parameters", "get_engine_help"),
    ("GET", "/ai/quota", "get_quota"),
    ("GET", "/ai/api-key", "list_api_keys"),
    ("POST", "/ai/api-key", "create_api_key"),
    ("GET", "/ai/api-key/{id}", "get_api_key"),
    ("DELETE", "/ai/api-key/{id}", "delete_api_key"),
    ("GET", "/operation/{id}", "get_operation"),
    ("GET", "/quota", "list_quotas"),
    ("GET", "/quota/{entity}", "get_resource_quota"),
]
