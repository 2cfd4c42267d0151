"""Repo-wide pytest fixtures: the Exoscale AI API simulator (importable without ansible)."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SIMULATOR_SRC = REPO_ROOT / "tests" / "simulator" / "src"
for _path in (str(REPO_ROOT), str(SIMULATOR_SRC)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from exoscale_ai_simulator.control import SimulatorControl  # noqa: E402  pylint: disable=wrong-import-position
from exoscale_ai_simulator.server import DEFAULT_KEY, DEFAULT_SECRET  # noqa: E402  pylint: disable=wrong-import-position

for _name in ("NO_PROXY", "no_proxy"):
    _hosts = [host for host in os.environ.get(_name, "").split(",") if host]
    os.environ[_name] = ",".join(_hosts + [host for host in ("127.0.0.1", "localhost") if host not in _hosts])


class RunningSimulator:
    """A simulator subprocess: .url (…/v2), .base, .key, .secret, .control, .state_file, .process."""

    def __init__(self, url, key, secret, process, state_file):
        self.url = url
        self.base = url[:-len("/v2")]
        self.key = key
        self.secret = secret
        self.process = process
        self.state_file = state_file
        self.control = SimulatorControl(url)


def start_simulator_process(state_file, speed=None, extra_args=(), env=None):
    """Start `python -m tests.simulator` and wait for its SIMULATOR_URL line; returns (process, url)."""
    speed = speed or os.environ.get("SIM_SPEED", "50")
    command = [sys.executable, "-m", "tests.simulator", "--port", "0", "--speed", str(speed), "--state-file", str(state_file),
               "--api-key", DEFAULT_KEY, "--api-secret", DEFAULT_SECRET, *extra_args]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env)  # pylint: disable=consider-using-with
    line = process.stdout.readline().strip()
    if not line.startswith("SIMULATOR_URL="):
        process.kill()
        raise RuntimeError(f"simulator did not start (first line: {line!r})")
    return process, line.split("=", 1)[1]


def stop_simulator_process(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()


@pytest.fixture(scope="session")
def simulator():
    with tempfile.TemporaryDirectory(prefix="exo-sim-") as directory:
        state_file = Path(directory) / "simulator.state.json"
        process, url = start_simulator_process(state_file)
        try:
            yield RunningSimulator(url, DEFAULT_KEY, DEFAULT_SECRET, process, state_file)
        finally:
            stop_simulator_process(process)


@pytest.fixture
def sim(simulator):  # pylint: disable=redefined-outer-name
    simulator.control.reset()
    simulator.control.clear_requests()
    return simulator


# CPU per test: the test process's own time plus that of the processes it ran and waited for (ansible-playbook and
# its workers and modules; the session's simulator is not counted). The suites are CPU-bound on 2 cores, so this,
# not wall time under -n 4, says where `make test` spends its time. Shown after the run; in the junit XML too.
CPU_SUMMARY_COUNT = 15


def _cpu_seconds():
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    started = _cpu_seconds()
    yield
    item.user_properties.append(("cpu_seconds", round(_cpu_seconds() - started, 2)))


def pytest_terminal_summary(terminalreporter):
    spent = {}
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        if report.when == "call":
            spent[report.nodeid] = dict(report.user_properties).get("cpu_seconds", 0.0)
    if len(spent) < 2:
        return
    per_file = {}
    for nodeid, seconds in spent.items():
        per_file[nodeid.split("::")[0]] = per_file.get(nodeid.split("::")[0], 0.0) + seconds
    terminalreporter.write_sep("=", "CPU seconds per test file (%.0f s in all, test calls only)" % sum(spent.values()))
    for path, seconds in sorted(per_file.items(), key=lambda item: -item[1])[:CPU_SUMMARY_COUNT]:
        terminalreporter.write_line("%8.1f  %s" % (seconds, path))
    terminalreporter.write_sep("-", "the %d tests with the most CPU" % CPU_SUMMARY_COUNT)
    for nodeid, seconds in sorted(spent.items(), key=lambda item: -item[1])[:CPU_SUMMARY_COUNT]:
        terminalreporter.write_line("%8.1f  %s" % (seconds, nodeid))
