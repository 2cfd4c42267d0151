"""SimulatorControl: a small stdlib client of the simulator's unsigned /_sim/ control API, for tests."""
import json
import urllib.error
import urllib.parse
import urllib.request


class SimulatorControl:
    def __init__(self, url, timeout=10):
        base = url.rstrip("/")
        if base.endswith("/v2"):
            base = base[:-3]
        self.base = base
        self.timeout = timeout
        # Never go through a proxy: the simulator is local.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"simulator control {method} {path} failed: {error.code} {error.read().decode(errors='replace')}") from None

    def inject(self, method, path, action="status", status=None, count=1, retry_after=None, delay=None, body=None,
               content_type=None, duration=None):
        """Make the next `count` requests matching method ("*" for any) and the path glob fail with `action`
        (status: 503 by default, 200 for action raw)."""
        fault = {"method": method, "path": path, "action": action, "count": count}
        for name, value in (("status", status), ("retry_after", retry_after), ("delay", delay), ("body", body), ("content_type", content_type),
                            ("duration", duration)):
            if value is not None:
                fault[name] = value
        return self._call("POST", "/_sim/faults", fault)

    def faults(self):
        return self._call("GET", "/_sim/faults")["faults"]

    def clear_faults(self):
        return self._call("DELETE", "/_sim/faults")

    def requests(self, kind="api"):
        """Requests received (kind "api", "inference" or None for both), oldest first."""
        entries = self._call("GET", "/_sim/requests")["requests"]
        return [entry for entry in entries if kind is None or entry["kind"] == kind]

    def clear_requests(self):
        return self._call("DELETE", "/_sim/requests")

    def reset(self):
        return self._call("POST", "/_sim/reset", {})

    def error_deployment(self, deployment_id, details="simulated failure", zone=None, cause=None):
        """Deployment -> error now: with `cause` (engine.CAUSES) vLLM's wording and logs for it, else `details` as given."""
        suffix = f"?zone={zone}" if zone else ""
        body = {"cause": cause} if cause else {"state_details": details}
        return self._call("POST", f"/_sim/deployments/{deployment_id}/error{suffix}", body)

    def force_failure(self, cause, deployment=None, model=None, count=1):
        """The next `count` start-ups of deployments named `deployment` (or creates of model repo `model`) fail with `cause`."""
        target = {"deployment": deployment} if deployment is not None else {"model": model}
        return self._call("POST", "/_sim/failures", dict(target, cause=cause, count=count))

    def failures(self):
        return self._call("GET", "/_sim/failures")["failures"]

    def clear_failures(self):
        return self._call("DELETE", "/_sim/failures")

    def latency_model(self, deployment, concurrency=1, prompt_tokens=None, zone=None):
        """The latency model's expected figures for a deployment (id or name) at a concurrency."""
        query = f"deployment={urllib.parse.quote(deployment)}&concurrency={concurrency}"
        if prompt_tokens is not None:
            query += f"&prompt_tokens={prompt_tokens}"
        if zone:
            query += f"&zone={zone}"
        return self._call("GET", f"/_sim/latency-model?{query}")

    def error_model(self, model_id, details="simulated failure", zone=None):
        suffix = f"?zone={zone}" if zone else ""
        return self._call("POST", f"/_sim/models/{model_id}/error{suffix}", {"state_details": details})

    def fail_next_operation(self, count=1, reason="fault", message="injected operation failure"):
        return self._call("POST", "/_sim/operations/fail-next", {"count": count, "reason": reason, "message": message})

    def config(self, **settings):
        """Change settings (speed, clock_skew, inference_warmup, timings, quota, limits); without arguments, read them."""
        if not settings:
            return self._call("GET", "/_sim/config")
        return self._call("POST", "/_sim/config", settings)

    def inventory(self, families=None, zone=None, **kwargs):
        """Set GPU families, e.g. inventory(gpua5000={"free": 4, "authorized": True}), in every zone or in `zone` only
        (None as an entry: the zone(s) no longer offer that family); without families, read one zone's (default zone)."""
        families = dict(families or {}, **kwargs)
        suffix = f"?zone={zone}" if zone else ""
        if not families:
            return self._call("GET", "/_sim/inventory" + suffix)
        return self._call("POST", "/_sim/inventory" + suffix, families)

    def zones(self, zones=None, preset=None):
        """Per-zone GPU families: `preset` ("uniform", "exoscale-2026") replaces all zones, then `zones`
        ({zone: {family: {free, authorized} | None}}) is merged; without arguments, read {zone: families}."""
        if zones is None and preset is None:
            return self._call("GET", "/_sim/zones")["zones"]
        body = {"zones": zones or {}}
        if preset is not None:
            body["preset"] = preset
        return self._call("POST", "/_sim/zones", body)["zones"]

    def limits(self, resources=None, **kwargs):
        """Set organisation quota limits (GET /v2/quota), e.g. limits(gpua5000=4) (-1 = unlimited); without arguments, read them."""
        resources = dict(resources or {}, **kwargs)
        if not resources:
            return self._call("GET", "/_sim/limits")
        return self._call("POST", "/_sim/limits", resources)

    def state(self):
        return self._call("GET", "/_sim/state")

    def queueing(self, deployment=None, gpu_type=None, gpu_count=None, **profile):
        """Set a queueing profile (slots, prefill_tokens_per_s, decode_tokens_per_s) for a deployment (name or id) or a
        GPU family (and count); without arguments, list the profiles."""
        if deployment is None and gpu_type is None:
            return self._call("GET", "/_sim/queueing")["profiles"]
        target = {"deployment": deployment} if deployment is not None else {"gpu_type": gpu_type}
        if gpu_count is not None:
            target["gpu_count"] = gpu_count
        return self._call("POST", "/_sim/queueing", dict(target, **profile))

    def clear_queueing(self):
        return self._call("DELETE", "/_sim/queueing")

    def capacity(self, deployment, prompt_tokens=16, output_tokens=16, zone=None):
        """The deployment's capacity under its queueing profile (capacity_rps at the current speed, at_speed_1)."""
        query = f"deployment={urllib.parse.quote(deployment)}&prompt_tokens={prompt_tokens}&output_tokens={output_tokens}"
        if zone:
            query += f"&zone={zone}"
        return self._call("GET", f"/_sim/queueing/capacity?{query}")

    def inference_log(self):
        """Completions served, oldest first, with their timings: arrival (epoch s), queue_s, ttft_s, tpot_s, e2el_s."""
        return self._call("GET", "/_sim/inference-log")["requests"]

    def clear_inference_log(self):
        return self._call("DELETE", "/_sim/inference-log")
