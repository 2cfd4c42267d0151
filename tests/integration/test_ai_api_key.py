"""ai_api_key and ai_api_key_info against the simulator: create, converge, check, diff, value once, scope, delete."""
import json

import httpx

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def key_task(task, register=None, **options):
    task_dict = {"name": task, "inferops.exoscale.ai_api_key": options}
    if register:
        task_dict["register"] = register
    return task_dict


def deploy(task, name):
    return {"name": task, "inferops.exoscale.ai_deployment": dict(name=name, model=QWEN, gpu_type="gpua5000", gpu_count=1)}


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


def test_create_converge_check_and_value_once(play, sim, markers):
    run = play([{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                deploy("deploy a", "dep-a"),
                markers.task("check"),
                dict(key_task("key in check mode", name="app key", scope="dep-a"), check_mode=True),
                markers.task("create"),
                key_task("key", register="created", name="app key", scope="dep-a"),
                markers.task("again"),
                key_task("key again", name="app key", scope="dep-a"),
                markers.task("info"),
                {"name": "info", "inferops.exoscale.ai_api_key_info": {"name": "app key"}}], "--diff")
    assert run.rc == 0, run.output
    groups = markers.split()
    assert run.status("key in check mode") == "changed"
    assert writes(groups["check"]) == []
    scope = run.result("key")["api_key"]["scope"]
    assert run.result("key in check mode")["diff"] == {"before": {"state": "absent"}, "after": {"name": "app key", "scope": scope}}
    created = run.result("key")
    assert run.status("key") == "changed"
    assert writes(groups["create"]) == [("POST", "/v2/ai/api-key")]
    value = created["value"]
    assert value and "value" not in created["api_key"]
    assert created["api_key"]["scope"] == sim_keys(sim)[0]["scope"] != "dep-a"
    assert run.status("key again") == "ok" and "value" not in run.result("key again")
    assert writes(groups["again"]) == []
    # A converged run lists the keys, and the deployments to resolve a scope given by name.
    assert [r["path"] for r in groups["again"]] == ["/v2/ai/api-key", "/v2/ai/deployment"]
    info = run.result("info")["api_keys"]
    assert [k["id"] for k in info] == [created["api_key"]["id"]] and "value" not in info[0]
    # Without -v the default callback prints the diff and no result: the value is not in the diff.
    assert value not in run.output
    assert len(sim_keys(sim)) == 1


def test_value_hidden_at_vvv_with_no_log(play, sim, tmp_path):
    run = play([dict(key_task("key", register="created", name="public key", scope="public"), no_log=True),
                {"name": "keep", "no_log": True,
                 "ansible.builtin.copy": {"content": "{{ created.value }}", "dest": "{{ playbook_dir }}/k", "mode": "0600"}}],
               "-vvv", "--diff")
    assert run.rc == 0, run.output
    value = (tmp_path / "k").read_text()
    assert value and sim_keys(sim)[0]["scope"] == "public"
    assert value not in run.output


def test_scope_change_refused_then_replaced_and_delete_twice(play, sim, markers):
    run = play([{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                deploy("deploy a", "dep-a"),
                deploy("deploy b", "dep-b"),
                key_task("key", register="first", name="k", scope="dep-a"),
                markers.task("refused"),
                dict(key_task("other scope", name="k", scope="dep-b"), ignore_errors=True),
                markers.task("check-replace"),
                dict(key_task("replace in check mode", name="k", scope="dep-b", recreate=True), check_mode=True),
                markers.task("replace"),
                key_task("replace", register="second", name="k", scope="dep-b", recreate=True),
                markers.task("delete"),
                key_task("delete", name="k", state="absent"),
                key_task("delete again", name="k", state="absent")], "--diff")
    assert run.rc == 0, run.output
    groups = markers.split()
    refused = run.result("other scope")
    assert run.status("other scope") == "failed"
    assert "cannot change scope" in refused["msg"] and "recreate=true" in refused["msg"]
    assert writes(groups["refused"]) == [] and refused["changed"] is False
    assert writes(groups["check-replace"]) == []
    check = run.result("replace in check mode")
    assert check["changed"] is True and check["diff"]["before"]["id"] == run.result("key")["api_key"]["id"]
    second = run.result("replace")
    assert run.status("replace") == "changed" and second["value"] and second["value"] != run.result("key")["value"]
    assert second["api_key"]["id"] != run.result("key")["api_key"]["id"]
    assert [m for m, p in writes(groups["replace"])] == ["DELETE", "POST"]
    assert run.status("delete") == "changed" and run.status("delete again") == "ok"
    assert writes(groups["delete"]) == [("DELETE", "/v2/ai/api-key/%s" % second["api_key"]["id"])]
    assert sim_keys(sim) == []


def test_org_key_opens_only_its_deployment(play, sim, tmp_path):
    facts_file = tmp_path / "keys.json"
    run = play([{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                dict(deploy("deploy a", "dep-a"), register="a"),
                dict(deploy("deploy b", "dep-b"), register="b"),
                key_task("scoped", register="scoped", name="scoped", scope="dep-a"),
                key_task("public", register="public", name="everything", scope="public"),
                {"name": "keep", "no_log": True, "ansible.builtin.copy": {
                    "dest": str(facts_file), "mode": "0600",
                    "content": "{{ {'a': a.deployment, 'b': b.deployment, 'scoped': scoped.value, 'public': public.value} | to_json }}"}},
                key_task("delete scoped", name="scoped", state="absent")])
    assert run.rc == 0, run.output
    facts = json.loads(facts_file.read_text())
    assert ask(facts["b"], facts["public"]) == 200 and ask(facts["a"], facts["public"]) == 200
    assert ask(facts["a"], facts["scoped"]) == 401  # deleted by the last task
    assert facts["scoped"] not in run.output and facts["public"] not in run.output


def test_scoped_key_opens_its_deployment_and_no_other(play, sim, tmp_path):
    facts_file = tmp_path / "keys.json"
    run = play([{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                dict(deploy("deploy a", "dep-a"), register="a"),
                dict(deploy("deploy b", "dep-b"), register="b"),
                key_task("scoped", register="scoped", name="scoped", scope="{{ a.deployment.id }}"),
                {"name": "keep", "no_log": True, "ansible.builtin.copy": {
                    "dest": str(facts_file), "mode": "0600",
                    "content": "{{ {'a': a.deployment, 'b': b.deployment, 'scoped': scoped.value} | to_json }}"}}])
    assert run.rc == 0, run.output
    facts = json.loads(facts_file.read_text())
    assert ask(facts["a"], facts["scoped"]) == 200
    assert ask(facts["b"], facts["scoped"]) == 401


def test_inference_by_deployment_name_with_an_org_key(play, sim):
    """ai_inference accepts deployment together with inference_api_key: the application's own key is tested."""
    run = play([{"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
                deploy("deploy a", "dep-a"),
                deploy("deploy b", "dep-b"),
                dict(key_task("scoped", register="scoped", name="scoped", scope="dep-a"), no_log=True),
                {"name": "ask a", "inferops.exoscale.ai_inference": {
                    "deployment": "dep-a", "inference_api_key": "{{ scoped.value }}", "prompt": "hi", "retries": 0}},
                {"name": "ask b", "ignore_errors": True, "inferops.exoscale.ai_inference": {
                    "deployment": "dep-b", "inference_api_key": "{{ scoped.value }}", "prompt": "hi", "retries": 0}}])
    assert run.rc == 0, run.output
    assert run.status("ask a") == "ok" and run.result("ask a")["content"]
    assert run.status("ask b") == "failed" and run.result("ask b")["api_error"]["status"] == 401
    # the deployment's own key was never revealed: the org key was used
    assert not [r for r in sim.control.requests() if r["path"].endswith("/api-key") and "/deployment/" in r["path"]]
