"""fleet.py: the declared environment, the plan, GPU and cost arithmetic, the detail cache (no API)."""
import time

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.inferops.exoscale.plugins.module_utils import cost, fleet
from ansible_collections.inferops.exoscale.plugins.module_utils.problems import Refused

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
PLACE = dict(zone="at-vie-2", gpu_type="gpua5000", gpu_count=1)


def params(**overrides):
    base = dict(name="stg", models=[], api_keys=[], zones=[], deployments=[
        dict(name="chat", zone=None, model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1,
             inference_engine_version=None, inference_engine_parameters=["--max-model-len=4096"])])
    base["from"] = None
    base.update(overrides)
    return base


def live_deployment(name="stg-chat", **fields):
    deployment = {"id": "id-" + name, "name": name, "state": "ready", "model": {"id": "m1", "name": MODEL},
                  "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1, "inference-engine-version": "0.28.0",
                  "inference-engine-parameters": ["--max-model-len=4096"], "created-at": "2026-12-01T10:00:00Z"}
    deployment.update(fields)
    return deployment


def zone_content(deployments=(), keys=()):
    return {"models": [{"id": "m1", "name": MODEL, "state": "ready", "model-size": 988097824}],
            "deployments": list(deployments), "api_keys": list(keys)}


@pytest.mark.parametrize("overrides, message", [
    (dict(name="Stg"), "not an environment name"),
    (dict(deployments=[dict(name="x", gpu_type="gpua5000", gpu_count=1)]), "set model"),
    (dict(deployments=[dict(name="x", model=MODEL, gpu_type="gpua5000", gpu_count=9)]), "gpu_count must be between"),
    (dict(deployments=[dict(name="x", model=MODEL, gpu_type="gpua5000", gpu_count=1, inference_engine_version="v1")]),
     "inference_engine_version"),
    (dict(api_keys=[dict(name="k", scope="nope")]), "scope must be public or the name of one deployment"),
    (dict(deployments=[dict(name="p", model=MODEL, gpu_type="gpua5000", placement=[PLACE])]),
     r"deployments\[p\]: placement replaces gpu_type"),
    (dict(deployments=[dict(name="p", model=MODEL, placement=[dict(PLACE, zone="Geneva")])]),
     r"deployments\[p\]\.placement\[0\]\.zone 'Geneva' is not a zone name"),
    (dict(deployments=[dict(name="p", model=MODEL, placement=[])]), r"deployments\[p\]\.placement must be a non-empty list"),
    (dict(deployments=[dict(name="p", model=MODEL, placement=[PLACE, PLACE])]), r"placement\[1\] repeats placement\[0\]"),
    (dict(deployments=[dict(name="p", model=MODEL, placement=[PLACE]),
                       dict(name="p", zone="de-fra-1", model=MODEL, gpu_type="gpu3", gpu_count=1)]),
     "give it a name no other deployment"),
    (dict(deployments=[dict(name="p", model=MODEL, placement=[PLACE])], api_keys=[dict(name="k", scope="p", zone="at-vie-2")]),
     "leave zone out"),
])
def test_bad_input_is_refused_naming_the_field(overrides, message):
    with pytest.raises(Refused, match=message):
        fleet.declared_environment(params(**overrides), "ch-gva-2")


def test_converged_environment_plans_nothing():
    declared = fleet.declared_environment(params(), "ch-gva-2")
    plan = fleet.plan_environment(declared, {"ch-gva-2": zone_content([live_deployment()])}, prune=False, recreate=False)
    assert plan == dict(actions=[], drift=[], unmanaged=[], placement={})


def test_each_kind_of_change_is_its_action_with_reason_and_gpus():
    declared = fleet.declared_environment(params(deployments=[
        dict(name="a", model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=3),
        dict(name="b", model=MODEL, gpu_type="gpua5000", gpu_count=1, inference_engine_parameters=["--seed=1"]),
        dict(name="c", model=MODEL, gpu_type="gpua5000", gpu_count=2)]), "ch-gva-2")
    live = {"ch-gva-2": zone_content([live_deployment("stg-a", **{"inference-engine-parameters": []}),
                                      live_deployment("stg-b", **{"inference-engine-parameters": []}),
                                      live_deployment("stg-c"), live_deployment("stg-old")])}
    plan = fleet.plan_environment(declared, live, prune=True, recreate=False)
    by_name = dict((a["name"], a) for a in plan["actions"])
    assert by_name["stg-a"]["action"] == "scale" and by_name["stg-a"]["gpus"] == {"gpua5000": 2}
    assert by_name["stg-b"]["action"] == "update" and "inference_engine_parameters" in by_name["stg-b"]["reason"]
    assert by_name["stg-c"]["action"] == "replace" and "recreate" in by_name["stg-c"]["refused"]
    assert by_name["stg-old"]["action"] == "delete" and by_name["stg-old"]["gpus"] == {"gpua5000": -1}
    assert [u["name"] for u in plan["unmanaged"]] == ["stg-old"]
    assert fleet.gpu_summary(plan, live)["ch-gva-2"]["gpua5000"] == dict(before=4, after=5, delta=1)


def test_promotion_copies_the_gated_fields_only():
    spec = dict(name="staging", deployments=[dict(name="chat", zone="de-fra-1", replicas=5, model=MODEL, gpu_type="gpu3080ti",
                                                  gpu_count=2, inference_engine_version="0.27.1",
                                                  inference_engine_parameters=["--seed=3"])])
    declared = fleet.declared_environment(params(deployments=[dict(name="chat", replicas=2)], **{"from": spec}), "ch-gva-2")
    chat = declared["deployments"][0]
    assert (chat["zone"], chat["replicas"], chat["gpu_type"], chat["gpu_count"], chat["inference_engine_version"],
            chat["inference_engine_parameters"]) == ("ch-gva-2", 2, "gpu3080ti", 2, "0.27.1", ["--seed=3"])
    with pytest.raises(Refused, match="did not converge"):
        fleet.load_source({"failed": True, "spec": spec})


@settings(derandomize=True, deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(1, 8), st.sampled_from(["gpua5000", "gpu3080ti"])), max_size=8),
       st.floats(0, 10, allow_nan=False))
def test_cost_is_replicas_times_gpus_times_price(deployments, price):
    prices = dict(currency="EUR", per_gpu_hour=dict(gpua5000=price, gpu3080ti=price / 2))
    cost.validate_prices(prices)
    items = [dict(replicas=r, gpu_count=g, gpu_type=f) for r, g, f in deployments]
    expected = sum(r * g * (price if f == "gpua5000" else price / 2) for r, g, f in deployments)
    assert cost.cost_per_hour(items, prices) == pytest.approx(expected, abs=0.006)


def test_a_family_without_price_is_refused_naming_it():
    declared = fleet.declared_environment(params(), "ch-gva-2")
    live = {"ch-gva-2": zone_content([live_deployment("stg-other", **{"gpu-type": "gpu3080ti"})])}
    plan = fleet.plan_environment(declared, live, prune=False, recreate=False)
    with pytest.raises(Refused, match="no price for gpu3080ti"):
        fleet.environment_cost(plan, live, dict(currency="EUR", per_gpu_hour=dict(gpua5000=1)))
    assert fleet.environment_cost(plan, live, dict(currency="EUR", per_gpu_hour=dict(gpua5000=1, gpu3080ti=0.5))) == dict(
        currency="EUR", per_hour=1.5, before=0.5, after=1.5)


def test_detail_cache_trusts_only_reads_made_after_the_last_update(tmp_path):
    path = str(tmp_path / "cache" / "fleet.json")
    cache = fleet.DetailCache(path)
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cache.record(live_deployment(**{"updated-at": old}))
    cache.record(live_deployment("stg-new", **{"updated-at": now}))
    cache.save({"id-stg-chat", "id-stg-new"})
    reread = fleet.DetailCache(path)
    listed = {"id": "id-stg-chat", "name": "stg-chat", "updated-at": old}
    assert reread.lookup(listed)["inference-engine-parameters"] == ["--max-model-len=4096"]
    assert reread.lookup(dict(listed, **{"updated-at": now})) is None, "a changed updated-at needs a GET"
    assert reread.lookup({"id": "id-stg-new", "updated-at": now}) is None, "read too soon after the update to trust"


def test_placement_stays_where_it_runs_and_a_new_one_is_chosen_with_the_whole_plan_gpus():
    """Pure planning: the facts placement reads are given (no API)."""
    class Given:
        skip = set()

        @staticmethod
        def for_deployment(d, planned):
            types = [dict(family="gpua5000", authorized=True), dict(family="gpu3080ti", authorized=True)]
            return dict(instance_types={"ch-gva-2": types, "at-vie-2": types}, quotas={"gpua5000": dict(limit=2, usage=1)},
                        replicas=d["replicas"], planned=planned)
    options = [dict(zone="ch-gva-2", gpu_type="gpua5000", gpu_count=1), dict(zone="at-vie-2", gpu_type="gpu3080ti", gpu_count=1)]
    declared = fleet.declared_environment(params(deployments=[
        dict(name="chat", model=MODEL, placement=list(reversed(options)), inference_engine_parameters=["--max-model-len=4096"]),
        dict(name="new", model=MODEL, placement=options),
        dict(name="grow", zone="ch-gva-2", model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1)],
        api_keys=[dict(name="k", scope="new")]), "ch-gva-2")
    live = {"ch-gva-2": zone_content([live_deployment("stg-chat")]), "at-vie-2": dict(zone_content(), models=[])}
    plan = fleet.plan_environment(declared, live, prune=False, recreate=False, facts=Given())
    kept, new = plan["placement"]["stg-chat"], plan["placement"]["stg-new"]
    assert kept["chosen"] == options[0] and "already runs on ch-gva-2 gpua5000 x1" in kept["passed_over"][0]["reason"]
    assert new["chosen"] == options[1]
    assert new["passed_over"][0]["reason"] == ("ch-gva-2 gpua5000 x1: quota 2, 1 in use, +1 by the rest of the plan, 1"
                                               " needed (1 x 1 replica(s))")
    assert sorted((a["action"], a["kind"], a["name"], a["zone"]) for a in plan["actions"]) == [
        ("create", "api_key", "stg-k", "at-vie-2"), ("create", "deployment", "stg-grow", "ch-gva-2"),
        ("create", "deployment", "stg-new", "at-vie-2"), ("create", "model", MODEL, "at-vie-2")]


def test_promotion_into_a_deployment_with_placement_keeps_its_options():
    spec = dict(name="staging", deployments=[dict(name="chat", zone="de-fra-1", replicas=1, model=MODEL, gpu_type="gpu3",
                                                  gpu_count=2, inference_engine_version="0.27.1",
                                                  inference_engine_parameters=["--seed=3"])])
    declared = fleet.declared_environment(params(deployments=[dict(name="chat", placement=[PLACE], replicas=2)],
                                                 **{"from": spec}), "ch-gva-2")
    chat = declared["deployments"][0]
    assert chat["placement"] == [PLACE] and "gpu_type" not in chat and "zone" not in chat
    assert (chat["model"], chat["inference_engine_version"], chat["inference_engine_parameters"], chat["replicas"]) == (
        MODEL, "0.27.1", ["--seed=3"], 2)
