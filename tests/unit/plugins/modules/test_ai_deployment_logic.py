# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The decisions of ai_deployment that need no API: input checks, immutable fields, PATCH body, diff view.

They are made by the resource layer from the deployment's declaration (``ai.DEPLOYMENT``) and by the
module's own ``validate``; the functions below call exactly those, on a driver without an AnsibleModule.
"""

import pytest

from ansible_collections.inferops.exoscale.plugins.module_utils import ai
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused
from ansible_collections.inferops.exoscale.plugins.module_utils.resource import IMMUTABLE, PATCH
from ansible_collections.inferops.exoscale.plugins.modules import ai_deployment


def driver(values):
    return ai_deployment.DeploymentModule(params=dict(values))


def validate_input(values):
    driver(values).validate()


def _changes(values, deployment, how):
    module = driver(values)
    found = module.changes(deployment, module.wanted(deployment))
    return dict((option, pair) for option, pair in found.items() if ai.DEPLOYMENT.field(option).change == how)


def immutable_changes(values, deployment):
    return _changes(values, deployment, IMMUTABLE)


def update_body(values, deployment):
    """The PATCH body of the driver's own plan for ``deployment``."""
    return driver(values).decide(deployment).patch


def current_view(deployment):
    return driver({}).view(deployment)


MODEL_ID = "0b6f6a1e-4d2f-4a87-9a43-1a2b3c4d5e6f"
DEPLOYMENT = {
    "id": "7d1c8f0e-5a7b-4c1e-9f7e-0a1b2c3d4e5f",
    "name": "small",
    "state": "ready",
    "model": {"id": MODEL_ID, "name": "Qwen/Qwen2.5-0.5B-Instruct"},
    "gpu-type": "gpua5000",
    "gpu-count": 1,
    "replicas": 2,
    "inference-engine-version": "0.28.0",
    "inference-engine-parameters": ["--max-model-len=4096"],
    "deployment-url": "https://example/v1",
    "visibility": "private",
}


def params(**overrides):
    values = dict(name="small", id=None, model=None, gpu_type=None, gpu_count=None, replicas=None,
                  inference_engine_version=None, inference_engine_parameters=None, state="present",
                  recreate=False, wait=True, wait_timeout=1800, prices=None)
    values.update(overrides)
    return values


# validate_input

@pytest.mark.parametrize("overrides", [
    {},
    {"gpu_count": 1}, {"gpu_count": 8},
    {"replicas": 0}, {"replicas": 5},
    {"inference_engine_version": "0.28.0"},
    {"inference_engine_parameters": ["--max-model-len=4096", "--dtype bfloat16", "-tp=2"]},
    {"inference_engine_parameters": []},
    {"name": None, "id": DEPLOYMENT["id"]},
])
def test_validate_input_accepts(overrides):
    validate_input(params(**overrides))


@pytest.mark.parametrize("overrides, words", [
    ({"gpu_count": 0}, ["gpu_count", "1 and 8", "0"]),
    ({"gpu_count": 9}, ["gpu_count", "1 and 8", "9"]),
    ({"replicas": -1}, ["replicas", "0 or more", "-1"]),
    ({"inference_engine_version": "latest"}, ["inference_engine_version", "0.28.0", "latest"]),
    ({"inference_engine_version": "0.28"}, ["inference_engine_version"]),
    ({"inference_engine_parameters": ["max-model-len=4096"]}, ["inference_engine_parameters", "max-model-len=4096"]),
    ({"inference_engine_parameters": [""]}, ["inference_engine_parameters"]),
    ({"wait_timeout": 0}, ["wait_timeout"]),
    ({"name": "  "}, ["name"]),
    ({"model": ""}, ["model"]),
    ({"gpu_type": " "}, ["gpu_type"]),
])
def test_validate_input_refuses_naming_the_option(overrides, words):
    with pytest.raises(Refused) as info:
        validate_input(params(**overrides))
    for word in words:
        assert word in str(info.value)


# immutable_changes

def test_no_immutable_change_when_nothing_or_the_same_is_asked():
    assert immutable_changes(params(), DEPLOYMENT) == {}
    same = params(model="Qwen/Qwen2.5-0.5B-Instruct", gpu_type="gpua5000", gpu_count=1)
    assert immutable_changes(same, DEPLOYMENT) == {}


def test_model_by_id_is_the_same_model():
    assert immutable_changes(params(model=MODEL_ID), DEPLOYMENT) == {}


def test_every_immutable_change_is_listed_with_current_and_wanted():
    wanted = params(model="Qwen/Qwen2.5-7B-Instruct", gpu_type="gpu3080ti", gpu_count=2)
    assert immutable_changes(wanted, DEPLOYMENT) == {
        "model": ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-7B-Instruct"),
        "gpu_type": ("gpua5000", "gpu3080ti"),
        "gpu_count": (1, 2),
    }


def test_mutable_fields_are_never_immutable_changes():
    wanted = params(replicas=0, inference_engine_version="0.27.1", inference_engine_parameters=[], name="other")
    assert immutable_changes(wanted, DEPLOYMENT) == {}


def test_unknown_current_values_never_count():
    listed = dict(DEPLOYMENT)
    del listed["gpu-type"], listed["gpu-count"]
    assert immutable_changes(params(gpu_type="gpu3080ti", gpu_count=4), listed) == {}


# update_body

def test_update_body_is_empty_when_converged_or_unset():
    assert update_body(params(), DEPLOYMENT) == {}
    same = params(inference_engine_version="0.28.0", inference_engine_parameters=["--max-model-len=4096"], replicas=2)
    assert update_body(same, DEPLOYMENT) == {}


def test_update_body_has_only_the_changed_mutable_fields():
    assert update_body(params(inference_engine_version="0.27.1"), DEPLOYMENT) == {"inference-engine-version": "0.27.1"}
    assert update_body(params(inference_engine_parameters=["--enforce-eager"]), DEPLOYMENT) == {
        "inference-engine-parameters": ["--enforce-eager"]}
    assert update_body(params(inference_engine_parameters=[]), DEPLOYMENT) == {"inference-engine-parameters": []}


def test_empty_parameters_match_a_deployment_without_parameters():
    bare = dict(DEPLOYMENT)
    del bare["inference-engine-parameters"]
    assert update_body(params(inference_engine_parameters=[]), bare) == {}


def test_replicas_are_not_patched():
    assert update_body(params(replicas=0), DEPLOYMENT) == {}


def test_rename_needs_id():
    assert update_body(params(name="renamed"), DEPLOYMENT) == {}
    assert update_body(params(id=DEPLOYMENT["id"], name="renamed"), DEPLOYMENT) == {"name": "renamed"}
    assert update_body(params(id=DEPLOYMENT["id"], name="small"), DEPLOYMENT) == {}
    assert update_body(params(id=DEPLOYMENT["id"], name=None), DEPLOYMENT) == {}


# current_view

def test_current_view_of_nothing_is_absent():
    assert current_view(None) == {"state": "absent"}
    assert current_view({}) == {"state": "absent"}


def test_current_view_has_the_user_facing_fields_in_option_names():
    assert current_view(DEPLOYMENT) == {
        "name": "small",
        "model": "Qwen/Qwen2.5-0.5B-Instruct",
        "gpu_type": "gpua5000",
        "gpu_count": 1,
        "replicas": 2,
        "inference_engine_version": "0.28.0",
        "inference_engine_parameters": ["--max-model-len=4096"],
        "state": "ready",
    }


def test_current_view_never_shows_url_or_secrets():
    view = current_view(dict(DEPLOYMENT, **{"api-key": "sk-secret"}))
    assert "sk-secret" not in repr(view)
    assert "deployment_url" not in view and "id" not in view


def test_current_view_reads_a_listed_deployment_defensively():
    listed = {"name": "small", "state": "creating", "model": {"id": MODEL_ID}, "visibility": "private"}
    view = current_view(listed)
    assert view["model"] == MODEL_ID
    assert view["gpu_type"] is None and view["inference_engine_parameters"] is None


def test_immutable_fields_match_the_view():
    immutable = [f.option for f in ai.DEPLOYMENT.fields if f.change == IMMUTABLE]
    assert immutable == ["model", "gpu_type", "gpu_count"]
    assert set(immutable) <= set(current_view(DEPLOYMENT))
