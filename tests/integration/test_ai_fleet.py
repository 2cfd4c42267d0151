"""inferops.exoscale.ai_fleet: one environment across two zones, planned and converged in one task (simulator).

Real playbook runs where Ansible's wiring is the point (changed then not changed on rerun, --check from the command
line, --diff and -v output, a registered result templated into ``from``, job events); the plan's logic (drift,
prune, cost and quota refusals, partial failure, placement) runs in process (``run_module``)."""
import collections
import json

import pytest

GVA, FRA = "ch-gva-2", "de-fra-1"
MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
FLEET = "inferops.exoscale.ai_fleet"
WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture
def fleet_play(sim, play, tmp_path):
    """``fleet_play(tasks, *args)``: a play against the simulator's zones ({zone} endpoint), fast, own cache dir."""
    sim.control.config(speed=400)

    def runner(tasks, *args, **kwargs):
        env = dict(EXOSCALE_API_ENDPOINT=sim.base + "/{zone}/v2", XDG_CACHE_HOME=str(tmp_path / "cache"))
        return play(tasks, *args, env=env, **kwargs)
    return runner


@pytest.fixture
def fleet_here(sim, run_module, tmp_path):
    """``fleet_here(module, args, check_mode=False)``: a module in this process against the simulator's zones
    ({zone} endpoint), fast, with the same cache dir as ``fleet_play``."""
    sim.control.config(speed=400)

    def runner(module, args, check_mode=False):
        return run_module(module, args, check_mode=check_mode, env=dict(
            EXOSCALE_API_ENDPOINT=sim.base + "/{zone}/v2", XDG_CACHE_HOME=str(tmp_path / "cache")))
    return runner


def environment(name="stg", count=10, **options):
    deployments = [dict(name="d%d" % i, zone=GVA if i % 2 else FRA, model=MODEL, gpu_type="gpua5000", gpu_count=1,
                        inference_engine_parameters=["--max-model-len=4096"]) for i in range(count)]
    return dict(dict(name=name, deployments=deployments,
                     api_keys=[dict(name="app", scope="d1"), dict(name="ops", zone=FRA)]), **options)


def fleet_task(args, name="fleet", **extra):
    return dict({"name": name, FLEET: args, "register": "result"}, **extra)


def writes(sim):
    return [(r["method"], r["path"]) for r in sim.control.requests() if r["method"] in WRITES]


def test_create_rerun_drift_and_converge(sim, fleet_play, fleet_here):
    """10 deployments in 2 zones; a rerun changes nothing; 3 out-of-band changes are exactly the plan; apply converges."""
    env = environment()
    run = fleet_play([fleet_task(env), fleet_task(env, name="rerun")])
    assert run.rc == 0, run.output[-3000:]
    created = run.result("fleet")
    assert created["changed"]
    assert sorted(a["kind"] for a in created["plan"]["actions"]).count("deployment") == 10
    assert all(d["state"] == "ready" for d in created["environment"]["deployments"].values())
    assert len(created["environment"]["deployments"]) == 10 and len(created["api_key_values"]) == 2
    assert created["plan"]["gpus"][GVA]["gpua5000"] == dict(before=0, after=5, delta=5)
    rerun = run.result("rerun")
    assert not rerun["changed"] and rerun["plan"]["actions"] == [] and rerun["plan"]["drift"] == []
    assert "api_key_values" not in rerun

    for module, args in (("ai_deployment", dict(name="stg-d1", zone=GVA, replicas=2)),
                         ("ai_deployment", dict(name="stg-d2", zone=FRA, inference_engine_parameters=["--max-model-len=2048"])),
                         ("ai_api_key", dict(name="stg-ops", zone=FRA, state="absent"))):
        changed = fleet_here(module, args)
        assert changed["changed"] and not changed.get("failed"), (module, args, changed)
    sim.control.clear_requests()
    check = fleet_play([fleet_task(env, name="plan")], "--check")
    assert check.rc == 0, check.output[-3000:]
    assert writes(sim) == [], "check mode wrote"
    plan = check.result("plan")["plan"]
    assert sorted((a["action"], a["kind"], a["name"], a["zone"]) for a in plan["actions"]) == [
        ("create", "api_key", "stg-ops", FRA), ("scale", "deployment", "stg-d1", GVA),
        ("update", "deployment", "stg-d2", FRA)]
    scale = next(a for a in plan["actions"] if a["action"] == "scale")
    assert scale["changes"] == {"replicas": {"before": 2, "after": 1}} and scale["gpus"] == {"gpua5000": -1}
    assert "replicas: 2 -> 1" in scale["reason"]
    assert sorted(d["name"] for d in plan["drift"]) == ["stg-d1", "stg-d2"]
    apply = fleet_here(FLEET, env)
    assert apply["changed"] and not apply.get("failed"), apply.get("msg")
    assert not fleet_here(FLEET, env)["changed"]
    assert list(apply["api_key_values"]) == ["%s/stg-ops" % FRA]


def test_stray_deployment_is_listed_and_deleted_only_with_prune(sim, fleet_here):
    env = environment(name="dev", count=1, api_keys=[])
    stray = dict(model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1)
    assert fleet_here(FLEET, env)["changed"]
    for name in ("dev-old", "other-old"):
        assert fleet_here("ai_deployment", dict(name=name, zone=FRA, **stray))["changed"]
    listed = fleet_here(FLEET, env)
    assert not listed["changed"] and listed["plan"]["actions"] == []
    assert [(u["name"], u["zone"]) for u in listed["plan"]["unmanaged"]] == [("dev-old", FRA)]
    sim.control.clear_requests()
    check = fleet_here(FLEET, dict(env, prune=True), check_mode=True)
    assert [(a["action"], a["name"]) for a in check["plan"]["actions"]] == [("delete", "dev-old")]
    assert writes(sim) == []
    pruned = fleet_here(FLEET, dict(env, prune=True))
    assert not pruned.get("failed") and pruned["changed"]
    names = sorted(d["name"] for d in sim.control.state()["zones"][FRA]["deployments"].values()
                   if d["visibility"] == "private")
    assert names == ["dev-d0", "other-old"], "prune deleted outside the prefix or left the stray"
    deletes = [path for method, path in writes(sim) if method == "DELETE"]
    assert len(deletes) == 1


def test_cost_cap_refuses_in_check_mode_before_any_write(sim, fleet_here):
    prices = dict(currency="EUR", per_gpu_hour=dict(gpua5000=1.5))
    env = environment(name="cap", count=4, api_keys=[], prices=prices, max_cost_per_hour=5)
    sim.control.clear_requests()
    result = fleet_here(FLEET, env, check_mode=True)
    assert result.get("failed")
    assert "6.00 EUR per hour" in result["msg"] and "max_cost_per_hour 5.00" in result["msg"]
    assert result["cost"] == dict(currency="EUR", per_hour=6.0, before=0.0, after=6.0)
    assert writes(sim) == []
    within = fleet_here(FLEET, dict(env, max_cost_per_hour=6))
    assert not within.get("failed") and within["cost"]["after"] == 6.0
    grown = dict(env, max_cost_per_hour=6, deployments=[dict(d, replicas=2) for d in env["deployments"]])
    sim.control.clear_requests()
    refused = fleet_here(FLEET, grown)
    assert refused.get("failed") and "12.00 EUR" in refused["msg"] and writes(sim) == []


def test_bad_prices_are_refused_before_any_request(sim, fleet_here):
    sim.control.clear_requests()
    result = fleet_here(FLEET, environment(count=1, api_keys=[], prices=dict(currency="EUR", per_gpu_hour={})))
    assert result.get("failed") and "prices.per_gpu_hour" in result["msg"]
    assert sim.control.requests() == []


def test_promotion_reproduces_the_gated_spec(sim, fleet_play, fleet_here, tmp_path):
    staging = dict(name="staging", deployments=[
        dict(name="chat", zone=GVA, model=MODEL, gpu_type="gpua5000", gpu_count=2, inference_engine_version="0.27.1",
             inference_engine_parameters=["--max-model-len=8192", "--enable-prefix-caching"])])
    prod = dict(name="prod", deployments=[dict(name="chat", zone=FRA, replicas=2)])
    source = tmp_path / "staging.json"
    run = fleet_play([fleet_task(staging, name="staging", register="staging"),
                      fleet_task(dict(prod, **{"from": "{{ staging }}"}), name="prod"),
                      {"name": "save", "ansible.builtin.copy": {"content": "{{ staging | to_json }}", "dest": str(source)}},
                      fleet_task(dict(prod, name="prod2", **{"from": str(source)}), name="prod2")])
    assert run.rc == 0, run.output[-3000:]
    want = run.result("staging")["spec"]["deployments"][0]
    for task, zone_name in (("prod", "%s/prod-chat" % FRA), ("prod2", "%s/prod2-chat" % FRA)):
        got = run.result(task)["environment"]["deployments"][zone_name]
        for field in ("model", "gpu_type", "gpu_count", "inference_engine_version", "inference_engine_parameters"):
            assert got[field] == want[field], (task, field)
        assert got["replicas"] == 2
    bad = fleet_here(FLEET, dict(prod, **{"from": {"failed": True, "spec": {"name": "x", "deployments": []}}}))
    assert bad.get("failed") and "did not converge" in bad["msg"]


def test_one_failing_deployment_leaves_the_others_converged(sim, fleet_here):
    env = environment(name="mix", count=4, api_keys=[dict(name="bad-key", scope="d3"), dict(name="ok", scope="d1")])
    sim.control.force_failure("out_of_memory", deployment="mix-d3")
    result = fleet_here(FLEET, env)
    assert result.get("failed")
    assert result["changed"]
    failed = sorted((f["kind"], f["name"]) for f in result["failed_actions"])
    assert failed == [("deployment", "mix-d3")], result["failed_actions"]
    assert "out of memory" in result["msg"].lower() or "state error" in result["msg"]
    states = dict((k, v["state"]) for k, v in result["environment"]["deployments"].items())
    assert [k for k, v in states.items() if v != "ready"] == ["%s/mix-d3" % GVA]
    assert "%s/mix-ok" % GVA in result["environment"]["api_keys"]
    refused = fleet_here(FLEET, env)
    assert refused.get("failed")
    assert [a["action"] for a in refused["plan"]["actions"]] == ["replace"] and "recreate" in refused["msg"]
    recreated = fleet_here(FLEET, dict(env, recreate=True))
    assert recreated["changed"] and not recreated.get("failed"), recreated.get("msg")
    assert sorted((a["action"], a["name"]) for a in recreated["plan"]["actions"]) == [
        ("replace", "mix-bad-key"), ("replace", "mix-d3")], "the key opens the new deployment"
    assert not fleet_here(FLEET, env)["changed"]


def test_secrets_stay_out_of_plan_diff_and_output(sim, fleet_play):
    env = environment(name="sec", count=1, models=[dict(name=MODEL, huggingface_token="hf_secrettoken123")],
                      api_keys=[dict(name="app", scope="d0"), dict(name="ops")])
    run = fleet_play([fleet_task(env, no_log=False), fleet_task(env, name="rerun")], "--diff", "-v")
    assert run.rc == 0, run.output[-3000:]
    assert not run.result("rerun")["changed"]
    result = run.result("fleet")
    values = list(result["api_key_values"].values())
    assert len(values) == 2
    shown = json.dumps(dict(plan=result["plan"], diff=result["diff"], environment=result["environment"]))
    assert not any(v in shown for v in values) and "hf_secrettoken123" not in run.output
    assert "sec-d0" in run.output  # the one environment diff
    rerun_output = run.stdout[run.stdout.index("TASK [rerun]"):]
    assert not any(v in rerun_output for v in values)  # the rerun shows no key value (the first run returns them)


def test_quota_that_cannot_hold_the_plan_is_refused_before_any_write(sim, fleet_here):
    sim.control.limits(gpua5000=3)
    sim.control.clear_requests()
    result = fleet_here(FLEET, environment(name="quota", count=4, api_keys=[]))
    assert result.get("failed")
    assert "GPU quota" in result["msg"] and "needs 4 gpua5000" in result["msg"] and not result["changed"]
    assert writes(sim) == []


def test_zones_behind_one_fixed_endpoint_are_refused_before_any_request(sim, run_module, tmp_path):
    sim.control.clear_requests()
    result = run_module(FLEET, environment(name="onezone", count=2, api_keys=[]),
                        env=dict(XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert result.get("failed") and "put {zone} into api_url" in result["msg"]
    assert sim.control.requests() == []


def test_job_events_carry_no_token_and_key_values_only_where_asked(sim, ansible_runner, tmp_path):
    sim.control.config(speed=400)
    env = environment(name="awx", count=1, api_keys=[dict(name="app", scope="d0")],
                      models=[dict(name=MODEL, huggingface_token="hf_awxsecret123")])
    run = ansible_runner([fleet_task(env), fleet_task(env, name="hidden", no_log=True)],
                         env=dict(EXOSCALE_API_ENDPOINT=sim.base + "/{zone}/v2", EXOSCALE_API_KEY=sim.key,
                                  EXOSCALE_API_SECRET=sim.secret, XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert run.rc == 0, run.stdout[-3000:]
    events = "".join(path.read_text() for path in (run.artifacts / "job_events").glob("*.json"))
    assert "hf_awxsecret123" not in events and sim.secret not in events
    value = run.result("fleet")["api_key_values"]["%s/awx-app" % FRA]
    shown = run.result("fleet")
    assert all(value not in str(shown[key]) for key in ("plan", "diff", "environment", "spec"))
    assert "hf_awxsecret123" not in str(run.result("hidden"))


# ---------------------------------------------------------------------------------------------------------
# Placement per deployment (issue 21 through the fleet): at-vie-2 offers gpu3080ti/gpua5000, de-fra-1 gpu3 and
# gpurtx6000pro, ch-dk-2 has gpurtx6000pro not authorized (the simulator's exoscale-2026 preset).
VIE, DK = "at-vie-2", "ch-dk-2"


def option(zone, gpu_type, gpu_count=1):
    return dict(zone=zone, gpu_type=gpu_type, gpu_count=gpu_count)


@pytest.fixture
def fleet_module(sim, run_module, tmp_path):
    """``fleet_module(args, check_mode=False)``: ai_fleet in this process against the simulator's zones."""
    sim.control.config(speed=400)
    sim.control.zones(preset="exoscale-2026")

    def runner(args, check_mode=False):
        return run_module(FLEET, args, check_mode=check_mode, env=dict(
            EXOSCALE_API_ENDPOINT=sim.base + "/{zone}/v2", XDG_CACHE_HOME=str(tmp_path / "cache")))
    return runner


def private_in(sim, zone):
    return sorted((d["name"], d["gpu-type"]) for d in sim.control.state()["zones"][zone]["deployments"].values()
                  if d["visibility"] == "private")


def reasons(choice):
    return [entry["reason"] for entry in choice["passed_over"]]


def test_placement_in_a_play_lands_check_mode_agrees_and_the_rerun_stays(sim, fleet_play):
    """The wiring (one play): a deployment with placement lands on the first option that passes, its key and its
    model follow it; check mode shows the same choice; a rerun with the list reordered keeps it where it runs."""
    sim.control.zones(preset="exoscale-2026")
    env = dict(name="pl", deployments=[
        dict(name="chat", model=MODEL, placement=[option(VIE, "gpu3"), option(FRA, "gpu3")]),
        dict(name="fixed", zone=VIE, model=MODEL, gpu_type="gpua5000", gpu_count=1)],
        api_keys=[dict(name="app", scope="chat")])
    moved = dict(env, deployments=[dict(env["deployments"][0], placement=[option(VIE, "gpua5000"), option(FRA, "gpu3")]),
                                   env["deployments"][1]])
    check = fleet_play([fleet_task(env, name="plan")], "--check")
    assert check.rc == 0, check.output[-3000:]
    assert writes(sim) == []
    sim.control.clear_requests()
    run = fleet_play([fleet_task(env, name="apply"), fleet_task(moved, name="rerun")])
    assert run.rc == 0, run.output[-3000:]
    applied, planned = run.result("apply"), check.result("plan")
    choice = applied["plan"]["placement"]["pl-chat"]
    assert choice["chosen"] == option(FRA, "gpu3")
    assert reasons(choice) == ["at-vie-2 gpu3 x1: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)"]
    assert planned["plan"]["placement"] == applied["plan"]["placement"], "check mode showed another choice"
    assert sorted((a["kind"], a["name"], a["zone"]) for a in planned["plan"]["actions"]) == [
        ("api_key", "pl-app", FRA), ("deployment", "pl-chat", FRA), ("deployment", "pl-fixed", VIE),
        ("model", MODEL, VIE), ("model", MODEL, FRA)]
    assert private_in(sim, FRA) == [("pl-chat", "gpu3")] and private_in(sim, VIE) == [("pl-fixed", "gpua5000")]
    assert "%s/pl-app" % FRA in applied["environment"]["api_keys"]
    assert applied["spec"]["deployments"][0]["zone"] == FRA
    rerun = run.result("rerun")
    assert not rerun["changed"] and rerun["plan"]["actions"] == []
    stayed = rerun["plan"]["placement"]["pl-chat"]
    assert stayed["chosen"] == option(FRA, "gpu3") and "already runs on de-fra-1 gpu3 x1" in reasons(stayed)[0]


def test_converged_placement_reads_each_zone_once_and_sends_no_create(sim, fleet_module):
    options = [option(DK, "gpurtx6000pro"), option("hr-zag-1", "gpurtx6000pro"), option(FRA, "gpurtx6000pro")]
    env = dict(name="cv", deployments=[dict(name="a", model=MODEL, placement=options),
                                       dict(name="b", model=MODEL, placement=options[1:])])
    created = fleet_module(env)
    assert created["changed"] and not created.get("failed"), created.get("msg")
    assert [c["chosen"]["zone"] for c in (created["plan"]["placement"]["cv-a"], created["plan"]["placement"]["cv-b"])] \
        == ["hr-zag-1", "hr-zag-1"]
    sim.control.clear_requests()
    again = fleet_module(env)
    assert not again["changed"] and again["plan"]["actions"] == []
    requests = sim.control.requests()
    assert [r for r in requests if r["method"] != "GET"] == []
    lists = collections.Counter((r["zone"], r["path"].split("/v2/")[1]) for r in requests if r["path"].count("/") == 4)
    assert all(n == 1 for n in lists.values()), lists
    assert set(zone for zone, path in lists) == {DK, "hr-zag-1", FRA}
    assert not any("instance-type" in r["path"] or r["path"].endswith("/quota") for r in requests)


def test_quota_counts_the_whole_plan_and_check_mode_shows_the_same_choice(sim, fleet_module):
    """2 gpua5000 in quota: the fixed deployment takes both, so the one with placement goes to its second family."""
    sim.control.limits(gpua5000=2)
    env = dict(name="qa", deployments=[
        dict(name="fixed", zone=VIE, model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=2),
        dict(name="flex", model=MODEL, placement=[option(VIE, "gpua5000"), option(VIE, "gpu3080ti")])])
    check = fleet_module(env, check_mode=True)
    assert not check.get("failed"), check.get("msg")
    choice = check["plan"]["placement"]["qa-flex"]
    assert choice["chosen"] == option(VIE, "gpu3080ti")
    assert reasons(choice) == ["at-vie-2 gpua5000 x1: quota 2, 0 in use, +2 by the rest of the plan, 1 needed"
                               " (1 x 1 replica(s))"]
    assert check["plan"]["gpus"][VIE] == dict(
        gpua5000=dict(before=0, after=2, delta=2), gpu3080ti=dict(before=0, after=1, delta=1))
    run = fleet_module(env)
    assert run["changed"] and not run.get("failed"), run.get("msg")
    assert run["plan"]["placement"] == check["plan"]["placement"]
    assert private_in(sim, VIE) == [("qa-fixed", "gpua5000"), ("qa-flex", "gpu3080ti")]


def test_create_answering_412_moves_on_with_no_duplicate_and_the_key_follows(sim, fleet_module):
    sim.control.zones(zones={VIE: {"gpua5000": {"free": 0}}})
    env = dict(name="cap", deployments=[dict(name="chat", model=MODEL,
                                             placement=[option(VIE, "gpua5000"), option(FRA, "gpu3")])],
               api_keys=[dict(name="app", scope="chat")])
    check = fleet_module(env, check_mode=True)
    assert check["plan"]["placement"]["cap-chat"]["chosen"] == option(VIE, "gpua5000")  # a 412 cannot be foreseen
    run = fleet_module(env)
    assert run["changed"] and not run.get("failed"), run.get("msg")
    choice = run["plan"]["placement"]["cap-chat"]
    assert choice["chosen"] == option(FRA, "gpu3")
    assert len(reasons(choice)) == 1 and reasons(choice)[0].startswith(
        "at-vie-2 gpua5000 x1: the create answered 412 (not enough GPUs in at-vie-2)")
    creates = [(r["zone"], r["status"]) for r in sim.control.requests()
               if r["method"] == "POST" and r["path"].endswith("/ai/deployment")]
    assert creates == [(VIE, 412), (FRA, 200)]
    assert private_in(sim, VIE) == [] and private_in(sim, FRA) == [("cap-chat", "gpu3")]
    assert list(run["api_key_values"]) == ["%s/cap-app" % FRA] and run["spec"]["deployments"][0]["zone"] == FRA
    again = fleet_module(env)
    assert not again["changed"] and again["plan"]["actions"] == [], again["plan"]


def test_nothing_passes_is_refused_before_any_write_with_every_reason(sim, fleet_module):
    sim.control.limits(gpu3=1)
    env = dict(name="no", deployments=[
        dict(name="ok", zone=VIE, model=MODEL, gpu_type="gpua5000", gpu_count=1),
        dict(name="x", model=MODEL, placement=[option(VIE, "gpu3"), option(DK, "gpurtx6000pro"), option(FRA, "gpu3", 2)])])
    expected = ["at-vie-2 gpu3 x1: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)",
                "ch-dk-2 gpurtx6000pro x1: gpurtx6000pro is not authorized for the organization in ch-dk-2",
                "de-fra-1 gpu3 x2: quota 1, 0 in use, 2 needed (2 x 1 replica(s))"]
    sim.control.clear_requests()
    for check_mode in (True, False):
        result = fleet_module(env, check_mode=check_mode)
        assert result["failed"] and not result["changed"]
        assert "deployments[x]: placement: none of the 3 option(s)" in result["msg"]
        assert all(reason in result["msg"] for reason in expected)
        choice = result["plan"]["placement"]["no-x"]
        assert choice["chosen"] is None and reasons(choice) == expected
    assert [r for r in sim.control.requests() if r["method"] in WRITES] == []
