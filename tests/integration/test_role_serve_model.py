"""The serve_model role against the simulator: converge, idempotence, check mode, teardown, no secret in any output."""
import secrets

import pytest

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
GATED = "meta-llama/Llama-3.1-8B-Instruct"


def serve(state="present", name=QWEN, deployment="role-qwen", **role_vars):
    """One include_role task of serve_model (fast smoke-test retries)."""
    values = dict(serve_model_state=state, serve_model_name=name, serve_model_deployment_name=deployment,
                  serve_model_smoke_retry_delay=0.2)
    values.update(role_vars)
    return {"name": "serve_model %s" % state, "ansible.builtin.include_role": {"name": "inferops.exoscale.serve_model"},
            "vars": values}


def zone_state(sim, zone="ch-gva-2"):
    return sim.control.state()["zones"][zone]


def private_deployments(sim):
    return [d for d in zone_state(sim)["deployments"].values() if d["visibility"] == "private"]


def model_names(sim):
    return sorted(m["name"] for m in zone_state(sim)["models"].values())


def writes(requests):
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


ROLE_PREFIX = "inferops.exoscale.serve_model : "


def task_name(record):
    """A role task's name without the ``role : `` prefix."""
    return record["task"][len(ROLE_PREFIX):] if record["task"].startswith(ROLE_PREFIX) else record["task"]


def changed(run):
    return [task_name(r) for r in run.records if r["status"] == "changed"]


def by_name(run, name):
    """The (last) record of the role task ``name``."""
    matches = [r for r in run.records if task_name(r) == name]
    assert matches, "no task %r ran; output:\n%s" % (name, run.output[-4000:])
    return matches[-1]


@pytest.mark.core_subset
def test_role_converges_is_idempotent_and_tears_down(play, sim):
    run = play([serve()])
    assert run.rc == 0, run.output
    assert sorted(changed(run)) == ["Deploy it as role-qwen", "Upload the model %s" % QWEN], changed(run)
    deployment = by_name(run, "Deploy it as role-qwen")["result"]["deployment"]
    assert deployment["state"] == "ready"
    smoke = by_name(run, "Smoke-test the endpoint")
    assert smoke["status"] == "ok"
    assert smoke["result"]["content"].startswith("[%s]" % QWEN)
    assert smoke["result"]["usage"]["total_tokens"] > 0
    summary = "\n".join(by_name(run, "Summary")["result"]["msg"])
    assert "(ready" in summary and "-> ready" in summary, summary
    [created] = private_deployments(sim)
    assert created["name"] == "role-qwen" and created["id"] == deployment["id"]
    assert model_names(sim) == [QWEN]

    sim.control.clear_requests()
    again = play([serve()])
    assert again.rc == 0, again.output
    assert changed(again) == []
    assert "changed=0" in again.stdout
    assert writes(sim.control.requests()) == []
    assert [d["id"] for d in private_deployments(sim)] == [deployment["id"]]

    sim.control.clear_requests()
    absent = play([serve("absent")])
    assert absent.rc == 0, absent.output
    assert changed(absent) == ["Delete the deployment role-qwen", "Delete the model %s" % QWEN]
    deletes = [path for method, path in writes(sim.control.requests()) if method == "DELETE"]
    assert len(deletes) == 2, deletes
    assert deletes[0].startswith("/v2/ai/deployment/") and deletes[1].startswith("/v2/ai/model/"), deletes
    assert private_deployments(sim) == [] and model_names(sim) == []

    sim.control.clear_requests()
    absent_again = play([serve("absent")])
    assert absent_again.rc == 0, absent_again.output
    assert changed(absent_again) == []
    assert writes(sim.control.requests()) == []


def test_role_check_mode_predicts_changes_without_writing(play, sim):
    run = play([serve()], "--check")
    assert run.rc == 0, run.output
    assert changed(run) == ["Upload the model %s" % QWEN, "Deploy it as role-qwen"], changed(run)
    deploy = by_name(run, "Deploy it as role-qwen")["result"]
    assert deploy["deployment"]["model"]["name"] == QWEN and deploy["deployment"]["gpu_type"] == "gpua5000"
    assert any("does not exist yet" in warning for warning in deploy.get("warnings", [])), deploy
    assert by_name(run, "Smoke-test the endpoint")["status"] == "skipped"
    requests = sim.control.requests()
    assert requests, "check mode should still look the resources up"
    assert {r["method"] for r in requests} == {"GET"}, writes(requests)
    assert sim.control.requests("inference") == []
    assert private_deployments(sim) == [] and model_names(sim) == []


def test_role_never_prints_secrets(play, sim, tmp_path):
    """-vvv --diff, present then absent, gated model: no secret in stdout, stderr or the recorded results."""
    token = "hf_" + secrets.token_urlsafe(24)
    # an 8B model on one 24 GB GPU: the default 131072-token context leaves no room for its KV cache
    role_vars = dict(name=GATED, deployment="secret-llama", serve_model_huggingface_token=token,
                     serve_model_engine_parameters=["--max-model-len=8192"])
    present = play([serve(**role_vars)], "-vvv", "--diff")
    assert present.rc == 0, present.output[-6000:]
    assert by_name(present, "Smoke-test the endpoint")["status"] == "ok"
    [deployment] = private_deployments(sim)
    api_key = deployment["api-key"]
    assert api_key and len(api_key) > 10
    # the token was really sent (the gated model downloaded) and the deployment key really used
    assert zone_state(sim)["models"] and model_names(sim) == [GATED]
    assert any(r["path"].endswith("/api-key") for r in sim.control.requests())

    absent = play([serve("absent", **role_vars)], "-vvv", "--diff")
    assert absent.rc == 0, absent.output[-6000:]
    assert private_deployments(sim) == [] and model_names(sim) == []

    recorded = "".join(path.read_text() for path in sorted(tmp_path.glob("records-*.json")))
    assert "Smoke-test the endpoint" in recorded
    for run in (present, absent):
        for name, secret in (("api_secret", sim.secret), ("huggingface token", token), ("deployment API key", api_key)):
            assert secret not in run.stdout, "%s printed on stdout" % name
            assert secret not in run.stderr, "%s printed on stderr" % name
            assert secret not in recorded, "%s in the recorded callback results" % name
