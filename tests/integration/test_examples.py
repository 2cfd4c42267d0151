"""Every module's EXAMPLES block, run as written with ansible-playbook against the simulator.

For each module (found in plugins/modules/, so a new module is covered without editing this file):
the simulator is reset and what the examples assume exists is created through the signed API, then the
examples run in order in one play whose credentials come from the EXOSCALE_* environment pointing at the
simulator. The modules' sections share one ansible-playbook process (tests/integration/_shared_runs.py). Every example task must succeed and none may be
skipped. The examples themselves are never edited here: if one fails, the example is wrong (or the
module is).
"""
import ast
from pathlib import Path

import pytest
import yaml

from tests.integration._shared_runs import once_per_session, run_sections
from tests.integration.conftest import playbook_text, simulator_env
from tests.integration.test_inventory import GVA, SignedApi

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO_ROOT / "plugins" / "modules"

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"

# Variables the examples reference but do not define (a real user sets them in inventory or a vault).
EXAMPLE_VARS = {"huggingface_token": "hf_example_token_for_the_simulator"}


# What each module's examples assume already exists, seeded through the signed API by the harness play before
# them (tests/integration/lookup_plugins/sim_harness.py). Modules not listed need nothing.
MODEL_ONLY = {"model": QWEN}
WITH_DEPLOYMENT = {"model": QWEN, "deployments": [{"name": "qwen-small", "gpu_type": "gpua5000", "gpu_count": 1}]}
SETUP = {"ai_model_info": MODEL_ONLY, "ai_deployment": MODEL_ONLY, "ai_deployment_info": WITH_DEPLOYMENT,
         "ai_api_key": WITH_DEPLOYMENT, "ai_benchmark": WITH_DEPLOYMENT, "ai_inference": WITH_DEPLOYMENT}
# ai_inference's examples also ask an endpoint named in the controller's environment: they run in a process of
# their own, after the setup through the API.
ALONE = ("ai_inference",)


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


class ExampleRuns:
    """The EXAMPLES of every module but ALONE in one ansible-playbook process, each module's after a harness play
    that resets the simulator and seeds its SETUP; made the first time a test asks (inside that test's call)."""

    def __init__(self, simulator, tmp_path_factory):
        self.simulator = simulator
        self.tmp_path_factory = tmp_path_factory
        self.sections = None

    def make(self):
        self.simulator.control.reset()
        plays = [(name, yaml.safe_load(playbook_text(examples_of(name), EXAMPLE_VARS)), SETUP.get(name))
                 for name in module_names() if name not in ALONE]
        return run_sections(self.tmp_path_factory.mktemp("examples"), self.simulator.base, plays,
                            env=simulator_env(self.simulator), stem="examples")

    def get(self, module):
        if self.sections is None:
            self.sections = once_per_session(self.tmp_path_factory, "examples", self.make)
        return self.sections[module]


@pytest.fixture(scope="module")
def example_runs(simulator, tmp_path_factory):
    return ExampleRuns(simulator, tmp_path_factory)


def inference_endpoint(sim):
    """The setup of ai_inference's examples through the API: its deployment's URL and key, as the examples read them."""
    api = SignedApi(sim)
    deployment = api.deployment(GVA, "qwen-small", api.model(GVA))
    key = api.call("GET", GVA, "/ai/deployment/%s/api-key" % deployment["id"])["api-key"]
    return {"DEPLOYMENT_URL": deployment["deployment-url"], "DEPLOYMENT_API_KEY": key}


# The first test makes the shared run: the summed wall of every module's examples (~130 s idle).
@pytest.mark.timeout(900)
@pytest.mark.parametrize("module", module_names())
def test_module_examples_run(module, example_runs, request):
    examples = examples_of(module)
    if module in ALONE:
        sim, play = request.getfixturevalue("sim"), request.getfixturevalue("play")
        run = play(examples, env=inference_endpoint(sim), play_vars=EXAMPLE_VARS, name="examples-%s.yml" % module)
        assert run.rc == 0, "the EXAMPLES of %s failed:\n%s" % (module, run.output[-6000:])
        api_requests = len(sim.control.requests())
    else:
        run = example_runs.get(module)
        assert run.passed, "the EXAMPLES of %s failed:\n%s" % (module, run.output[-6000:])
        api_requests = run.api_requests
    for task in examples:
        records = [record for record in run.records if record["task"] == task["name"]]
        assert records, "%s: example %r did not run:\n%s" % (module, task["name"], run.output[-4000:])
        assert records[-1]["status"] in ("ok", "changed"), \
            "%s: example %r ended %s: %s" % (module, task["name"], records[-1]["status"], records[-1]["result"])
    assert api_requests, "the examples of %s sent no request to the simulator" % module
