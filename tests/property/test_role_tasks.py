"""The property harness's task list comes from the role's YAML: a change to the role changes what it runs."""
import shutil

import pytest
import yaml

from tests.property.role_harness import ROLE, TASKS
from tests.property.role_tasks import UnsupportedTask, role_steps


def test_the_harness_runs_the_role_tasks_in_order():
    present = yaml.safe_load((ROLE / "tasks" / "present.yml").read_text())
    modules = [next(key for key in task if key.startswith("inferops.exoscale.")) for task in present
               if any(key.startswith("inferops.exoscale.") for key in task)]
    phase_one = [step.action for label, step in TASKS if label.startswith("1 ")]
    # the benchmark task is off by default (serve_model_benchmark: {}): the only one left out
    assert phase_one == [module for module in modules if module != "inferops.exoscale.ai_benchmark"]


def test_a_changed_role_changes_the_task_list(tmp_path):
    role = tmp_path / "serve_model"
    shutil.copytree(ROLE, role)
    present = yaml.safe_load((role / "tasks" / "present.yml").read_text())
    present.insert(0, {"name": "List the GPU types", "inferops.exoscale.ai_instance_type_info": {},
                       "when": "serve_model_list_gpus | bool"})
    (role / "tasks" / "present.yml").write_text(yaml.safe_dump(present))
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    defaults.update(serve_model_list_gpus=True, serve_model_gpu_type="gpua30")
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults))

    variables, steps = role_steps(role, {"serve_model_name": "Qwen/Qwen2.5-0.5B-Instruct"}, "1")
    actions = [step.action for step in steps]
    assert actions.index("inferops.exoscale.ai_instance_type_info") < actions.index("inferops.exoscale.ai_model")
    deployment = next(step for step in steps if step.action == "inferops.exoscale.ai_deployment")
    assert deployment.args["gpu_type"] == "{{ serve_model_gpu_type }}" and variables["serve_model_gpu_type"] == "gpua30"
    assert variables["serve_model_deployment_name"] == "qwen-qwen2-5-0-5b-instruct"

    dummy, steps = role_steps(role, {"serve_model_name": "m", "serve_model_list_gpus": False}, "1")
    assert "inferops.exoscale.ai_instance_type_info" not in [step.action for step in steps]


def test_what_the_harness_cannot_run_is_refused_by_name(tmp_path):
    role = tmp_path / "serve_model"
    shutil.copytree(ROLE, role)
    present = yaml.safe_load((role / "tasks" / "present.yml").read_text())
    present.append({"name": "Call a shell", "ansible.builtin.command": "true"})
    (role / "tasks" / "present.yml").write_text(yaml.safe_dump(present))
    with pytest.raises(UnsupportedTask, match="Call a shell"):
        role_steps(role, {"serve_model_name": "m"}, "1")
