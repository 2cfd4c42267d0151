"""Every module's EXAMPLES block, run as written with ansible-playbook against the simulator.

For each module (found in plugins/modules/, so a new module is covered without editing this file):
the simulator is reset, an optional setup play creates what the examples assume exists (with the
collection's own modules), then the examples run in order in one play whose credentials come from the
EXOSCALE_* environment pointing at the simulator. Every example task must succeed and none may be
skipped. The examples themselves are never edited here: if one fails, the example is wrong (or the
module is).
"""
import ast
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO_ROOT / "plugins" / "modules"

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"

# Variables the examples reference but do not define (a real user sets them in inventory or a vault).
EXAMPLE_VARS = {"huggingface_token": "hf_example_token_for_the_simulator"}


def _model(name=QWEN):
    return {"name": "setup: model %s" % name, "inferops.exoscale.ai_model": {"name": name}}


def _deployment(name="qwen-small", model=QWEN):
    options = {"name": name, "model": model, "gpu_type": "gpua5000", "gpu_count": 1, "replicas": 1}
    return {"name": "setup: deployment %s" % name, "inferops.exoscale.ai_deployment": options}


ENDPOINT_TASK = "setup: endpoint of qwen-small"

# What each module's examples assume already exists. Modules not listed need nothing.
SETUP = {
    "ai_model_info": [_model()],
    "ai_deployment": [_model()],
    "ai_deployment_info": [_model(), _deployment()],
    "ai_api_key": [_model(), _deployment()],
    "ai_benchmark": [_model(), _deployment()],
    "ai_inference": [_model(), _deployment(),
                     {"name": ENDPOINT_TASK, "register": "endpoint",  # no no_log: the test reads the key (a simulator key)
                      "inferops.exoscale.ai_deployment_info": {"name": "qwen-small", "include_api_key": True}}],
}


def setup_env(module, run):
    """Extra environment for the examples, derived from the setup run (ai_inference asks an endpoint directly)."""
    if module != "ai_inference":
        return {}
    deployment = run.result(ENDPOINT_TASK)["deployments"][0]
    return {"DEPLOYMENT_URL": deployment["deployment_url"], "DEPLOYMENT_API_KEY": deployment["api_key"]}


def module_names():
    return sorted(path.stem for path in MODULES_DIR.glob("*.py") if not path.name.startswith("_"))


def module_docs(module):
    """DOCUMENTATION and EXAMPLES of a module, read from its source without importing it."""
    tree = ast.parse((MODULES_DIR / ("%s.py" % module)).read_text(encoding="utf-8"))
    docs = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("DOCUMENTATION", "EXAMPLES") and isinstance(node.value, ast.Constant):
                docs[node.targets[0].id] = node.value.value
    return docs


def examples_of(module):
    tasks = yaml.safe_load(module_docs(module).get("EXAMPLES") or "")
    assert isinstance(tasks, list) and tasks, "%s: EXAMPLES must be a non-empty YAML list of tasks" % module
    for task in tasks:
        assert isinstance(task, dict) and task.get("name"), "%s: every example task needs a name: %r" % (module, task)
    names = [task["name"] for task in tasks]
    assert len(set(names)) == len(names), "%s: example task names must be unique: %s" % (module, names)
    return tasks


def test_every_module_has_examples():
    modules = module_names()
    assert modules, "no modules found in %s" % MODULES_DIR
    for module in modules:
        tasks = examples_of(module)
        fqcn = "inferops.exoscale.%s" % module
        assert any(fqcn in task for task in tasks), "%s: no example calls %s" % (module, fqcn)


@pytest.mark.parametrize("module", module_names())
def test_module_examples_run(module, play, sim):
    examples = examples_of(module)
    env = {}
    if SETUP.get(module):
        setup = play(SETUP[module], name="setup-%s.yml" % module)
        assert setup.rc == 0, "setup of the %s examples failed:\n%s" % (module, setup.output[-4000:])
        env = setup_env(module, setup)

    run = play(examples, env=env, play_vars=EXAMPLE_VARS, name="examples-%s.yml" % module)
    assert run.rc == 0, "the EXAMPLES of %s failed:\n%s" % (module, run.output[-6000:])
    for task in examples:
        records = [record for record in run.records if record["task"] == task["name"]]
        assert records, "%s: example %r did not run:\n%s" % (module, task["name"], run.output[-4000:])
        assert records[-1]["status"] in ("ok", "changed"), \
            "%s: example %r ended %s: %s" % (module, task["name"], records[-1]["status"], records[-1]["result"])
    assert sim.control.requests(), "the examples of %s sent no request to the simulator" % module
