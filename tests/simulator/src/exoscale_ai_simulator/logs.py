"""Log lines of a deployment, derived from its phases (so they follow the lazy timeline).

The platform's own lines (accepted, pulling the image, scaling) are plain; the engine's are vLLM's, in its
format `(APIServer pid=1) INFO 12-01 09:30:12 [api_server.py:1885] ...`, from the start-up that
engine.schedule_start filed under the ready/error phase it ends in (engine.py decides what it says).
"""
from datetime import datetime, timezone

from . import engine
from .state import iso

READY_LINES = [[engine.API, "INFO", "api_server.py:1971", "Starting vLLM API server 0 on http://0.0.0.0:8000"],
               [engine.API, None, None, "INFO:     Started server process [1]"],
               [engine.API, None, None, "INFO:     Waiting for application startup."],
               [engine.API, None, None, "INFO:     Application startup complete."]]


def _vllm_line(line, at):
    process, level, source, message = line
    if level is None:
        return f"({process}) {message}"
    stamp = datetime.fromtimestamp(at, tz=timezone.utc).strftime("%m-%d %H:%M:%S")
    return f"({process}) {level} {stamp} [{source}] {message}"


def _platform_lines(dep, state):
    version = dep["inference-engine-version"]
    args = " ".join(dep["inference-engine-parameters"]) or "(none)"
    if state == "creating":
        return [f"Deployment {dep['name']} accepted: {dep['replicas']} replica(s) of {dep['gpu-count']}x {dep['gpu-type']}"]
    if state == "preparing":
        return [f"Pulling image registry.exoscale.com/inference/vllm-openai:v{version}",
                f"Fetching weights of {dep['model']['name']} from the model store"]
    if state == "deploying":
        return [f"Starting vllm serve {dep['model']['name']} with {dep['gpu-count']} GPU(s), args {args}"]
    if state == "scaling":
        return [f"Scaling deployment {dep['name']} to {dep['replicas']} replica(s)"]
    if state == "updating":
        return [f"Restarting with engine version {version} and args {args}"]
    return []


def _engine_run(dep, start):
    """The start-up filed for a ready/error phase; for deployments without one (public), a fresh start-up."""
    run = dep.get("runs", {}).get(repr(start))
    if run is None:
        run = engine.startup(dep["model"]["name"], dep["gpu-type"], dep["gpu-count"], dep["inference-engine-parameters"],
                             dep["inference-engine-version"])
    return run


def _phase_entries(dep, state, start, details, step):
    """[(time, message)] of one phase. Engine start-up lines end where the phase starts (they precede ready/error)."""
    if state not in ("ready", "error"):
        return [(start + index * step, message) for index, message in enumerate(_platform_lines(dep, state))]
    run = _engine_run(dep, start)
    if state == "error" and run.get("cause") is None:
        # An error given only as text (control API state_details, or a run that did start): vLLM's generic tail.
        lines, after = engine.generic_failure(details), []
    elif state == "error":
        lines, after = run["lines"], []
    else:
        lines, after = run["lines"], READY_LINES
    before = [(start - (len(lines) - 1 - index) * step, line) for index, line in enumerate(lines)]
    later = [(start + (index + 1) * step, line) for index, line in enumerate(after)]
    if state == "error" and run.get("cause") is None:
        before = [(start + index * step, line) for index, line in enumerate(lines)]
    return [(at, _vllm_line(line, at)) for at, line in before + later]


def deployment_logs(store, dep, tail=None):
    now = store.now()
    node = f"{dep['gpu-type']}-{dep['id'][:8]}-0"
    step = 0.2 / store.config["speed"]
    entries = []
    for state, start, details in dep["phases"]:
        if start > now:
            break
        entries.extend((min(at, now), message) for at, message in _phase_entries(dep, state, start, details, step))
    entries.extend((at, message) for at, message in dep.get("extra_logs", []) if at <= now)
    entries.sort(key=lambda entry: entry[0])
    if tail is not None:
        entries = entries[-tail:] if tail > 0 else []
    return [{"time": iso(at, millis=True), "node": node, "message": message} for at, message in entries]
