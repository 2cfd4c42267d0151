"""The simulator as a process: the repo-wide fixtures, persistence across restarts, default credentials, speed."""
import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT, start_simulator_process, stop_simulator_process
from tests.simulator.tests.benchmark import measure
from tests.simulator.tests.conftest import SignedClient
from exoscale_ai_simulator.server import DEFAULT_KEY, DEFAULT_SECRET

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def test_session_fixture_serves_signed_requests_and_resets(sim):
    client = SignedClient(sim.base, sim.key, sim.secret)
    try:
        operation = client.ok("POST", "/ai/model", {"name": QWEN})
        assert sim.url.endswith("/v2") and sim.control.requests()[0]["path"] == "/v2/ai/model"
        assert client.wait_operation(operation)["state"] == "success"
        sim.control.reset()
        assert client.ok("GET", "/ai/model")["models"] == []
    finally:
        client.http.close()


def test_fixture_speed_makes_deployments_ready_quickly(sim):
    client = SignedClient(sim.base, sim.key, sim.secret)
    try:
        started = time.monotonic()
        deployment = client.ready_deployment(client.ready_model(zone="hr-zag-1"), zone="hr-zag-1")
        assert deployment["state"] == "ready" and time.monotonic() - started < 5
    finally:
        client.http.close()


def test_state_survives_a_kill_and_restart(tmp_path):
    state_file = tmp_path / "sim.json"
    process, url = start_simulator_process(state_file, speed=1000)
    client = SignedClient(url[:-3], DEFAULT_KEY, DEFAULT_SECRET)
    try:
        model = client.ready_model()
        deployment = client.ready_deployment(model)
        slow = client.ok("POST", "/ai/model", {"name": "openai/gpt-oss-120b"}, zone="de-muc-1")
        client.ok("POST", "/ai/api-key", {"name": "kept", "scope": "public"})
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        client.http.close()
    assert state_file.exists() and not list(tmp_path.glob(".simstate-*"))

    process, url = start_simulator_process(state_file, speed=1)
    client = SignedClient(url[:-3], DEFAULT_KEY, DEFAULT_SECRET)
    try:
        again = client.ok("GET", f"/ai/deployment/{deployment['id']}")
        assert again["state"] == "ready" and again["created-at"] == deployment["created-at"]
        assert again["deployment-url"].startswith(url[:-3]) and client.ok("GET", f"/ai/model/{model['id']}")["state"] == "ready"
        big = client.ok("GET", f"/ai/model/{slow['reference']['id']}", zone="de-muc-1")
        assert big["state"] in ("downloading", "ready")  # its timeline was fixed at speed 1000 before the restart
        assert client.ok("GET", f"/operation/{slow['id']}", zone="de-muc-1")["state"] == "success"
        assert [k["name"] for k in client.ok("GET", "/ai/api-key")["ai-api-keys"]] == ["kept"]
    finally:
        stop_simulator_process(process)
        client.http.close()


def test_defaults_from_environment_and_url_line(tmp_path):
    env = dict(os.environ, EXOSCALE_API_KEY="EXOfromenv", EXOSCALE_API_SECRET="env-secret")
    process = subprocess.Popen([sys.executable, "-m", "tests.simulator", "--port", "0"],  # pylint: disable=consider-using-with
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("SIMULATOR_URL=http://127.0.0.1:") and line.endswith("/v2")
        client = SignedClient(line.split("=", 1)[1][:-3], "EXOfromenv", "env-secret")
        assert client.get("/ai/model").status_code == 200
        assert client.get("/ai/model", key=DEFAULT_KEY, secret=DEFAULT_SECRET).status_code == 403
        client.http.close()
    finally:
        stop_simulator_process(process)


def test_benchmark_tool_measures_signed_gets(simulator):
    # Throughput itself is a benchmark (README, make bench), not a timed test; this keeps the tool working.
    simulator.control.clear_requests()
    rate = measure(simulator.url, simulator.key, simulator.secret, requests=20)
    assert rate > 0
    assert len(simulator.control.requests()) == 20
