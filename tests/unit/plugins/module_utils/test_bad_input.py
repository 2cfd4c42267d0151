# -*- coding: utf-8 -*-
# Copyright (c) 2026, inferops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bad input refused before any request (credentials, timeouts, path segments), answers that are not chat
completions, and failure messages that quote vLLM's root cause once."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils import diagnosis, progress
from ansible_collections.inferops.exoscale.plugins.module_utils.client import (
    ExoscaleError,
    api_path,
    check_path,
    unsafe_segment,
)
from ansible_collections.inferops.exoscale.plugins.module_utils.inference import chat_answer_problem, describe_body
from ansible_collections.inferops.exoscale.plugins.module_utils.settings import ConfigError, resolve_settings

ENV = {"EXOSCALE_API_KEY": "EXOenvironment", "EXOSCALE_API_SECRET": "environment-secret"}


def params(**kwargs):
    base = dict(api_key=None, api_secret=None, api_profile=None, zone=None, api_url=None,
                api_timeout=30.0, validate_certs=True)
    base.update(kwargs)
    return base


@pytest.mark.parametrize("options", [dict(api_key="", api_secret=""), dict(api_key="", api_secret="s"),
                                     dict(api_key="EXOk", api_secret=""), dict(api_key="  ", api_secret="s"),
                                     dict(api_secret="")])
def test_an_empty_credential_in_the_task_is_refused_not_replaced_by_the_environment(options):
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(**options), environ=dict(ENV))
    message = str(info.value)
    assert "empty value in the task" in message and "never replaced" in message
    assert all(name in message for name, value in options.items() if not value.strip())
    assert "environment-secret" not in message


def test_credentials_left_out_still_come_from_the_environment():
    settings_ = resolve_settings(params(), environ=dict(ENV))
    assert (settings_["api_key"], settings_["api_secret"]) == ("EXOenvironment", "environment-secret")


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -float("inf"), 1e12, 3600.5, 0.05, 0, -1])
def test_api_timeout_out_of_range_is_refused_with_the_range(timeout):
    with pytest.raises(ConfigError) as info:
        resolve_settings(params(api_key="k", api_secret="s", api_timeout=timeout))
    assert "api_timeout" in str(info.value) and "from 0.1 to 3600" in str(info.value)


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_api_timeout_is_accepted_exactly_within_its_range(timeout):
    inside = math.isfinite(timeout) and 0.1 <= timeout <= 3600
    try:
        resolved = resolve_settings(params(api_key="k", api_secret="s", api_timeout=timeout))["timeout"]
    except ConfigError:
        assert not inside
    else:
        assert inside and resolved == timeout


@pytest.mark.parametrize("value", ["../x", "a/b", "x?y", "x#y", "%2e%2e", "a b", "tab\there", "nl\n", "nul\x00",
                                   "..", ".", "", "back\\slash"])
def test_path_characters_are_refused_naming_the_field(value):
    with pytest.raises(ExoscaleError) as info:
        api_path("/ai/deployment/{deployment_id}/logs", deployment_id=value)
    assert str(info.value).startswith("deployment id %r cannot go into the API path" % value)
    assert info.value.status is None  # refused here: nothing was sent


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.text(max_size=12))
def test_a_segment_is_accepted_only_without_unsafe_characters(value):
    unsafe = value in ("", ".", "..") or any(c in "/?#%\\" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)
    assert (unsafe_segment(value) is not None) == unsafe
    if not unsafe:
        assert api_path("/quota/{gpu_family}", gpu_family=value) == "/quota/" + value
        check_path("/quota/" + value)


@pytest.mark.parametrize("path", ["/ai/deployment/../model", "/ai/deployment/a b", "/quota/gpu?x=1", "/ai/model//x"])
def test_a_whole_path_with_an_unsafe_segment_is_refused(path):
    with pytest.raises(ExoscaleError, match="cannot be sent"):
        check_path(path)


@pytest.mark.parametrize("answer, words", [([], "a JSON list: []"), (None, "an empty body"), ("hi", "a JSON string"),
                                           ({"choices": []}, "no choices"), ({"choices": ["x"]}, "no message"),
                                           (7, "a JSON number: 7")])
def test_an_answer_that_is_not_a_chat_completion_is_named(answer, words):
    problem = chat_answer_problem(answer)
    assert problem
    assert words in describe_body(answer) + " " + problem


def test_a_chat_completion_passes():
    assert chat_answer_problem({"choices": [{"message": {"content": "hi"}}], "usage": {}}) is None


# vLLM's root cause, as the simulator and vLLM print it (the state-details repeat it)
OOM = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 0.25 GiB. GPU 0 has a total capacity of 23.68 GiB"
       " of which 2066.43 MiB is free. Including non-PyTorch memory, this process has 21.66 GiB memory in use. " + "x" * 300)
OOM_LOG = ["t gpua5000-1-0 (EngineCore_DP0 pid=282) ERROR [core.py:708] EngineCore failed to start.",
           "t gpua5000-1-0 (EngineCore_DP0 pid=282) ERROR [core.py:708] " + OOM,
           "t gpua5000-1-0 (APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above."]
DEPLOYMENT = {"id": "1", "name": "qwen", "state": "error", "state-details": OOM, "gpu-type": "gpua5000", "gpu-count": 1,
              "inference-engine-version": "0.28.0", "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}


def test_the_root_cause_line_is_quoted_once():
    found = diagnosis.diagnose(OOM_LOG, DEPLOYMENT)
    assert found["cause"] == "oom" and len(found["evidence"]) == 1, found["evidence"]
    message = diagnosis.failure_message(DEPLOYMENT, found, OOM_LOG)
    assert message.count("CUDA out of memory. Tried to allocate") == 1, message
    assert "Cause (oom)" in message and "recreate=true" in message


def test_state_details_not_in_the_log_are_still_quoted():
    found = diagnosis.diagnose([], DEPLOYMENT)
    message = diagnosis.failure_message(DEPLOYMENT, found, [])
    assert message.count("CUDA out of memory. Tried to allocate") == 1 and "state-details: " in found["evidence"][0]


def test_a_progress_detail_is_one_short_line():
    assert len(progress.short(OOM)) <= progress.DETAIL_CHARS and progress.short(OOM).endswith(" ...")
    assert progress.short("ready\nmore") == "ready" and progress.short(None) is None and progress.short("  ") is None


PYDANTIC = ["t n (APIServer pid=1) pydantic_core._pydantic_core.ValidationError: 1 validation error for CacheConfig",
            "t n (APIServer pid=1) gpu_memory_utilization",
            "t n (APIServer pid=1)   Input should be less than or equal to 1 [type=less_than_equal, input_value=1.5,"
            " input_type=float]"]


@pytest.mark.parametrize("log, details", [
    (PYDANTIC, None),
    ([], "pydantic_core._pydantic_core.ValidationError: 1 validation error for CacheConfig gpu_memory_utilization"
         " Input should be greater than 0 [type=greater_than, input_value=0.0, input_type=float]"),
    (["t n (APIServer pid=1) ValueError: GPU memory utilization must be less than 1.0. Got 1.5."], None),
])
def test_gpu_memory_utilization_out_of_range_is_an_engine_argument(log, details):
    deployment = dict(DEPLOYMENT, **{"state-details": details, "inference-engine-parameters": ["--gpu-memory-utilization=1.5"]})
    found = diagnosis.diagnose(log, deployment)
    assert found["cause"] == "engine_argument", found
    assert "--gpu-memory-utilization" in found["summary"] and "at most 1" in found["fix"], found
    assert "change --gpu-memory-utilization=1.5" in found["fix"]


ARCHITECTURE = ["t n (APIServer pid=1) ValueError: Model architectures ['FooForCausalLM'] are not supported for now."]


@pytest.mark.parametrize("version", ["0.28.0", None, "0.30.1"])
def test_no_newer_engine_is_suggested_when_the_version_is_the_newest(version):
    found = diagnosis.diagnose(ARCHITECTURE, dict(DEPLOYMENT, **{"inference-engine-version": version, "state-details": ""}))
    assert found["cause"] == "unsupported_architecture"
    assert "newer" not in found["fix"] and "already the newest" in found["fix"], found["fix"]
    assert "(default)" not in found["summary"]


def test_an_older_engine_is_told_the_newest_version():
    found = diagnosis.diagnose(ARCHITECTURE, dict(DEPLOYMENT, **{"inference-engine-version": "0.20.0", "state-details": ""}))
    assert "newer vLLM version (up to %s" % diagnosis.NEWEST_ENGINE_VERSION in found["fix"], found["fix"]
