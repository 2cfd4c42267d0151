"""Bad input and secrets against the simulator: refused before any request with a message that names the field and
what is allowed, never a traceback, never another account, never a secret in the output.

What depends on Ansible (templating an empty vault variable, -vvv output, no_log of registered results, the inventory
plugin) runs real playbooks; the refusals that are the modules' own logic run the modules in process
(``run_module``: a crash there raises ModuleCrashed, the traceback a user would see)."""
import http.server
import json
import re
import subprocess
import threading

import pytest

from tests.integration.conftest import BIN, harness_env, simulator_env

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def api_requests(sim):
    return [r for r in sim.control.requests() if r["kind"] == "api"]


def task(label, module, **options):
    return {"name": label, "inferops.exoscale.%s" % module: options, "ignore_errors": True}


def test_an_empty_key_and_secret_in_the_task_never_act_as_the_environments_account(play, sim):
    """api_key: "" and api_secret: "" (an unset vault variable) with a valid account in the environment: refused."""
    tasks = [task("both empty", "ai_api_key", name="app", scope="public", api_key="", api_secret=""),
             task("empty secret", "ai_model_info", api_key="{{ lookup('env', 'EXOSCALE_API_KEY') }}", api_secret="")]
    for args in ((), ("-vvv",)):
        sim.control.clear_requests()
        run = play(tasks, *args)
        for label, named in (("both empty", "api_key and api_secret are"), ("empty secret", "api_secret is")):
            assert run.status(label) == "failed", run.result(label)
            assert run.result(label)["msg"].startswith(named + " set to an empty value in the task"), run.result(label)
        assert api_requests(sim) == [], api_requests(sim)
        assert sim.secret not in run.output and "Traceback" not in run.output


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e12, 0.01])
def test_api_timeout_out_of_range_is_refused_by_every_kind_of_module(run_module, sim, value):
    modules = (("ai_model_info", {}), ("ai_deployment", dict(name="x", state="absent")),
               ("ai_inference", dict(deployment="x", prompt="hi")))
    for module, options in modules:
        result = run_module(module, options, api_timeout=value)
        assert result.get("failed"), result
        assert "api_timeout must be a positive number of seconds from 0.1 to 3600" in result["msg"], result
    assert api_requests(sim) == []


def test_the_inventory_refuses_a_nan_api_timeout(sim, tmp_path):
    source = tmp_path / "exoscale.ai_deployments.yml"
    source.write_text("plugin: inferops.exoscale.ai_deployments\napi_timeout: .nan\n")
    env = harness_env(tmp_path, env=simulator_env(sim))
    process = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120, check=False)
    assert "api_timeout must be a positive number of seconds from 0.1 to 3600" in process.stderr, process.stderr
    assert api_requests(sim) == [] and "Traceback" not in process.stderr


def test_inference_numbers_that_are_not_finite_are_refused_before_any_request(run_module, sim):
    for options, words in ((dict(temperature=float("nan")), "temperature must be a finite number 0 or more, got nan"),
                           (dict(temperature=-1.0), "temperature must be a finite number 0 or more, got -1"),
                           (dict(timeout=float("inf")), "timeout must be a positive number of seconds from 0.1 to 3600, got inf"),
                           (dict(retry_delay=float("nan")), "retry_delay must be a number of seconds from 0 to 3600, got nan")):
        result = run_module("ai_inference", dict(deployment="x", prompt="hi", **options))
        assert result.get("failed") and words in result["msg"], result
    assert sim.control.requests() == []


@pytest.mark.parametrize("module, options, field", [
    ("ai_deployment_info", dict(id="../../quota"), "deployment id '../../quota'"),
    ("ai_deployment_info", dict(id="a b"), "deployment id 'a b'"),
    ("ai_quota_info", dict(family="gpu/../x"), "gpu family 'gpu/../x'"),
    ("ai_quota_info", dict(family="gpua5000?x=1"), "gpu family 'gpua5000?x=1'"),
])
def test_path_characters_in_ids_and_families_are_refused_before_any_request(run_module, sim, module, options, field):
    result = run_module(module, options)
    assert result.get("failed"), result
    assert result["msg"].startswith(field + " cannot go into the API path"), result["msg"]
    assert "signature" not in result["msg"] and api_requests(sim) == []


class OddEndpoint(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that lists a model and answers chats with whatever ``answer`` is."""
    answer = b""

    def do_GET(self):  # noqa: N802
        self._send(json.dumps({"data": [{"id": "m"}]}).encode())

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(self.server.answer)

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.mark.parametrize("answer, words", [(b"", "answered an empty body"), (b"[]", "answered a JSON list: []"),
                                           (b'{"choices": "no"}', "it has no choices list")])
def test_an_answer_that_is_not_a_chat_completion_fails_naming_what_came_back(run_module, answer, words):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OddEndpoint)
    server.answer = answer
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run_module("ai_inference", url="http://127.0.0.1:%d/v1" % server.server_port,
                            inference_api_key="sk-not-shown-0123", prompt="hi", retries=0)
    finally:
        server.shutdown()
        server.server_close()
    assert result.get("failed"), result
    assert result["msg"].startswith("POST http://127.0.0.1:%d/v1/chat/completions answered" % server.server_port)
    assert words in result["msg"], result["msg"]
    assert "sk-not-shown-0123" not in json.dumps(result)


def test_a_list_from_the_deployment_endpoint_fails_clearly(run_module, sim):
    assert not run_module("ai_model", name=QWEN).get("failed")
    assert not run_module("ai_deployment", name="odd", model=QWEN, gpu_type="gpua5000", gpu_count=1).get("failed")
    sim.control.inject("POST", "/inference/*/chat/completions", status=200, body=[])
    result = run_module("ai_inference", deployment="odd", prompt="hi", retries=0)
    assert result.get("failed") and "answered a JSON list: []" in result["msg"], result


def test_a_refused_organization_key_is_said_to_be_deleted_or_scoped_elsewhere(play, sim):
    """A deleted organization key: the advice is about that key, not the deployment's own one; its value never shows."""
    tasks = [{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
             {"name": "deploy", "inferops.exoscale.ai_deployment": {"name": "keyed", "model": QWEN,
                                                                    "gpu_type": "gpua5000", "gpu_count": 1}},
             {"name": "key", "inferops.exoscale.ai_api_key": {"name": "app", "scope": "public"}, "register": "key",
              "no_log": True},
             {"name": "delete key", "inferops.exoscale.ai_api_key": {"name": "app", "state": "absent"}},
             dict(task("ask", "ai_inference", deployment="keyed", prompt="hi", retries=0,
                       inference_api_key="{{ key.value }}"))]
    for args in ((), ("-vvv",)):
        sim.control.reset()
        run = play(tasks, *args)
        result = run.result("ask")
        assert run.status("ask") == "failed", result
        assert "HTTP 401" in result["msg"] and "it was deleted or its scope is another deployment" in result["msg"]
        assert not result["msg"].split("HTTP 401", 1)[1].lstrip(": ").startswith("The endpoint refused the API key: use")
        values = [r["result"].get("value") for r in run.records if r["task"] == "key"]
        assert all(value is None or value == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" for value in values), values
        created = [k for k in sim.control.requests() if k["path"].endswith("/ai/api-key") and k["method"] == "POST"]
        assert len(created) == 1
        assert not re.search(r"sk-exo-[0-9a-f]{40}", run.output), "an API key value was shown"
