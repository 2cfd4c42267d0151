"""One ansible-playbook process for many independent sections (doc blocks, a module's EXAMPLES): each section
starts with a harness play whose only task resets the simulator (and seeds a starting state) from a lookup in the
controller, so a section sees a fresh simulator as if it ran alone, at the cost of one process start for all.

A section is proven to have passed when the run after it reached the next harness play and none of its results
failed. Whatever the shared run cannot prove (a failure, a parse error of the whole playbook) is run again on its
own, so each verdict and its output belong to that section only.
"""
import json
import os
import subprocess
from pathlib import Path

import yaml
from filelock import FileLock

from tests.integration.conftest import BIN, harness_env

LOOKUPS = Path(__file__).resolve().parent / "lookup_plugins"
HARNESS = "harness: "
END = "end of the shared run"


class Section:
    def __init__(self, label, records, output, complete, alone=False):
        self.label = label
        self.records = [record for record in records if not record["task"].startswith(HARNESS)]
        harness = [record["result"].get("msg") for record in records if record["task"] == HARNESS + label]
        self.seeded = (harness[0] or {}).get("seeded", {}) if harness else {}
        self.output = output
        self.complete = complete
        self.alone = alone  # run on its own after the shared run could not prove it
        self.api_requests = None  # API requests the simulator received during the section (read by the next harness)

    @classmethod
    def restore(cls, data):
        section = cls.__new__(cls)
        vars(section).update(data)
        return section

    @property
    def passed(self):
        return self.complete and not [r for r in self.records if r["status"] in ("failed", "unreachable")]

    def result(self, task):
        matches = [record for record in self.records if record["task"] == task]
        assert matches, "task %r did not run in %s; output:\n%s" % (task, self.label, self.output[-4000:])
        return matches[-1]["result"]


def once_per_session(tmp_path_factory, key, make):
    """``make()`` ({label: Section}) once per pytest session, whichever xdist worker asks first; the others wait
    for it and read its sections (they hold only records and output, so another worker's simulator served them).
    Grouping the tests on one worker (xdist_group) does not hold here: loadgroup spreads them like load."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / ("shared-run-%s.json" % key)
    with FileLock(str(path) + ".lock"):
        if path.exists():
            return {label: Section.restore(data) for label, data in json.loads(path.read_text()).items()}
        found = make()
        path.write_text(json.dumps({label: vars(section) for label, section in found.items()}, default=str))
        return found


def harness_play(sim_base, label, seed=None):
    lookup = "{{ query('sim_harness', url=%r, seed=%s)[0] }}" % (sim_base, json.dumps(seed or {}))
    return {"name": HARNESS + label, "hosts": "localhost", "gather_facts": False, "connection": "local",
            "tasks": [{"name": HARNESS + label, "ansible.builtin.debug": {"msg": lookup}}]}


def _run(tmp_path, stem, sim_base, sections, args, env):
    """Run ``sections`` ([(label, plays or playbook path, seed)]) in one process: {label: Section}."""
    plays = []
    for label, content, seed in sections:
        plays.append(harness_play(sim_base, label, seed))
        plays.extend([{"ansible.builtin.import_playbook": str(content)}] if isinstance(content, Path) else content)
    labels = [label for label, dummy, dummy in sections] + [END]
    plays.append(harness_play(sim_base, END))
    playbook = tmp_path / ("%s.yml" % stem)
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    records_file = tmp_path / ("%s-records.json" % stem)
    full_env = dict(harness_env(tmp_path, records_file, env), ANSIBLE_LOOKUP_PLUGINS=str(LOOKUPS))
    # stderr into the same pipe: each warning stays in the section that printed it
    process = subprocess.run([str(BIN / "ansible-playbook"), str(playbook), *args], env=full_env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200, check=False)
    records = json.loads(records_file.read_text()) if records_file.exists() else []

    record_parts, current = {label: [] for label in labels}, None
    for record in records:
        if record["task"].startswith(HARNESS) and record["task"][len(HARNESS):] in record_parts:
            current = record["task"][len(HARNESS):]
        if current is not None:
            record_parts[current].append(record)
    output_parts, current = {label: [] for label in labels}, None
    for line in process.stdout.splitlines(keepends=True):
        if line.startswith("PLAY [" + HARNESS):
            name = line[len("PLAY [" + HARNESS):].rsplit("]", 1)[0]
            current = name if name in output_parts else current
        output_parts[current if current is not None else labels[0]].append(line)
    started = [label for label in labels if any(r["task"] == HARNESS + label for r in record_parts[label])]
    found = {}
    for index, label in enumerate(labels[:-1]):
        following = labels[index + 1]
        section = Section(label, record_parts[label], "".join(output_parts[label]), following in started)
        harness = [r["result"].get("msg") for r in record_parts[following] if r["task"] == HARNESS + following]
        if harness and isinstance(harness[0], dict):
            section.api_requests = harness[0].get("api_requests")
        found[label] = section
    return process, found


def run_sections(tmp_path, sim_base, sections, args=(), env=None, stem="shared"):
    """{label: Section} of ``sections`` ([(label, plays or a playbook Path, seed dict or None)]), all in one
    ansible-playbook process when they pass; each section the shared run did not prove passed, again on its own."""
    process, found = _run(tmp_path, stem, sim_base, sections, args, env)
    unproven = [label for label, section in found.items() if not section.passed]
    if process.returncode == 0 and not unproven:
        return found
    for index, (label, content, seed) in enumerate(sections):
        if label in unproven or not unproven:  # a failed run whose failure no section shows: each alone
            alone_process, alone = _run(tmp_path, "%s-alone-%d" % (stem, index), sim_base, [(label, content, seed)],
                                        args, env)
            found[label] = alone[label]
            found[label].alone = True
            found[label].complete = found[label].complete and alone_process.returncode == 0
    return found
