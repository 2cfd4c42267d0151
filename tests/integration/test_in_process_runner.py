"""The in-process module runner (tests/module_runner.py) returns what a module process would, whatever the test
process imported before: ansible-core (>= 2.19) prints a module's warnings instead of returning them once any
controller code was imported in the process (an inventory or lookup plugin a test loaded)."""
import json


def test_warnings_stay_in_the_result_after_a_controller_import(run_module, sim):  # pylint: disable=unused-argument
    import ansible.utils.display  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from ansible.module_utils import _internal  # pylint: disable=import-outside-toplevel

    assert _internal.is_controller, "the import above makes this process a controller"
    result = run_module("ai_model", name="Qwen/Qwen2.5-0.5B-Instruct", huggingface_api_url="http://127.0.0.1:9")
    assert not result.get("failed"), result
    assert any("127.0.0.1:9" in json.dumps(warning) for warning in result.get("warnings", [])), result
