"""ai_inference against the simulator: answers, retries on 503, and every failure a user can meet, in few playbook runs.

Faults are injected from inside the playbook (``uri`` to the unsigned ``/_sim/faults``) so that one ansible-playbook
run covers many cases in a known order.
"""
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
DEPLOYMENT = "infer-qwen"


def setup_tasks():
    """Upload the model and deploy it (ready); registers ``dep``."""
    return [
        {"name": "model", "inferops.exoscale.ai_model": {"name": QWEN}},
        {"name": "deploy", "inferops.exoscale.ai_deployment": {"name": DEPLOYMENT, "model": QWEN, "gpu_type": "gpua5000",
                                                               "gpu_count": 1}, "register": "dep"},
    ]


def ask(task, ignore_errors=True, **options):
    spec = dict(deployment=DEPLOYMENT, prompt="Say hello.", max_tokens=32, retries=2, retry_delay=0.1)
    spec.update(options)
    spec = {key: value for key, value in spec.items() if value is not None}
    return {"name": task, "inferops.exoscale.ai_inference": spec, "register": task.replace(" ", "_"),
            "ignore_errors": ignore_errors}


def fault(sim, task, **spec):
    """A task that injects a simulator fault (``/_sim/`` is unsigned)."""
    return {"name": task, "ansible.builtin.uri": {"url": sim.base + "/_sim/faults", "method": "POST",
                                                  "body_format": "json", "body": spec}}


def clear_faults(sim):
    return {"name": "clear faults", "ansible.builtin.uri": {"url": sim.base + "/_sim/faults", "method": "DELETE"}}


def test_inference_answers_retries_and_fails_clearly(play, sim):
    run = play(setup_tasks() + [
        ask("plain", ignore_errors=False, expect="(?i)hello"),
        fault(sim, "two 503", method="POST", path="/inference/*", action="status", status=503, count=2),
        ask("after two 503"),
        ask("wrong key", url="{{ dep.deployment.deployment_url }}", inference_api_key="sk-wrong-key", deployment=None),
        fault(sim, "503 forever", method="*", path="/inference/*", action="status", status=503, count=1000),
        ask("always 503"),
        clear_faults(sim),
        fault(sim, "slow answer", method="POST", path="/inference/*", action="delay", delay=3, count=1),
        ask("too slow", timeout=1, retries=0),
        clear_faults(sim),
        ask("unexpected answer", expect="(?i)goodbye"),
        ask("unknown model", model="nobody/nothing"),
        ask("unknown deployment", deployment="no-such-deployment"),
        {"name": "scale to zero", "inferops.exoscale.ai_deployment": {"name": DEPLOYMENT, "replicas": 0}},
        ask("scaled to zero"),
    ])
    assert run.rc == 0, run.output

    plain = run.result("plain")
    assert run.status("plain") == "ok" and plain["changed"] is False
    assert plain["content"].startswith("[%s] You said: Say hello." % QWEN)
    assert plain["model"] == QWEN and plain["finish_reason"] == "stop" and plain["attempts"] == 1
    assert plain["usage"]["total_tokens"] == plain["usage"]["prompt_tokens"] + plain["usage"]["completion_tokens"]
    assert plain["latency_ms"] >= 0

    retried = run.result("after two 503")
    assert run.status("after two 503") == "ok", retried
    assert retried["attempts"] == 3
    assert retried["content"] == plain["content"]

    wrong_key = run.result("wrong key")
    assert run.status("wrong key") == "failed"
    assert "HTTP 401" in wrong_key["msg"] and "refused inference_api_key" in wrong_key["msg"], wrong_key["msg"]
    assert "sk-wrong-key" not in run.output

    always = run.result("always 503")
    assert run.status("always 503") == "failed"
    assert "HTTP 503" in always["msg"] and "not serving yet" in always["msg"], always["msg"]
    assert "Gave up after 3 attempts" in always["msg"] and always["attempts"] == 3, always["msg"]

    slow = run.result("too slow")
    assert run.status("too slow") == "failed"
    assert "ReadTimeout" in slow["msg"] and "No answer within timeout=1 s" in slow["msg"], slow["msg"]
    assert "failed after 1 attempt(s)" in slow["msg"]

    mismatch = run.result("unexpected answer")
    assert run.status("unexpected answer") == "failed"
    assert "does not match expect" in mismatch["msg"] and plain["content"] in mismatch["msg"], mismatch["msg"]
    assert mismatch["content"] == plain["content"]

    unknown = run.result("unknown model")
    assert run.status("unknown model") == "failed"
    assert "HTTP 404" in unknown["msg"] and "nobody/nothing" in unknown["msg"], unknown["msg"]

    missing = run.result("unknown deployment")
    assert run.status("unknown deployment") == "failed"
    assert "'no-such-deployment' does not exist" in missing["msg"], missing["msg"]

    scaled = run.result("scaled to zero")
    assert run.status("scaled to zero") == "failed"
    assert "scaled to 0 replicas" in scaled["msg"] and "Scale it up" in scaled["msg"], scaled["msg"]


def test_inference_plans_in_check_mode_unless_asked(play, sim):
    """One --check run: the setup tasks opt out of check mode, then the same question without and with the opt-out.
    In check mode it sends no chat and returns the answer's keys with null values (the README's play reads them)."""
    setup = [dict(task, check_mode=False) for task in setup_tasks()]
    run = play(setup + [ask("in check mode", ignore_errors=False),
                        dict(ask("check_mode false", ignore_errors=False), check_mode=False)], "--check")
    assert run.rc == 0, run.output
    assert run.status("deploy") == "changed"
    assert run.status("in check mode") == "ok"
    planned = run.result("in check mode")
    assert planned["content"] is None and planned["latency_ms"] is None and planned["attempts"] == 0, planned
    assert planned["url"] == run.result("deploy")["deployment"]["deployment_url"] and "sent nothing" in planned["msg"]
    assert run.status("check_mode false") == "ok"
    assert run.result("check_mode false")["content"].startswith("[%s]" % QWEN)
    chats = [r for r in sim.control.requests("inference") if r["path"].endswith("/chat/completions")]
    assert len(chats) == 1, chats
