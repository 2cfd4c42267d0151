"""ai_api_key and ai_api_key_info against the simulator: create, converge, check, diff, value once, scope, delete.

Playbooks for what Ansible shows (--check, --diff, the value never printed, no_log at -vvv); the scope rules and
what each key opens run in process, from deployments built in process."""
import json

import httpx

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def key_task(task, register=None, **options):
    task_dict = {"name": task, "inferops.exoscale.ai_api_key": options}
    if register:
        task_dict["register"] = register
    return task_dict


def deploy(run_module, *names):
    """Ready deployments of the small model, built in process: {name: deployment}."""
    assert not run_module("ai_model", {"name": QWEN}).get("failed")
    deployments = {}
    for name in names:
        result = run_module("ai_deployment", dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1))
        assert result["changed"] and not result.get("failed"), result
        deployments[name] = result["deployment"]
    return deployments


def status(result):
    return "failed" if result.get("failed") else "changed" if result.get("changed") else "ok"


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def sim_keys(sim):
    return list(sim.control.state()["zones"]["ch-gva-2"]["api_keys"].values())


def ask(deployment, key):
    """A chat request to a deployment's endpoint with ``key``; the HTTP status."""
    url = deployment["deployment_url"].rstrip("/")
    if not url.endswith("/v1"):
        url += "/v1"
    return httpx.post(url + "/chat/completions", headers={"Authorization": "Bearer " + key}, timeout=10, trust_env=False,
                      json={"model": QWEN, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).status_code


def test_create_converge_check_and_value_once(play, sim, run_module):
    deploy(run_module, "dep-a")
    sim.control.clear_requests()
    run = play([dict(key_task("key in check mode", name="app key", scope="dep-a"), check_mode=True),
                key_task("key", register="created", name="app key", scope="dep-a"),
                key_task("key again", name="app key", scope="dep-a"),
                {"name": "info", "inferops.exoscale.ai_api_key_info": {"name": "app key"}}], "--diff")
    assert run.rc == 0, run.output
    assert run.status("key in check mode") == "changed"
    # One write in the whole play: the check-mode task and the rerun wrote nothing.
    assert writes(sim.control.requests()) == [("POST", "/v2/ai/api-key")]
    scope = run.result("key")["api_key"]["scope"]
    assert run.result("key in check mode")["diff"] == {"before": {"state": "absent"}, "after": {"name": "app key", "scope": scope}}
    created = run.result("key")
    assert run.status("key") == "changed"
    value = created["value"]
    assert value and "value" not in created["api_key"]
    assert created["api_key"]["scope"] == sim_keys(sim)[0]["scope"] != "dep-a"
    assert run.status("key again") == "ok" and "value" not in run.result("key again")
    info = run.result("info")["api_keys"]
    assert [k["id"] for k in info] == [created["api_key"]["id"]] and "value" not in info[0]
    # Without -v the default callback prints the diff and no result: the value is not in the diff.
    assert value not in run.output
    assert len(sim_keys(sim)) == 1
    # A converged run lists the keys, and the deployments to resolve a scope given by name (in process).
    sim.control.clear_requests()
    again = run_module("ai_api_key", dict(name="app key", scope="dep-a"))
    assert status(again) == "ok" and "value" not in again
    assert [r["path"] for r in sim.control.requests()] == ["/v2/ai/api-key", "/v2/ai/deployment"]


def test_value_hidden_at_vvv_with_no_log(play, sim, tmp_path):
    run = play([dict(key_task("key", register="created", name="public key", scope="public"), no_log=True),
                {"name": "keep", "no_log": True,
                 "ansible.builtin.copy": {"content": "{{ created.value }}", "dest": "{{ playbook_dir }}/k", "mode": "0600"}}],
               "-vvv", "--diff")
    assert run.rc == 0, run.output
    value = (tmp_path / "k").read_text()
    assert value and sim_keys(sim)[0]["scope"] == "public"
    assert value not in run.output


def test_scope_change_refused_then_replaced_and_delete_twice(sim, run_module):
    deploy(run_module, "dep-a", "dep-b")

    def key(check_mode=False, **options):
        sim.control.clear_requests()
        return run_module("ai_api_key", options, check_mode=check_mode, diff=True), writes(sim.control.requests())

    first, dummy = key(name="k", scope="dep-a")
    assert status(first) == "changed", first
    refused, refused_writes = key(name="k", scope="dep-b")
    assert status(refused) == "failed"
    assert "cannot change scope" in refused["msg"] and "recreate=true" in refused["msg"]
    assert refused_writes == [] and refused["changed"] is False
    check, check_writes = key(True, name="k", scope="dep-b", recreate=True)
    assert check_writes == []
    assert check["changed"] is True and check["diff"]["before"]["id"] == first["api_key"]["id"]
    second, replace_writes = key(name="k", scope="dep-b", recreate=True)
    assert status(second) == "changed" and second["value"] and second["value"] != first["value"]
    assert second["api_key"]["id"] != first["api_key"]["id"]
    assert [m for m, p in replace_writes] == ["DELETE", "POST"]
    deleted, delete_writes = key(name="k", state="absent")
    again, dummy = key(name="k", state="absent")
    assert status(deleted) == "changed" and status(again) == "ok"
    assert delete_writes == [("DELETE", "/v2/ai/api-key/%s" % second["api_key"]["id"])]
    assert sim_keys(sim) == []


def test_org_key_opens_only_its_deployment(sim, run_module):
    deployments = deploy(run_module, "dep-a", "dep-b")
    scoped = run_module("ai_api_key", dict(name="scoped", scope="dep-a"))
    public = run_module("ai_api_key", dict(name="everything", scope="public"))
    assert status(scoped) == "changed" and status(public) == "changed", (scoped, public)
    assert status(run_module("ai_api_key", dict(name="scoped", state="absent"))) == "changed"
    assert ask(deployments["dep-b"], public["value"]) == 200 and ask(deployments["dep-a"], public["value"]) == 200
    assert ask(deployments["dep-a"], scoped["value"]) == 401  # deleted


def test_scoped_key_opens_its_deployment_and_no_other(sim, run_module):
    deployments = deploy(run_module, "dep-a", "dep-b")
    scoped = run_module("ai_api_key", dict(name="scoped", scope=deployments["dep-a"]["id"]))
    assert status(scoped) == "changed", scoped
    assert ask(deployments["dep-a"], scoped["value"]) == 200
    assert ask(deployments["dep-b"], scoped["value"]) == 401


def test_inference_by_deployment_name_with_an_org_key(sim, run_module):
    """ai_inference accepts deployment together with inference_api_key: the application's own key is tested."""
    deploy(run_module, "dep-a", "dep-b")
    scoped = run_module("ai_api_key", dict(name="scoped", scope="dep-a"))
    assert status(scoped) == "changed", scoped
    sim.control.clear_requests()
    ask_a = run_module("ai_inference", dict(deployment="dep-a", inference_api_key=scoped["value"], prompt="hi", retries=0))
    ask_b = run_module("ai_inference", dict(deployment="dep-b", inference_api_key=scoped["value"], prompt="hi", retries=0))
    assert status(ask_a) == "ok" and ask_a["content"], ask_a
    assert status(ask_b) == "failed" and ask_b["api_error"]["status"] == 401, ask_b
    # the deployment's own key was never revealed: the org key was used
    assert not [r for r in sim.control.requests() if r["path"].endswith("/api-key") and "/deployment/" in r["path"]]
    assert scoped["value"] not in json.dumps([ask_a, ask_b])
