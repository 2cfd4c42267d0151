"""Counts of the reliability tests (faults injected/survived, bad inputs, secret scans, duplicates), as JSON lines.

Each test appends one line to ``$RELIABILITY_REPORT`` (default ``build/reports/reliability.jsonl``);
``.ci/summary.py`` adds them up at the end of ``make test``. Also small playbook builders shared by the
``test_reliability_*.py`` files.
"""
import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_ENV = "RELIABILITY_REPORT"
DEFAULT_REPORT = REPO_ROOT / "build" / "reports" / "reliability.jsonl"
COUNTERS = ("faults_injected", "faults_survived", "faults_failed_clearly", "permanent_faults", "bad_inputs",
            "secret_scans", "duplicates_found")
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def report_path():
    return Path(os.environ.get(REPORT_ENV) or DEFAULT_REPORT)


def record(test, **counts):
    """Append ``{"test": test, <counter>: n, ...}`` (unknown counter names are refused)."""
    unknown = set(counts) - set(COUNTERS)
    assert not unknown, "unknown counters %s" % unknown
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:  # one short write per line: safe with pytest-xdist workers
        handle.write(json.dumps(dict(test=test, **counts), sort_keys=True) + "\n")


def inject_task(sim, label, method, path, **fault):
    """A task that arms one fault on the simulator (its unsigned control API) before the next module task."""
    body = dict(method=method, path=path, action=fault.pop("action", "status"), count=fault.pop("count", 1), **fault)
    body.setdefault("status", 503)
    return {"name": "inject %s" % label, "ansible.builtin.uri": {
        "url": sim.base + "/_sim/faults", "method": "POST", "body_format": "json", "body": body}}


LOOKUPS = REPO_ROOT / "tests" / "integration" / "lookup_plugins"


def fault_env():
    """Environment for ``play(..., env=fault_env())``: enables the test-only ``sim_fault`` lookup."""
    return {"ANSIBLE_LOOKUP_PLUGINS": str(LOOKUPS)}


def fault_body(method, path, **fault):
    body = dict(method=method, path=path, action=fault.pop("action", "status"), count=fault.pop("count", 1), **fault)
    body.setdefault("status", 503)
    return body


def with_faults(sim, task, faults, field="name"):
    """``task`` whose module argument ``field`` arms ``faults`` when templated, right before the module runs."""
    module, args = next((k, v) for k, v in task.items() if "." in k)
    args = dict(args)
    args[field] = "%s{{ lookup('sim_fault', url=_sim_base, faults=_faults) }}" % args.get(field, "")
    armed = dict(task)
    armed[module] = args
    armed["vars"] = dict(task.get("vars") or {}, _sim_base=sim.base, _faults=[fault_body(*f[:2], **f[2]) for f in faults])
    return armed


def state_task(sim, label):
    """A task whose recorded result holds the simulator state (``result["json"]``)."""
    return {"name": "state %s" % label, "ansible.builtin.uri": {"url": sim.base + "/_sim/state", "return_content": True}}


def private_deployments(state, name=None, zone="ch-gva-2"):
    return [d for d in state["zones"][zone]["deployments"].values()
            if d.get("visibility") == "private" and (name is None or d["name"] == name)]


def models(state, name=None, zone="ch-gva-2"):
    return [m for m in state["zones"][zone]["models"].values() if name is None or m["name"] == name]
