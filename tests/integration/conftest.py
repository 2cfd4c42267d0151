"""Run real ansible-playbook processes against the simulator and read their task results."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
HARNESS_CONFIG = Path(__file__).resolve().parent / "harness-ansible.cfg"
BIN = Path(sys.executable).parent


class PlaybookRun:
    def __init__(self, process, records):
        self.rc = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.records = records

    @property
    def output(self):
        return self.stdout + self.stderr

    def result(self, task):
        """The result of the (last) task named ``task``."""
        matches = [r for r in self.records if r["task"] == task]
        assert matches, "task %r did not run; output:\n%s" % (task, self.output[-4000:])
        return matches[-1]["result"]

    def status(self, task):
        return [r for r in self.records if r["task"] == task][-1]["status"]

    def changed_tasks(self):
        return [r["task"] for r in self.records if r["status"] == "changed"]

    def failed_tasks(self):
        return [r["task"] for r in self.records if r["status"] == "failed"]


def simulator_env(sim, **overrides):
    """The environment variables a user would set to point the collection at the simulator."""
    # The simulator's Hugging Face Hub stand-in answers the preflight checks (never the real Hub from a test).
    env = dict(EXOSCALE_API_ENDPOINT=sim.url, EXOSCALE_API_KEY=sim.key, EXOSCALE_API_SECRET=sim.secret,
               HF_ENDPOINT=sim.base + "/hf")
    env.update(overrides)
    return env


def playbook_text(tasks, play_vars=None):
    play = dict(name="test", hosts="localhost", gather_facts=False, connection="local",
                # INTEGRATION_MODULE_PYTHON: modules on another Python than the controller's (mk/matrix.mk: 3.9 on 2.16).
                vars=dict({"ansible_python_interpreter": os.environ.get("INTEGRATION_MODULE_PYTHON")
                           or "{{ ansible_playbook_python }}"}, **(play_vars or {})),
                tasks=tasks)
    return yaml.safe_dump([play], sort_keys=False)


def run_playbook(tmp_path, tasks=None, playbook=None, args=(), env=None, play_vars=None, name="playbook.yml"):
    """Run ansible-playbook on tasks (list of dicts) or a playbook file; return a PlaybookRun."""
    if playbook is None:
        playbook = tmp_path / name
        playbook.write_text(playbook_text(tasks, play_vars))
    records_file = tmp_path / ("records-%d.json" % len(list(tmp_path.glob("records-*.json"))))
    full_env = harness_env(tmp_path, records_file, env)
    process = subprocess.run([str(BIN / "ansible-playbook"), str(playbook), *args], env=full_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=600, check=False)
    records = json.loads(records_file.read_text()) if records_file.exists() else []
    return PlaybookRun(process, records)


def harness_env(tmp_path, records_file=None, env=None):
    """The environment of an ansible process: the collection, the recording callback, no stray EXOSCALE_* settings."""
    records_file = records_file or (tmp_path / "records-unused.json")
    full_env = dict(os.environ)
    for variable in ("EXOSCALE_API_ENDPOINT", "EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "EXOSCALE_ZONE",
                     "EXOSCALE_ACCOUNT", "EXOSCALE_CONFIG", "HF_ENDPOINT", "HF_TOKEN"):
        full_env.pop(variable, None)
    full_env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_CALLBACKS_ENABLED="record_results",
        ANSIBLE_CONFIG=str(HARNESS_CONFIG),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        RECORD_RESULTS_FILE=str(records_file),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    full_env.update(env or {})
    return full_env


@pytest.fixture
def play(sim, tmp_path):
    """``play(tasks, *args, env=...)`` runs tasks against the simulator with credentials from the environment."""
    def runner(tasks, *args, env=None, **kwargs):
        return run_playbook(tmp_path, tasks, args=args, env=simulator_env(sim, **(env or {})), **kwargs)
    return runner


RUNNER_EVENT_STATUS = {"runner_on_ok": None, "runner_on_failed": "failed", "runner_on_skipped": "skipped",
                       "runner_on_unreachable": "unreachable"}


@pytest.fixture
def ansible_runner(sim, tmp_path, monkeypatch):
    """``ansible_runner(tasks or playbook=..., env=..., extravars=...)`` runs a playbook the way AWX runs a job: through
    ``ansible-runner run`` with a private data dir whose ``env/envvars`` carries ``env`` (what a credential type's
    injectors produce; nothing else gives credentials) and ``env/extravars``; task results come from the job events
    under ``artifacts/``. Returns a PlaybookRun."""
    for variable in ("EXOSCALE_API_ENDPOINT", "EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "EXOSCALE_ZONE",
                     "EXOSCALE_ACCOUNT", "EXOSCALE_CONFIG", "HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(variable, raising=False)

    def runner(tasks=None, playbook=None, env=None, extravars=None, play_vars=None):
        data_dir = tmp_path / ("runner-%d" % len(list(tmp_path.glob("runner-*"))))
        (data_dir / "project").mkdir(parents=True)
        (data_dir / "inventory").mkdir()
        (data_dir / "env").mkdir()
        (data_dir / "project" / "playbook.yml").write_text(
            playbook.read_text() if playbook is not None else playbook_text(tasks, play_vars))
        (data_dir / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
        envvars = dict(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_HOME=str(data_dir / "ansible-home"),
                       ANSIBLE_LOCAL_TEMP=str(data_dir / "ansible-tmp"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_LOCALHOST_WARNING="0", XDG_CONFIG_HOME=str(data_dir / "config"),
                       HF_ENDPOINT=sim.base + "/hf")  # the simulator's Hub stand-in, never the real Hub
        envvars.update(env or {})
        (data_dir / "env" / "envvars").write_text(yaml.safe_dump(envvars))
        (data_dir / "env" / "extravars").write_text(yaml.safe_dump(extravars or {}))
        process_env = dict(os.environ, PATH="%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", "")))
        process = subprocess.run([str(BIN / "ansible-runner"), "run", str(data_dir), "-p", "playbook.yml",
                                  "--ident", "job"], env=process_env, cwd=tmp_path, capture_output=True, text=True,
                                 timeout=600, check=False)
        artifacts = data_dir / "artifacts" / "job"
        if (artifacts / "rc").exists():
            process.returncode = int((artifacts / "rc").read_text().strip())
        events = sorted((json.loads(path.read_text()) for path in (artifacts / "job_events").glob("*.json")),
                        key=lambda event: event["counter"])
        records = []
        for event in events:
            if event.get("event") in RUNNER_EVENT_STATUS:
                data = event["event_data"]
                result = data.get("res", {})  # skipped events carry no result
                status = RUNNER_EVENT_STATUS[event["event"]] or ("changed" if result.get("changed") else "ok")
                records.append(dict(task=data["task"], host=data["host"], status=status, result=result))
        run = PlaybookRun(process, records)
        run.artifacts = artifacts
        return run
    return runner


@pytest.fixture
def play_without_credentials(sim, tmp_path):  # pylint: disable=unused-argument
    """Like ``play``, but no EXOSCALE_* variable is set: credentials come from the play, a profile file..."""
    def runner(tasks=None, *args, env=None, **kwargs):
        return run_playbook(tmp_path, tasks, args=args, env=env, **kwargs)
    return runner


class Markers:
    """Split the simulator's request log per task: a marker task sends ``GET /_marker/<label>`` (logged, 404)."""

    PREFIX = "/_marker/"

    def __init__(self, sim):
        self.sim = sim

    def task(self, label):
        return {"name": "marker %s" % label,
                "ansible.builtin.uri": {"url": self.sim.base + self.PREFIX + label, "status_code": 404}}

    def split(self, requests=None):
        """``{label: [requests after that marker, up to the next one]}``; requests before any marker under None."""
        groups = {None: []}
        current = None
        for entry in self.sim.control.requests() if requests is None else requests:
            if entry["path"].startswith(self.PREFIX):
                current = entry["path"][len(self.PREFIX):]
                groups[current] = []
            else:
                groups[current].append(entry)
        return groups


@pytest.fixture
def markers(sim):
    return Markers(sim)


@pytest.fixture
def adhoc(sim, tmp_path):
    """``adhoc(*args, env=...)`` runs ``ansible localhost <args>`` with the harness environment; returns the process."""
    def runner(*args, env=None):
        full_env = harness_env(tmp_path, env=simulator_env(sim, **(env or {})))
        return subprocess.run([str(BIN / "ansible"), "localhost", *args], env=full_env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, check=False)
    return runner


@pytest.fixture
def run_module(sim, monkeypatch):
    """``run_module(module, args=None, check_mode=False, diff=False, env=None, **options)`` calls the module's
    (``ai_model`` or ``inferops.exoscale.ai_model``) ``main()`` with ``args`` and ``options`` in this
    process with the simulator's credentials in the environment (tests/module_runner.py) and returns its result:
    milliseconds instead of an ansible-playbook run's seconds. For module logic (arguments, requests, results,
    no_log filtering); what Ansible itself does (templating, module_defaults, --check from the command line,
    callbacks, forks) keeps a real run through ``play``."""
    from tests.module_runner import run_module as call_main  # pylint: disable=import-outside-toplevel

    for variable in ("EXOSCALE_API_ENDPOINT", "EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "EXOSCALE_ZONE",
                     "EXOSCALE_ACCOUNT", "EXOSCALE_CONFIG", "HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(variable, raising=False)

    def runner(module, /, args=None, *, check_mode=False, diff=False, env=None, **options):
        return call_main(module, dict(args or {}, **options), env=simulator_env(sim, **(env or {})),
                         check_mode=check_mode, diff=diff)
    return runner


@pytest.fixture
def live_built(run_module):  # pylint: disable=redefined-outer-name
    """``live_built(**fields)``: the rollout tests' live deployment (test_role_rollout.build_live), built in process
    with this test's simulator."""
    from tests.integration.test_role_rollout import build_live  # pylint: disable=import-outside-toplevel

    return lambda env=None, **fields: build_live(run_module, env=env, **fields)


def warnings_of(result):
    """The warning texts of a result: strings from a playbook run (and older cores), summaries (dicts) from a module
    run in process on ansible-core >= 2.19."""
    texts = []
    for warning in result.get("warnings", []):
        if isinstance(warning, dict):
            warning = (warning.get("event") or warning).get("msg") or json.dumps(warning)
        texts.append(warning)
    return texts
