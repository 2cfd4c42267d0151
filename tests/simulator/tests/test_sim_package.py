"""The simulator as an installable tool: its wheel (tests/simulator/pyproject.toml) in a fresh venv, run by its console
script from outside the repository, as a user of the installed collection runs it."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import requests
from exoscale_auth import ExoscaleV2Auth

SIMULATOR_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DIR = SIMULATOR_DIR / "src" / "exoscale_ai_simulator"


def run(command, **kwargs):
    process = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False, **kwargs)
    assert process.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(map(str, command)), process.stdout[-3000:], process.stderr[-3000:])
    return process


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from the folder (hatchling from the dev venv instead of a download: bounded time)."""
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out),
         str(SIMULATOR_DIR)])
    [built] = out.glob("exoscale_ai_simulator-*.whl")
    return built


def shipped_modules():
    return sorted(path.name for path in PACKAGE_DIR.glob("*.py"))


def test_wheel_ships_every_module_and_the_spec_but_no_tests(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    package = sorted(n.split("/", 1)[1] for n in names if n.startswith("exoscale_ai_simulator/"))
    assert package == sorted(shipped_modules() + ["exoscale-ai-openapi.json"])
    assert "exoscale-ai-simulator = exoscale_ai_simulator.__main__:main" in entry_points


def test_console_script_from_a_fresh_venv_serves_the_api(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index",
         str(wheel)])
    script = venv / "bin" / "exoscale-ai-simulator"
    assert script.is_file()

    # Outside the repository and with no PYTHONPATH: only the installed package can answer.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen([str(script), "--port", "0", "--speed", "25", "--api-key", "EXOpackagekey",  # pylint: disable=consider-using-with
                                "--api-secret", "package-secret"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("SIMULATOR_URL=http://127.0.0.1:"), (line, process.stderr.read() if process.poll() is not None else "")
        url = line.split("=", 1)[1]
        base = url[:-len("/v2")]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(base + "/_sim/config", timeout=10) as response:
            assert json.loads(response.read())["speed"] == 25

        session = requests.Session()
        session.trust_env = False
        session.auth = ExoscaleV2Auth("EXOpackagekey", "package-secret")
        instance_types = session.get(url + "/ai/instance-type", timeout=10)
        assert instance_types.status_code == 200 and instance_types.json()["instance-types"]
        # Request bodies are validated against the spec shipped in the wheel.
        refused = session.post(url + "/ai/model", json={"name": 5}, timeout=10)
        assert refused.status_code == 400 and refused.json()["detail"].startswith("name"), refused.text
        with pytest.raises(urllib.error.HTTPError):
            opener.open(base + "/v2/ai/model", timeout=10)  # unsigned: 403
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
