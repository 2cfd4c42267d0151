"""ai_inference against the simulator: answers, retries on 503, and every failure a user can meet.

The answers and failures are module logic: they run in process, the faults injected from the test between the
cases (the simulator's control API). Check mode runs as a real --check playbook.
"""
import time

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
DEPLOYMENT = "infer-qwen"


def ask(task, ignore_errors=True, **options):
    spec = dict(deployment=DEPLOYMENT, prompt="Say hello.", max_tokens=32, retries=2, retry_delay=0.1)
    spec.update(options)
    spec = {key: value for key, value in spec.items() if value is not None}
    return {"name": task, "inferops.exoscale.ai_inference": spec, "register": task.replace(" ", "_"),
            "ignore_errors": ignore_errors}


def chats(sim, deployment=None):
    return [r for r in sim.control.requests("inference") if r["path"].endswith("/chat/completions")
            and (deployment is None or deployment["id"] in r["path"])]


def deploy(run_module):
    """The model and a ready deployment, built in process; the deployment."""
    assert not run_module("ai_model", {"name": QWEN}).get("failed")
    result = run_module("ai_deployment", {"name": DEPLOYMENT, "model": QWEN, "gpu_type": "gpua5000", "gpu_count": 1})
    assert result["changed"] and not result.get("failed"), result
    return result["deployment"]


class InProcess:
    """Module results by task name, read like a playbook run's."""

    def __init__(self, run_module):
        self.run_module = run_module
        self.results = {}

    def ask(self, task, **options):
        [(module, args)] = [(k, v) for k, v in ask(task, **options).items() if k.startswith("inferops.")]
        self.results[task] = self.run_module(module, args)

    def result(self, task):
        return self.results[task]

    def status(self, task):
        result = self.results[task]
        return "failed" if result.get("failed") else "changed" if result.get("changed") else "ok"


def test_inference_answers_retries_and_fails_clearly(sim, run_module):
    deployment = deploy(run_module)
    run = InProcess(run_module)
    run.ask("plain", expect="(?i)hello")
    sim.control.inject("POST", "/inference/*", action="status", status=503, count=2)
    run.ask("after two 503")
    run.ask("wrong key", url=deployment["deployment_url"], inference_api_key="sk-wrong-key", deployment=None)
    sim.control.inject("*", "/inference/*", action="status", status=503, count=1000)
    run.ask("always 503")
    sim.control.clear_faults()
    sim.control.inject("POST", "/inference/*", action="delay", delay=3, count=1)
    sent = len(chats(sim))
    run.ask("too slow", timeout=1, retries=0)
    sim.control.clear_faults()
    # The simulator logs the abandoned request when its delay ends: wait for it here, so that it cannot land in the
    # request log of the next test on this worker.
    deadline = time.monotonic() + 15
    while len(chats(sim)) == sent:
        assert time.monotonic() < deadline, "the delayed request never ended"
        time.sleep(0.1)
    run.ask("unexpected answer", expect="(?i)goodbye")
    run.ask("unknown model", model="nobody/nothing")
    run.ask("unknown deployment", deployment="no-such-deployment")
    assert run_module("ai_deployment", {"name": DEPLOYMENT, "replicas": 0})["changed"]
    run.ask("scaled to zero")

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
    assert "sk-wrong-key" not in str(wrong_key)

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


def test_inference_plans_in_check_mode_unless_asked(play, sim, run_module):
    """One --check run: the same question without and with the check_mode opt-out (the deployment built in process).
    In check mode it sends no chat and returns the answer's keys with null values (the README's play reads them)."""
    deployment = deploy(run_module)
    run = play([ask("in check mode", ignore_errors=False),
                dict(ask("check_mode false", ignore_errors=False), check_mode=False)], "--check")
    assert run.rc == 0, run.output
    assert run.status("in check mode") == "ok"
    planned = run.result("in check mode")
    assert planned["content"] is None and planned["latency_ms"] is None and planned["attempts"] == 0, planned
    assert planned["url"] == deployment["deployment_url"] and "sent nothing" in planned["msg"]
    assert run.status("check_mode false") == "ok"
    assert run.result("check_mode false")["content"].startswith("[%s]" % QWEN)
    sent = chats(sim, deployment)
    assert len(sent) == 1, sent
