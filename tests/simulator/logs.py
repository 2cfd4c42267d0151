"""vLLM-like log lines of a deployment, derived from its phases (so they follow the lazy timeline)."""
from .state import iso


def _phase_lines(dep, state, details):
    model = dep["model"]["name"]
    version = dep["inference-engine-version"]
    args = " ".join(dep["inference-engine-parameters"]) or "(none)"
    if state == "creating":
        return [f"Deployment {dep['name']} accepted: {dep['replicas']} replica(s) of {dep['gpu-count']}x {dep['gpu-type']}"]
    if state == "preparing":
        return [f"Pulling image registry.exoscale.com/inference/vllm-openai:v{version}", f"Fetching weights of {model} from the model store"]
    if state == "deploying":
        return [f"INFO [api_server.py] vLLM API server version {version}",
                f"INFO [api_server.py] args: model={model} tensor_parallel_size={dep['gpu-count']} extra={args}",
                f"INFO [gpu_model_runner.py] Starting to load model {model}...",
                "INFO [default_loader.py] Loading weights took 4.21 seconds",
                "INFO [gpu_worker.py] Available KV cache memory: 8.52 GiB",
                "INFO [core.py] init engine (profile, create kv cache, warmup model) took 12.07 seconds"]
    if state == "ready":
        return ["INFO [launcher.py] Starting vLLM API server on http://0.0.0.0:8000",
                "INFO:     Waiting for application startup.", "INFO:     Application startup complete."]
    if state == "scaling":
        return [f"Scaling deployment {dep['name']} to {dep['replicas']} replica(s)"]
    if state == "updating":
        return [f"Restarting with engine version {version} and args {args}"]
    if state == "error":
        return [f"ERROR [core.py] EngineCore failed to start: {details}", "ERROR [api_server.py] RuntimeError: Engine core initialization failed."]
    return []


def deployment_logs(store, dep, tail=None):
    now = store.now()
    node = f"{dep['gpu-type']}-{dep['id'][:8]}-0"
    step = 0.2 / store.config["speed"]
    entries = []
    for state, start, details in dep["phases"]:
        if start > now:
            break
        for index, message in enumerate(_phase_lines(dep, state, details)):
            entries.append((min(start + index * step, now), message))
    entries.extend((at, message) for at, message in dep.get("extra_logs", []) if at <= now)
    entries.sort(key=lambda entry: entry[0])
    if tail is not None:
        entries = entries[-tail:] if tail > 0 else []
    return [{"time": iso(at, millis=True), "node": node, "message": message} for at, message in entries]
