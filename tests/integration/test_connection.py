"""How the modules find the API: environment, module_defaults group, profile file, zones; ad-hoc use; bad credentials.

Bad credentials and the {zone} placeholder are module logic (in process); module_defaults, the profile file found
from a job's environment, missing credentials and the ad-hoc command run for real."""
import json
import sys

import yaml

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def test_bad_credentials_fail_with_403_and_a_hint(sim, run_module):
    wrong = "not-the-right-secret-0123456789"
    env = {"EXOSCALE_API_SECRET": wrong}
    results = {"list models": run_module("ai_model_info", {}, env=env),
               "create model": run_module("ai_model", {"name": QWEN}, env=env),
               "deploy": run_module("ai_deployment", {"name": "x", "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1},
                                    env=env)}
    for task, result in results.items():
        assert result.get("failed"), (task, result)
        assert "HTTP 403" in result["msg"], result["msg"]
        assert "api_key and api_secret" in result["msg"]
        assert result["api_error"]["status"] == 403
    assert wrong not in json.dumps(results)
    requests = sim.control.requests()
    assert requests and all(r["status"] == 403 for r in requests)
    assert all(r["method"] == "GET" for r in requests)


def test_missing_credentials_fail_before_any_request(play_without_credentials, sim):
    run = play_without_credentials([{"name": "list models", "inferops.exoscale.ai_model_info": {"api_url": sim.url},
                                     "ignore_errors": True}])
    assert run.status("list models") == "failed", run.output
    message = run.result("list models")["msg"]
    assert "No Exoscale credentials" in message and "EXOSCALE_API_KEY" in message and "exoscale.toml" in message
    assert sim.control.requests() == []


def test_module_defaults_group_supplies_credentials(play_without_credentials, sim, tmp_path):
    play = [{
        "name": "module_defaults",
        "hosts": "localhost",
        "gather_facts": False,
        "connection": "local",
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "module_defaults": {"group/inferops.exoscale.all": {
            "api_url": sim.url, "api_key": sim.key, "api_secret": sim.secret}},
        "tasks": [
            {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
            {"name": "models", "inferops.exoscale.ai_model_info": {}},
            {"name": "gpus", "inferops.exoscale.ai_instance_type_info": {}},
            {"name": "engine", "inferops.exoscale.ai_engine_parameter_info": {}},
            {"name": "deployments", "inferops.exoscale.ai_deployment_info": {}},
            {"name": "deployment", "inferops.exoscale.ai_deployment": {"name": "gone", "state": "absent"}},
        ],
    }]
    playbook = tmp_path / "defaults.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    run = play_without_credentials(playbook=playbook)
    assert run.rc == 0, run.output
    assert run.status("model") == "changed"
    assert [m["name"] for m in run.result("models")["models"]] == [QWEN]
    assert run.result("gpus")["instance_types"]
    assert run.result("engine")["parameters"]
    assert run.result("deployments")["deployments"] == []
    assert run.status("deployment") == "ok"
    assert sim.control.requests() and all(r["status"] < 400 for r in sim.control.requests())


def test_adhoc_command(adhoc, sim):
    process = adhoc("-m", "inferops.exoscale.ai_deployment_info", "-a", "visibility=public",
                    "-e", "ansible_python_interpreter=%s" % sys.executable)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "localhost | SUCCESS =>" in process.stdout
    result = json.loads(process.stdout.split("=>", 1)[1])
    assert sorted(d["name"] for d in result["deployments"]) == ["gpt-oss-120b", "qwen3-8b"]
    assert all("gpu_type" in d and "deployment_url" in d for d in result["deployments"])
    assert [(r["method"], r["path"]) for r in sim.control.requests()] == [("GET", "/v2/ai/deployment")]


def test_zone_placeholder_in_api_url(sim, run_module):
    url = sim.base + "/{zone}/v2"
    env = {"EXOSCALE_ZONE": "de-fra-1"}
    created = run_module("ai_model", {"name": QWEN, "zone": "de-fra-1", "api_url": url}, env=env)
    again = run_module("ai_model", {"name": QWEN, "zone": "de-fra-1", "api_url": url}, env=env)
    fra = run_module("ai_model_info", {"zone": "de-fra-1", "api_url": url}, env=env)
    gva = run_module("ai_model_info", {"zone": "ch-gva-2", "api_url": url}, env=env)
    from_env = run_module("ai_model_info", {"api_url": url}, env=env)
    assert created["changed"] and not created.get("failed"), created
    assert not again["changed"] and not again.get("failed"), again
    assert [m["name"] for m in fra["models"]] == [QWEN]
    assert gva["models"] == []
    assert [m["name"] for m in from_env["models"]] == [QWEN]
    state = sim.control.state()["zones"]
    assert [m["name"] for m in state["de-fra-1"]["models"].values()] == [QWEN]
    assert state["ch-gva-2"]["models"] == {}
    writes = [r for r in sim.control.requests() if r["method"] != "GET"]
    assert [(r["method"], r["path"], r["zone"]) for r in writes] == [("POST", "/de-fra-1/v2/ai/model", "de-fra-1")]


def test_profile_file_supplies_credentials(play_without_credentials, sim, tmp_path):
    config = tmp_path / "config" / "exoscale"
    config.mkdir(parents=True)
    (config / "exoscale.toml").write_text(
        'defaultAccount = "sim"\n\n'
        '[[accounts]]\nname = "sim"\nkey = "%s"\nsecret = "%s"\nendpoint = "%s"\n\n'
        '[[accounts]]\nname = "stale"\nkey = "%s"\nsecret = "revoked-secret"\nendpoint = "%s"\n\n'
        '[[accounts]]\nname = "fra"\nkey = "%s"\nsecret = "%s"\nendpoint = "%s/{zone}/v2"\ndefaultZone = "de-fra-1"\n'
        % (sim.key, sim.secret, sim.url, sim.key, sim.url, sim.key, sim.secret, sim.base))
    run = play_without_credentials([
        {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
        {"name": "models", "inferops.exoscale.ai_model_info": {}},
        {"name": "stale account", "inferops.exoscale.ai_model_info": {"api_profile": "stale"}, "ignore_errors": True},
        {"name": "fra account", "inferops.exoscale.ai_model_info": {"api_profile": "fra"}},
        {"name": "unknown account", "inferops.exoscale.ai_model_info": {"api_profile": "nobody"}, "ignore_errors": True},
    ])
    assert run.status("model") == "changed", run.output
    assert [m["name"] for m in run.result("models")["models"]] == [QWEN]
    assert run.status("stale account") == "failed"
    assert "HTTP 403" in run.result("stale account")["msg"]
    assert run.result("fra account")["models"] == []
    assert run.status("unknown account") == "failed"
    assert "nobody" in run.result("unknown account")["msg"] and "fra, sim, stale" in run.result("unknown account")["msg"]
    assert "revoked-secret" not in run.output and sim.secret not in run.output
    zones = [r["zone"] for r in sim.control.requests()]
    assert "de-fra-1" in zones and set(zones) == {"ch-gva-2", "de-fra-1"}
