"""State machines and their timing, driven by a fake clock (so realistic durations cost no real time)."""
import pytest

from tests.simulator.tests.conftest import SignedClient
from exoscale_ai_simulator import state
from exoscale_ai_simulator.server import start_in_thread

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


class FakeClock:
    def __init__(self):
        self.now = 1_795_000_000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def _start(clock, speed):
    handle = start_in_thread(speed=speed, clock=clock)
    return handle, SignedClient(handle.base, handle.key, handle.secret)


@pytest.fixture
def world(clock):
    """(clock, client, store) with speed 1: the realistic durations."""
    handle, client = _start(clock, 1.0)
    yield clock, client, handle.store
    client.http.close()
    handle.stop()


def _timeline(clock, client, path, record, step, limit):
    """Advance the clock by ``step`` until ready or error; each state change as ``(state, seconds) + record(resource)``."""
    seen, elapsed = [], 0.0
    while elapsed <= limit:
        resource = client.ok("GET", path)
        if not seen or seen[-1][0] != resource["state"]:
            seen.append((resource["state"], elapsed) + record(resource))
        if resource["state"] in ("ready", "error"):
            return seen
        clock.advance(step)
        elapsed += step
    return seen


def _model_states(clock, client, name, token=None, step=0.5, limit=120):
    body = {"name": name, **({"huggingface-token": token} if token else {})}
    model_id = client.ok("POST", "/ai/model", body)["reference"]["id"]
    return _timeline(clock, client, f"/ai/model/{model_id}", lambda model: (model["model-size"],), step, limit)


def test_operation_pending_then_success_after_one_second(world):
    clock, client, _unused = world
    operation = client.ok("POST", "/ai/model", {"name": QWEN})
    clock.advance(0.9)
    assert client.ok("GET", f"/operation/{operation['id']}")["state"] == "pending"
    clock.advance(0.2)
    assert client.ok("GET", f"/operation/{operation['id']}")["state"] == "success"


def test_small_model_downloads_in_seconds(world):
    clock, client, _unused = world
    states = _model_states(clock, client, QWEN)
    assert [s[0] for s in states] == ["creating", "downloading", "ready"]
    assert states[0][2] == 0 and states[1][2] == states[2][2] == 988_097_824
    assert states[1][1] == pytest.approx(2.0, abs=0.5)
    assert 4 <= states[2][1] <= 8


def test_big_model_download_takes_about_a_minute(world):
    clock, client, _unused = world
    states = _model_states(clock, client, "openai/gpt-oss-120b", step=2)
    assert states[-1][0] == "ready" and 50 <= states[-1][1] <= 75 and states[-1][2] > 60_000_000_000


def test_speed_divides_durations(clock):
    handle, client = _start(clock, 10.0)
    try:
        states = _model_states(clock, client, "openai/gpt-oss-120b", step=0.2)
        assert states[-1][0] == "ready" and 5 <= states[-1][1] <= 7.5
    finally:
        client.http.close()
        handle.stop()


@pytest.mark.parametrize("name, token, states", [
    ("meta-llama/Llama-3.1-8B-Instruct", None, ["creating", "error"]),
    ("meta-llama/Llama-3.1-8B-Instruct", "not-a-token", ["creating", "error"]),
    ("meta-llama/Llama-3.1-8B-Instruct", "hf_abcdef", ["creating", "downloading", "ready"]),
    ("someone/does-not-exist", None, ["creating", "error"]),
    ("ggml-org/gpt-oss-120b-GGUF", None, ["creating", "downloading", "error"]),
])
def test_model_outcomes(world, name, token, states):
    clock, client, _unused = world
    assert [s[0] for s in _model_states(clock, client, name, token, step=2)] == states


def _ready_model(clock, client, name=QWEN):
    states = _model_states(clock, client, name)
    assert states[-1][0] == "ready"
    return client.ok("GET", "/ai/model")["models"][-1]


def _deployment_states(clock, client, dep_id, step=1.0, limit=120):
    return _timeline(clock, client, f"/ai/deployment/{dep_id}",
                     lambda dep: (dep["deployment-url"], dep.get("state-details")), step, limit)


def test_deployment_timeline_url_and_key(world):
    clock, client, _unused = world
    model = _ready_model(clock, client)
    body = {"name": "d", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1}
    dep_id = client.ok("POST", "/ai/deployment", body)["reference"]["id"]
    assert client.ok("GET", f"/ai/deployment/{dep_id}/api-key") == {"api-key": ""}
    states = _deployment_states(clock, client, dep_id)
    assert [(s[0], s[1]) for s in states] == [("creating", 0), ("preparing", 5), ("deploying", 20), ("ready", 60)]
    assert all(s[2] == "" for s in states[:-1]) and states[-1][2].startswith("http://127.0.0.1:")
    assert client.ok("GET", f"/ai/deployment/{dep_id}/api-key")["api-key"].startswith("sk-")

    client.ok("POST", f"/ai/deployment/{dep_id}/scale", {"replicas": 0})
    scaled = _deployment_states(clock, client, dep_id)
    assert [(s[0], s[1]) for s in scaled] == [("scaling", 0), ("ready", 10)]
    assert client.ok("GET", f"/ai/deployment/{dep_id}")["replicas"] == 0

    client.ok("PATCH", f"/ai/deployment/{dep_id}", {"inference-engine-version": "0.27.1"})
    updated = _deployment_states(clock, client, dep_id)
    assert [(s[0], s[1]) for s in updated] == [("updating", 0), ("ready", 20)]
    client.ok("PATCH", f"/ai/deployment/{dep_id}", {"name": "renamed"})
    assert client.ok("GET", f"/ai/deployment/{dep_id}")["state"] == "ready"
    clock.advance(1.1)
    assert client.ok("GET", f"/ai/deployment/{dep_id}")["name"] == "renamed"


def test_scaling_between_counts_above_zero_keeps_serving_the_kept_replicas(world):
    """2 -> 1 -> 3 replicas: the deployment answers throughout, on min(before, after) replicas while it scales, in one
    serving period (no new warm-up); 0 -> 1 starts from nothing and serves only once ready."""
    clock, client, store = world
    model = _ready_model(clock, client)
    body = {"name": "d", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 2}
    dep_id = client.ok("POST", "/ai/deployment", body)["reference"]["id"]
    assert _deployment_states(clock, client, dep_id)[-1][0] == "ready"
    dep = store.zones["ch-gva-2"]["deployments"][dep_id]
    serving_since = store.ready_since(dep)
    for replicas, kept in ((1, 1), (3, 1)):
        client.ok("POST", f"/ai/deployment/{dep_id}/scale", {"replicas": replicas})
        assert client.ok("GET", f"/ai/deployment/{dep_id}")["state"] == "scaling"
        assert state.serving_replicas(dep, store.now()) == kept and store.ready_since(dep) == serving_since
        clock.advance(11)
        assert state.serving_replicas(dep, store.now()) == replicas and store.ready_since(dep) == serving_since
    client.ok("POST", f"/ai/deployment/{dep_id}/scale", {"replicas": 0})
    assert store.ready_since(dep) is None
    clock.advance(11)
    client.ok("POST", f"/ai/deployment/{dep_id}/scale", {"replicas": 1})
    assert state.serving_replicas(dep, store.now()) == 0 and store.ready_since(dep) is None
    clock.advance(11)
    assert state.serving_replicas(dep, store.now()) == 1 and store.ready_since(dep) > serving_since


def test_model_that_does_not_fit_ends_in_error_with_logs(world):
    clock, client, _unused = world
    model = _ready_model(clock, client, "openai/gpt-oss-20b")
    body = {"name": "small-gpu", "model": {"id": model["id"]}, "gpu-type": "gpu3080ti", "gpu-count": 1, "replicas": 1}
    dep_id = client.ok("POST", "/ai/deployment", body)["reference"]["id"]
    states = _deployment_states(clock, client, dep_id)
    assert states[-1][0] == "error" and "CUDA out of memory" in states[-1][3]
    logs = client.ok("GET", f"/ai/deployment/{dep_id}/logs")["logs"]
    assert "ERROR" in logs[-2]["message"] and "CUDA out of memory" in logs[-2]["message"]


def test_forced_errors_through_the_control_api(world):
    clock, client, store = world
    model = _ready_model(clock, client)
    body = {"name": "d", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1}
    dep_id = client.ok("POST", "/ai/deployment", body)["reference"]["id"]
    clock.advance(30)
    with store.lock:
        store.force_deployment_error(store.zones["ch-gva-2"]["deployments"][dep_id], "node lost")
    clock.advance(60)
    dep = client.ok("GET", f"/ai/deployment/{dep_id}")
    assert dep["state"] == "error" and dep["state-details"] == "node lost"
    assert any("node lost" in line["message"] for line in client.ok("GET", f"/ai/deployment/{dep_id}/logs")["logs"])
    client.ok("POST", f"/ai/deployment/{dep_id}/scale", {"replicas": 1})
    assert [s[0] for s in _deployment_states(clock, client, dep_id)] == ["scaling", "ready"]


def test_failed_operation_does_not_take_effect(world):
    clock, client, store = world
    store.fail_next = {"count": 1, "reason": "unavailable", "message": "no capacity"}
    operation = client.ok("POST", "/ai/model", {"name": QWEN})
    clock.advance(1.5)
    final = client.ok("GET", f"/operation/{operation['id']}")
    assert final["state"] == "failure" and final["reason"] == "unavailable" and final["message"] == "no capacity"
    assert client.get(f"/ai/model/{operation['reference']['id']}").status_code == 404
    assert client.ok("GET", "/ai/model")["models"] == []
