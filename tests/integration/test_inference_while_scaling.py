"""ai_inference asks a deployment that is scaling: the replicas it keeps serve (the simulator, like the service, keeps
them answering), so the task answers instead of refusing; scaling up from 0 has nothing serving: the endpoint's 503
says so."""
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def test_a_deployment_scaling_between_counts_above_zero_answers(run_module, sim):
    sim.control.config(speed=200, timings=dict(deployment_scaling=20000))  # the scaling outlasts the test
    assert not run_module("ai_model", name=QWEN).get("failed")
    spec = dict(name="scaler", model=QWEN, gpu_type="gpua5000", gpu_count=1)
    assert run_module("ai_deployment", spec, replicas=1)["deployment"]["state"] == "ready"
    scaled = run_module("ai_deployment", spec, replicas=2, wait=False)
    assert scaled["changed"] and scaled["action"] == "scale", scaled
    assert scaled["deployment"]["state"] == "scaling", scaled
    answer = run_module("ai_inference", deployment="scaler", prompt="Say hello.", max_tokens=8)
    assert not answer.get("failed"), answer
    assert answer["content"]


def test_a_deployment_scaling_up_from_zero_fails_with_the_endpoints_503(run_module, sim):
    sim.control.config(speed=200, timings=dict(deployment_scaling=20000))
    assert not run_module("ai_model", name=QWEN).get("failed")
    spec = dict(name="waker", model=QWEN, gpu_type="gpua5000", gpu_count=1)
    assert run_module("ai_deployment", spec, replicas=1)["deployment"]["state"] == "ready"
    sim.control.config(timings=dict(deployment_scaling=1))
    assert run_module("ai_deployment", spec, replicas=0)["deployment"]["replicas"] == 0
    sim.control.config(timings=dict(deployment_scaling=20000))
    assert run_module("ai_deployment", spec, replicas=1, wait=False)["deployment"]["state"] == "scaling"
    answer = run_module("ai_inference", deployment="waker", prompt="Say hello.", max_tokens=8, retries=1, retry_delay=1)
    assert answer.get("failed"), answer
    assert "HTTP 503" in answer["msg"] and "it is scaling" in answer["msg"] and "not serving yet" in answer["msg"], answer["msg"]
