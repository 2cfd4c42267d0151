"""Placement against the simulator's per-zone GPU families (preset exoscale-2026: at-vie-2 gpu3080ti/gpua5000,
ch-dk-2 gpurtx6000pro not authorized, de-fra-1 gpu3/gpurtx6000pro, hr-zag-1 gpurtx6000pro): the first option that
passes, the reasons for the others, the create's 412, refusals before any write, check mode, stickiness, requests."""
import collections

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"


def zoned(sim):
    """The environment of a user whose endpoint has a {zone} placeholder (each option reaches its own zone)."""
    return {"EXOSCALE_API_ENDPOINT": sim.base + "/{zone}/v2"}


def option(zone, gpu_type, gpu_count=1):
    return {"zone": zone, "gpu_type": gpu_type, "gpu_count": gpu_count}


def placed(task, placement, register=None, **options):
    spec = dict(name="chat", model=QWEN, placement=placement)
    spec.update(options)
    entry = {"name": task, "inferops.exoscale.ai_deployment": spec}
    if register:
        entry["register"] = register
    return entry


def writes(requests):
    return [(r["method"], r["path"], r["status"]) for r in requests if r["method"] != "GET"]


def private(sim, zone):
    return [d for d in sim.control.state()["zones"][zone]["deployments"].values() if d["visibility"] == "private"]


def reasons(result):
    return [entry["reason"] for entry in result["placement"]["passed_over"]]


def spec(placement, **options):
    return dict(dict(name="chat", model=QWEN, placement=placement), **options)


def upload_in(run_module, sim, *zones, name=QWEN):
    for zone in zones:
        result = run_module("ai_model", {"name": name, "zone": zone}, env=zoned(sim))
        assert not result.get("failed"), result


def test_family_missing_in_zone_lands_in_next_check_mode_agrees_and_rerun_is_converged(play, sim, run_module):
    sim.control.zones(preset="exoscale-2026")
    upload_in(run_module, sim, "de-fra-1")
    options = [option("at-vie-2", "gpu3"), option("de-fra-1", "gpu3")]
    sim.control.clear_requests()
    check = play([placed("deploy", options)], "--check", env=zoned(sim))
    assert check.rc == 0, check.output
    assert writes(sim.control.requests()) == []
    run = play([placed("deploy", options)], env=zoned(sim))
    assert run.rc == 0, run.output
    result = run.result("deploy")
    assert result["changed"] and result["placement"]["chosen"] == option("de-fra-1", "gpu3")
    assert reasons(result) == ["at-vie-2 gpu3 x1: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)"]
    assert check.result("deploy")["placement"] == result["placement"]  # check mode showed the same choice and reasons
    assert result["plan"]["placement"] == result["placement"] and check.result("deploy")["plan"]["action"] == "create"
    assert [d["gpu-type"] for d in private(sim, "de-fra-1")] == ["gpu3"] and private(sim, "at-vie-2") == []

    sim.control.clear_requests()
    again = run_module("ai_deployment", spec(options), env=zoned(sim))
    assert not again["changed"] and again["placement"]["chosen"] == option("de-fra-1", "gpu3")
    rerun = sim.control.requests()
    assert writes(rerun) == []
    lists = collections.Counter(r["zone"] for r in rerun if r["path"].endswith("/v2/ai/deployment"))
    assert lists == {"at-vie-2": 1, "de-fra-1": 1}  # each zone read once


def test_quota_full_for_first_family_takes_second_family(sim, run_module):
    sim.control.zones(preset="exoscale-2026")
    sim.control.limits(gpu3=1)
    upload_in(run_module, sim, "de-fra-1")
    result = run_module("ai_deployment", spec([option("de-fra-1", "gpu3", 2), option("de-fra-1", "gpurtx6000pro")]),
                        env=zoned(sim))
    assert result["changed"] and not result.get("failed"), result
    assert result["placement"]["chosen"] == option("de-fra-1", "gpurtx6000pro")
    assert reasons(result) == ["de-fra-1 gpu3 x2: quota 1, 0 in use, 2 needed (2 x 1 replica(s))"]
    assert [d["gpu-type"] for d in private(sim, "de-fra-1")] == ["gpurtx6000pro"]


def test_create_answering_412_moves_on_with_no_duplicate_left(sim, run_module):
    sim.control.zones(preset="exoscale-2026", zones={"at-vie-2": {"gpua5000": {"free": 0}}})
    upload_in(run_module, sim, "at-vie-2", "hr-zag-1")
    result = run_module("ai_deployment", spec([option("at-vie-2", "gpua5000"), option("hr-zag-1", "gpurtx6000pro")]),
                        env=zoned(sim))
    assert result["changed"] and not result.get("failed"), result
    assert result["placement"]["chosen"] == option("hr-zag-1", "gpurtx6000pro")
    assert len(reasons(result)) == 1 and reasons(result)[0].startswith(
        "at-vie-2 gpua5000 x1: the create answered 412 (not enough GPUs in at-vie-2): not enough gpua5000 GPUs")
    creates = [w for w in writes(sim.control.requests()) if w[1].endswith("/ai/deployment")]
    assert creates == [("POST", "/at-vie-2/v2/ai/deployment", 412), ("POST", "/hr-zag-1/v2/ai/deployment", 200)]
    assert private(sim, "at-vie-2") == [] and len(private(sim, "hr-zag-1")) == 1


def test_nothing_passes_is_refused_before_any_write_with_every_reason(sim, run_module):
    sim.control.zones(preset="exoscale-2026")
    sim.control.limits(gpu3=1)
    options = [option("at-vie-2", "gpu3"), option("ch-dk-2", "gpurtx6000pro"), option("de-fra-1", "gpu3", 2),
               option("at-vie-2", "gpu3080ti")]
    expected = [
        "at-vie-2 gpu3 x1: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)",
        "ch-dk-2 gpurtx6000pro x1: gpurtx6000pro is not authorized for the organization in ch-dk-2",
        "de-fra-1 gpu3 x2: quota 1, 0 in use, 2 needed (2 x 1 replica(s))",
    ]
    for check_mode in (False, True):
        result = run_module("ai_deployment", spec(options, model=QWEN_7B), check_mode=check_mode, env=zoned(sim))
        assert result.get("failed"), result
        assert result["placement"]["chosen"] is None and reasons(result)[:3] == expected
        assert "do not fit 1 x gpu3080ti" in reasons(result)[3]
        assert "none of the 4 option(s)" in result["msg"] and all(reason in result["msg"] for reason in expected)
        assert not result["changed"]
    assert writes(sim.control.requests()) == []


def test_converged_run_costs_one_list_per_extra_zone(sim, run_module):
    """The request cost of a converged run: the single-option form against a 3-option placement over 3 zones."""
    single = {"name": "chat", "model": QWEN, "zone": "de-fra-1", "gpu_type": "gpurtx6000pro", "gpu_count": 1}
    options = [option("de-fra-1", "gpurtx6000pro"), option("hr-zag-1", "gpurtx6000pro"), option("at-vie-2", "gpua5000")]
    sim.control.zones(preset="exoscale-2026")
    upload_in(run_module, sim, "de-fra-1")
    assert run_module("ai_deployment", single, env=zoned(sim))["changed"]
    results, requests = {}, {}
    for label, args in (("single", single), ("placed", spec(options))):
        sim.control.clear_requests()
        results[label] = run_module("ai_deployment", args, env=zoned(sim))
        requests[label] = sim.control.requests()
    assert not results["single"]["changed"] and not results["placed"]["changed"], results
    single_requests, placed_requests = requests["single"], requests["placed"]
    extra = collections.Counter((r["method"], r["path"]) for r in placed_requests) - \
        collections.Counter((r["method"], r["path"]) for r in single_requests)
    print("converged run requests: single option %d, 3-option placement %d" % (len(single_requests), len(placed_requests)))
    assert extra == {("GET", "/hr-zag-1/v2/ai/deployment"): 1, ("GET", "/at-vie-2/v2/ai/deployment"): 1}
    assert len(placed_requests) == len(single_requests) + 2
    result = results["placed"]
    assert result["placement"]["chosen"] == options[0] and result["placement"]["passed_over"] == []


def test_existing_deployment_stays_unless_moved(sim, run_module):
    """Stickiness: found in the second zone, it stays there when the first has room again; placement_move moves it
    to the first that passes (the new one is ready before the old one is deleted)."""
    sim.control.zones(preset="exoscale-2026", zones={"de-fra-1": {"gpurtx6000pro": {"free": 0}}})
    options = [option("de-fra-1", "gpurtx6000pro"), option("hr-zag-1", "gpurtx6000pro")]
    upload_in(run_module, sim, "de-fra-1", "hr-zag-1")
    deployed = run_module("ai_deployment", spec(options), env=zoned(sim))
    assert deployed["placement"]["chosen"] == options[1], deployed
    sim.control.zones(zones={"de-fra-1": {"gpurtx6000pro": {"free": 8}}})
    sim.control.clear_requests()
    stay = run_module("ai_deployment", spec(options), env=zoned(sim))
    assert not stay["changed"] and stay["placement"]["chosen"] == options[1], stay
    assert "already runs on hr-zag-1 gpurtx6000pro x1" in stay["placement"]["passed_over"][0]["reason"]
    assert writes(sim.control.requests()) == []
    sim.control.clear_requests()
    moved = run_module("ai_deployment", spec(options, placement_move=True), env=zoned(sim))
    assert moved["changed"] and moved["placement"]["chosen"] == options[0], moved
    assert moved["placement"]["moved_from"]["zone"] == "hr-zag-1" and moved["deployment"]["state"] == "ready"
    assert len(private(sim, "de-fra-1")) == 1 and private(sim, "hr-zag-1") == []
    move_writes = [w[:2] for w in writes(sim.control.requests())]
    assert move_writes[0] == ("POST", "/de-fra-1/v2/ai/deployment") and move_writes[-1][0] == "DELETE"


def test_bad_placement_input_is_refused_before_any_request(sim, run_module):
    results = {
        "dup": run_module("ai_deployment", spec([option("de-fra-1", "gpu3"), option("de-fra-1", "gpu3")]), env=zoned(sim)),
        "both": run_module("ai_deployment", spec([option("de-fra-1", "gpu3")], gpu_type="gpu3"), env=zoned(sim)),
        "unzoned": run_module("ai_deployment", spec([option("de-fra-1", "gpu3"), option("hr-zag-1", "gpurtx6000pro")],
                                                    api_url=sim.url), env=zoned(sim))}
    assert all(result.get("failed") for result in results.values()), results
    assert "placement[1] repeats placement[0]" in results["dup"]["msg"]
    assert "mutually exclusive" in results["both"]["msg"] and "placement" in results["both"]["msg"]
    assert "has no {zone} placeholder" in results["unzoned"]["msg"]
    assert sim.control.requests() == []


def serve(placement_options, state="present", **role_vars):
    values = dict(serve_model_state=state, serve_model_name=QWEN, serve_model_deployment_name="role-chat",
                  serve_model_smoke_retry_delay=0.2, serve_model_placement=placement_options)
    values.update(role_vars)
    return {"name": "serve %s" % state, "ansible.builtin.include_role": {"name": "inferops.exoscale.serve_model"},
            "vars": values}


def models_by_zone(sim):
    return dict((zone, sorted(m["name"] for m in content["models"].values()))
                for zone, content in sim.control.state()["zones"].items() if content["models"])


def test_serve_model_role_uploads_in_the_chosen_zone_only_and_check_mode_predicts_it(play, sim):
    sim.control.zones(preset="exoscale-2026")
    options = [option("at-vie-2", "gpu3"), option("de-fra-1", "gpu3")]
    # The smoke test in the chosen zone is the 412 test's; here the upload, the deployment and the teardown.
    tasks = [serve(options, serve_model_smoke_test=False), {"name": "endpoint", "ansible.builtin.debug": {"var": "serve_model_endpoint"}}]
    check = play(tasks, "--check", env=zoned(sim))
    assert check.rc == 0, check.output
    assert writes(sim.control.requests()) == []
    run = play(tasks + [serve(options, state="absent")], env=zoned(sim))
    assert run.rc == 0, run.output
    landed = run.result("endpoint")["serve_model_endpoint"]["placement"]
    assert landed["chosen"] == option("de-fra-1", "gpu3")
    assert [e["reason"] for e in landed["passed_over"]] == [
        "at-vie-2 gpu3 x1: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)"]
    assert check.result("endpoint")["serve_model_endpoint"]["placement"] == landed
    created = [w[:2] for w in writes(sim.control.requests()) if w[0] == "POST" and w[1].endswith(("/ai/model", "/ai/deployment"))]
    assert created == [("POST", "/de-fra-1/v2/ai/model"), ("POST", "/de-fra-1/v2/ai/deployment")]  # the chosen zone only
    assert models_by_zone(sim) == {} and private(sim, "de-fra-1") == []  # torn down


def test_serve_model_role_after_412_uploads_and_deploys_in_the_next_zone(play, sim):
    sim.control.zones(preset="exoscale-2026", zones={"at-vie-2": {"gpua5000": {"free": 0}}})
    options = [option("at-vie-2", "gpua5000"), option("hr-zag-1", "gpurtx6000pro")]
    run = play([serve(options), {"name": "endpoint", "ansible.builtin.debug": {"var": "serve_model_endpoint"}}],
               env=zoned(sim))
    assert run.rc == 0, run.output
    landed = run.result("endpoint")["serve_model_endpoint"]["placement"]
    assert landed["chosen"] == option("hr-zag-1", "gpurtx6000pro")
    assert "the create answered 412" in landed["passed_over"][0]["reason"]
    assert private(sim, "at-vie-2") == [] and len(private(sim, "hr-zag-1")) == 1
    assert run.result("endpoint")["serve_model_endpoint"]["url"]
