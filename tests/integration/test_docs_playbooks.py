"""Every play in README.md and docs/**/*.md runs as written, against the simulator set up as the docs say.

A fenced ```yaml block is a play when it parses to a list whose items all have ``hosts``. Each one runs with
ansible-playbook, first with ``--check --diff`` on a fresh simulator (what the README suggests trying first),
then for real, with exactly the environment the simulator prints on start (its ``export`` lines: endpoint,
key, secret, Hub; no EXOSCALE_ZONE). Both runs must succeed without a warning and never show the secret.
A block that cannot run as written says why on the line before its fence: ``<!-- playbook: not-run: <reason> -->``.

All blocks of one mode run in one ansible-playbook process, each imported as written from its own file after a
harness play that resets the simulator (tests/integration/_shared_runs.py): two process starts instead of two per
block. A block the shared run cannot prove passed runs again on its own, so its verdict and output are its own.
"""
import json
import os
import re
import shlex
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.integration._shared_runs import once_per_session, run_sections

REPO_ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```yaml[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"^<!--\s*playbook:\s*not-run:\s*(?P<reason>.*?)\s*-->$")
PRINTED = ("EXOSCALE_API_ENDPOINT", "EXOSCALE_API_KEY", "EXOSCALE_API_SECRET", "HF_ENDPOINT")
EXPORT = re.compile(r"^export (?P<name>[A-Z_]+)=(?P<value>.*)$")
# Check mode predicts what earlier tasks of the same play would create; saying so is the plan, not a problem.
CHECK_MODE_NOTES = re.compile(r"does not exist yet; the (deployment|result) is predicted as if an earlier task created it")


def markdown_files():
    return [REPO_ROOT / "README.md"] + sorted((REPO_ROOT / "docs").rglob("*.md"))


def play_blocks():
    """``[(where, text, not-run reason or None)]`` for every fenced yaml block that is a play."""
    found = []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            try:
                parsed = yaml.safe_load(match.group(1))
            except yaml.YAMLError:
                continue  # a fragment with placeholders is not a play
            if not (isinstance(parsed, list) and parsed
                    and all(isinstance(item, dict) and "hosts" in item for item in parsed)):
                continue
            before = [line.strip() for line in text[:match.start()].splitlines() if line.strip()]
            marker = NOT_RUN.match(before[-1]) if before else None
            line = text[:match.start()].count("\n") + 1
            found.append(("%s:%d" % (path.relative_to(REPO_ROOT), line), match.group(1),
                          marker.group("reason") if marker else None))
    return found


BLOCKS = play_blocks()
RUNNABLE = [(where, text) for where, text, reason in BLOCKS if reason is None]


def printed_environment(simulator):
    """The ``export`` lines the simulator printed after its SIMULATOR_URL line, as {name: value}."""
    if getattr(simulator, "printed_env", None) is None:
        lines = []

        def read():  # the lines may already sit in the stream's buffer: read them there, not from the pipe
            for dummy in range(len(PRINTED)):
                lines.append(simulator.process.stdout.readline())
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(10)
        env = {}
        for line in lines:
            match = EXPORT.match(line.strip())
            if match:
                env[match.group("name")] = shlex.split(match.group("value"))[0]
        simulator.printed_env = env
    return simulator.printed_env


def warnings_in(run):
    lines = [line for line in run.output.splitlines() if "[WARNING]" in line or "[DEPRECATION WARNING]" in line]
    for record in run.records:
        lines += ["%s: %s" % (record["task"], warning) for warning in record["result"].get("warnings", [])]
    return lines


def test_the_docs_have_plays_and_every_skipped_one_says_why():
    readme = [where for where, dummy, dummy in BLOCKS if where.startswith("README.md:")]
    assert len(readme) >= 2, BLOCKS
    skipped = [(where, reason) for where, dummy, reason in BLOCKS if reason is not None]
    assert all(len(reason) > 10 for dummy, reason in skipped), skipped
    assert len(skipped) < len(RUNNABLE), ("not-run is the exception", skipped)


def test_the_simulator_prints_what_to_export(simulator):
    env = printed_environment(simulator)
    assert set(env) == set(PRINTED), env
    assert env["EXOSCALE_API_ENDPOINT"] == simulator.base + "/{zone}/v2"
    assert (env["EXOSCALE_API_KEY"], env["EXOSCALE_API_SECRET"]) == (simulator.key, simulator.secret)
    assert env["HF_ENDPOINT"] == simulator.base + "/hf"


MODES = (("check", ("--check", "--diff")), ("run", ()))


class DocRuns:
    """The shared run of every runnable block per mode, made the first time a test asks for it (inside that test's
    call, so the CPU summary counts it)."""

    def __init__(self, simulator, tmp_path_factory):
        self.simulator = simulator
        self.tmp_path_factory = tmp_path_factory
        self.runs = {}

    def env(self):
        env = dict(printed_environment(self.simulator))
        assert env, "the simulator printed no export lines"
        # The Python that runs the modules has httpx, as the README's install step asks.
        env["ANSIBLE_PYTHON_INTERPRETER"] = os.environ.get("INTEGRATION_MODULE_PYTHON") or sys.executable
        return env

    def make(self, mode):
        directory = self.tmp_path_factory.mktemp("docs-" + mode)
        self.simulator.control.reset()
        sections = []
        for index, (where, text) in enumerate(RUNNABLE):
            playbook = directory / ("block-%02d.yml" % index)
            playbook.write_text(text)
            sections.append((where, playbook, None))
        return run_sections(directory, self.simulator.base, sections, args=dict(MODES)[mode], env=self.env(),
                            stem="docs-" + mode)

    def get(self, mode):
        if mode not in self.runs:
            self.runs[mode] = once_per_session(self.tmp_path_factory, "docs-" + mode, lambda: self.make(mode))
        return self.runs[mode]


@pytest.fixture(scope="module")
def doc_runs(simulator, tmp_path_factory):
    return DocRuns(simulator, tmp_path_factory)


# The first test of a worker makes both shared runs: the summed wall of every block twice (~250 s idle).
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("where,text", RUNNABLE, ids=[where for where, dummy in RUNNABLE])
def test_play_runs_as_written(doc_runs, where, text):
    assert text.strip()
    secret = doc_runs.env()["EXOSCALE_API_SECRET"]
    for mode, dummy in MODES:
        run = doc_runs.get(mode)[where]
        assert run.passed, "%s (%s) failed:\n%s" % (where, mode, run.output[-6000:])
        warnings = [line for line in warnings_in(run) if not (mode == "check" and CHECK_MODE_NOTES.search(line))]
        assert not warnings, "%s (%s) warned:\n%s" % (where, mode, "\n".join(warnings))
        assert secret not in run.output, "%s (%s) showed the API secret" % (where, mode)
        assert not [r for r in run.records if secret in json.dumps(r["result"], default=str)], \
            "%s (%s) returned the API secret" % (where, mode)


def test_the_guide_installs_the_tarball_galaxy_yml_builds():
    version = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"]
    named = re.findall(r"inferops-exoscale-([0-9][^\s]*)\.tar\.gz", (REPO_ROOT / "docs" / "guide.md").read_text())
    assert named and set(named) == {version}, (named, version)


def test_the_readme_says_to_point_the_hub_checks_at_the_simulator():
    readme = (REPO_ROOT / "README.md").read_text()
    offline = readme[readme.index("### The simulator, from the installed collection"):readme.index("### Inventory")]
    assert "export HF_ENDPOINT=" in offline and "EXOSCALE_ZONE" in offline, offline


def test_a_failing_block_fails_alone_and_the_others_keep_their_verdict(sim, tmp_path):
    """The shared run's harness: a failing section is judged by a run of its own; the sections before and after
    it pass, each on a fresh simulator (the harness reset the model the first one created)."""
    def play(name, tasks):
        return [{"name": name, "hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}]
    sections = [
        ("first", play("first", [{"name": "seeded", "ansible.builtin.debug": {"msg": "ok"}}]),
         {"model": "Qwen/Qwen2.5-0.5B-Instruct"}),
        ("broken", play("broken", [{"name": "breaks", "ansible.builtin.fail": {"msg": "this block is wrong"}}]), None),
        ("last", play("last", [{"name": "after", "ansible.builtin.debug": {"msg": "still runs"}}]), None),
    ]
    found = run_sections(tmp_path, sim.base, sections, env=dict(printed_environment(sim)))
    assert found["first"].passed and not found["first"].alone, found["first"].output
    assert found["first"].seeded["model"] and found["first"].api_requests == 0, vars(found["first"])
    assert not found["broken"].passed and found["broken"].alone
    assert "this block is wrong" in found["broken"].output and "still runs" not in found["broken"].output
    assert found["last"].passed and found["last"].result("after")["msg"] == "still runs"
    assert not sim.control.state()["zones"]["ch-gva-2"]["models"], "the harness did not reset after the seeding"
