"""Property: any sequence of up to four transient faults, placed anywhere in the request stream of a full
serve_model run (model, deployment, smoke test; again with a PATCH and a scale; teardown), is survived.

After every sequence: no task crashed (a traceback), every task succeeded (four faults never exhaust the
retry budget, DEFAULT_RETRY's six attempts per request; beyond it a task must fail saying why, which the
budget tests below check), exactly one model and one deployment exist while serving and none after the
teardown, and they are in the wanted state (nothing lost: the PATCH and the scale took effect).

PROPERTY_EXAMPLES sets the number of sequences (``make test``: 200, ``make fuzz``: 2000), played in
PROPERTY_SHARDS shards (2: one per core under ``-n 2``), each with its own fixed seed: the same sequences every
run. Each shard writes its counts to build/reports/property-faults-<shard>.json (PROPERTY_REPORT overrides the
base path); ``make property`` adds them up into property-faults.json.
"""
import collections
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils.client import DEFAULT_RETRY
from tests.module_runner import ModuleCrashed
from tests.property.role_harness import (
    DEPLOYMENT, ENGINE_PARAMETERS, FAULTS, TASKS, RoleHarness, VirtualTime, resources,
)

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
# The sequences are independent: shards on separate workers halve the wall time, which is mostly the real
# socket timeouts of the read-timeout faults, not CPU.
SHARDS = int(os.environ.get("PROPERTY_SHARDS", "2"))
SEED = 20261201
REPORT = Path(os.environ.get("PROPERTY_REPORT")
              or Path(__file__).resolve().parents[2] / "build" / "reports" / "property-faults.json")
RETRY_ATTEMPTS = DEFAULT_RETRY.attempts  # the budget of one request (6)

# Outcomes where the server acted but the client cannot know it are drawn twice as often: they are the
# ones a resend can get wrong (a duplicate, or the 409 of its own operation).
FAULT_KINDS = sorted(FAULTS) + ["lost-response", "read-timeout"]
# A fault goes to a task of the run, a class of the requests it sends (lookups, the write, operation polls,
# readiness polls, inference...; half of the time one of the task's writes) and the n-th request of that
# class; the harness maps the numbers onto what a fault-free run of the task sends.
PLACEMENT = st.tuples(
    st.integers(0, len(TASKS) - 1),
    st.booleans(),
    st.integers(0, 20),
    st.one_of(st.integers(0, 1), st.integers(0, 30)),
    st.sampled_from(FAULT_KINDS),
)
SEQUENCES = st.lists(PLACEMENT, min_size=0, max_size=4)


@pytest.fixture(scope="module", name="harness")
def harness_fixture():
    with VirtualTime() as virtual_time:
        running = RoleHarness(virtual_time)
        try:
            running.calibrate()
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module", name="clean_environment")
def clean_environment_fixture():
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("EXOSCALE_")}
    yield
    os.environ.update(saved)


def check_run(record):
    """The property, on one played sequence."""
    trace = "fault sequence %r:\n%s" % (record.sequence, record.describe())
    assert not record.failures(), "a task failed with at most 4 faults:\n" + trace
    models, deployments = record.resources_after("1 ai_inference")
    assert len(models) == 1 and len(deployments) == 1, "after the first run: %r %r\n%s" % (models, deployments, trace)
    assert (deployments[0]["replicas"], deployments[0]["state"]) == (1, "ready"), trace
    models, deployments = record.resources_after("2 ai_inference")
    assert len(models) == 1 and models[0]["state"] == "ready", "models after serving: %r\n%s" % (models, trace)
    assert len(deployments) == 1, "deployments after serving: %r\n%s" % (deployments, trace)
    serving = deployments[0]
    assert (serving["replicas"], serving["parameters"], serving["state"]) == (2, ENGINE_PARAMETERS, "ready"), \
        "the deployment is not what the second run asked for: %r\n%s" % (serving, trace)
    assert deployments[0]["id"] == record.resources_after("1 ai_inference")[1][0]["id"], "replaced, not updated\n" + trace
    assert record.result("2 ai_deployment")["changed"] is True, trace
    assert record.result("2 ai_model")["changed"] is False, trace
    assert record.result("1 ai_model")["changed"] is True and record.result("1 ai_deployment")["changed"] is True, trace
    endpoint = record.fact("2", "serve_model_endpoint")
    assert (endpoint["deployment_id"], endpoint["deployment"]) == (serving["id"], DEPLOYMENT), \
        "the role recorded another endpoint: %r\n%s" % (endpoint, trace)
    for label in ("1 ai_inference", "2 ai_inference"):
        assert record.result(label)["content"], trace
    assert record.resources_after("3 ai_model") == ([], []), "left after the teardown:\n" + trace


def shard_examples(shard):
    """The number of sequences shard ``shard`` plays: EXAMPLES split over the shards, the remainder to the first."""
    return EXAMPLES // SHARDS + (1 if shard < EXAMPLES % SHARDS else 0)


def shard_report(shard):
    return REPORT.with_name("%s-%d%s" % (REPORT.stem, shard, REPORT.suffix))


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("shard", range(SHARDS))
def test_any_fault_sequence_is_survived(harness, shard):
    counts = collections.Counter()
    started = time.monotonic()
    examples = shard_examples(shard)

    @seed(SEED + shard)
    @settings(max_examples=examples, derandomize=False, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
    @given(sequence=SEQUENCES)
    def property_holds(sequence):
        try:
            record = harness.run(sequence)
        except ModuleCrashed as exc:
            raise AssertionError("fault sequence %r: %s" % (sequence, exc)) from exc
        counts["sequences"] += 1
        counts["faults placed"] += len(sequence)
        counts["faults fired"] += record.fired()
        counts["sequences of length %d" % len(sequence)] += 1
        for (method, dummy), kind in record.targets():
            counts["kind " + kind] += 1
            if method not in ("GET", "*"):
                counts["faults on writes"] += 1
                counts["write " + kind] += 1
        check_run(record)

    try:
        property_holds()  # pylint: disable=no-value-for-parameter
    finally:
        counts["seconds"] = round(time.monotonic() - started, 1)
        report = shard_report(shard)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(dict(sorted(counts.items())), indent=1))
        print("\nproperty-faults shard %d: %s" % (shard, json.dumps(dict(sorted(counts.items())))))
    assert counts["sequences"] >= examples


@pytest.mark.usefixtures("clean_environment")
def test_a_fault_burst_beyond_the_budget_fails_clearly_and_a_rerun_converges(harness):
    """As many 503 in a row on the deployment create as the budget allows exhaust it: the task fails naming the
    request and the status (no traceback), creates nothing twice, and the next run without faults finishes."""
    record = harness.run([], tasks=TASKS[:1])
    assert not record.failures(), record.describe()
    harness.control.inject("POST", "/v2/ai/deployment", status=503, count=RETRY_ATTEMPTS)
    failed, unfired = harness.run_task(TASKS[1])
    assert failed.get("failed") is True and unfired == 0, failed
    assert "POST /ai/deployment" in failed["msg"] and "HTTP 503" in failed["msg"], failed["msg"]
    assert "Traceback" not in json.dumps(failed) and "exception" not in failed
    assert resources(harness)[1] == []
    rerun, dummy = harness.run_task(TASKS[1])
    assert not rerun.get("failed"), rerun.get("msg")
    assert [d["name"] for d in resources(harness)[1]] == [DEPLOYMENT]


@pytest.mark.usefixtures("clean_environment")
def test_one_fault_less_than_the_budget_is_survived(harness):
    """The budget boundary: one 503 fewer than the budget on the same create still creates exactly one."""
    record = harness.run([], tasks=TASKS[:1])
    assert not record.failures(), record.describe()
    harness.control.inject("POST", "/v2/ai/deployment", status=503, count=RETRY_ATTEMPTS - 1)
    result, unfired = harness.run_task(TASKS[1])
    assert not result.get("failed") and unfired == 0, result.get("msg")
    assert [d["name"] for d in resources(harness)[1]] == [DEPLOYMENT]
