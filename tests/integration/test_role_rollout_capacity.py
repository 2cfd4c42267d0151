"""The rollout role without spare GPUs (rollout_capacity: shrink_then_grow), its cost at the user's prices, and its
placement, against the simulator.

Under load: a prober follows the switch as consumers do (the endpoint the switch tasks last pointed at) and a watcher
reads the simulator's deployment state every 50 ms, counting the replicas that answer inference across the live
deployment and the candidate. Neither may fail: no failed request, never fewer than rollout_replicas - 1 ready."""
import json
import threading

from exoscale_ai_simulator import state as sim_state
from tests.benchmarks.downtime import Prober
from tests.integration.test_role_rollout import (
    NAME, QWEN, QWEN_15, deployments, failure, only, rollout, serves, show_result, writes,
)
from tests.integration.test_role_rollout_interruptions import SWITCH_TASKS

PRICES = {"currency": "EUR", "per_gpu_hour": {"gpua5000": 1.25}}


class ReadyWatcher:
    """Polls the simulator's state: the fewest replicas of the rollout's deployments that answered at one moment."""

    def __init__(self, sim, interval=0.05):
        self.sim = sim
        self.interval = interval
        self.counts = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def ready_now(self):
        dump = self.sim.control.state()
        return sum(sim_state.serving_replicas(dep, dump["now"])
                   for dep in dump["zones"]["ch-gva-2"]["deployments"].values()
                   if dep["visibility"] == "private" and (dep["name"] == NAME or dep["name"].startswith(NAME + "--")))

    def _run(self):
        while not self._stop.wait(self.interval):
            self.counts.append(self.ready_now())

    def start(self):
        self.counts.append(self.ready_now())
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.counts


def result_of(run):
    records = [r for r in run.records if r["task"] == "result"]
    if records:
        return records[-1]["result"]["rollout_result"]
    built = [r for r in run.records if r["task"].endswith("Build rollout_result")]
    return built[-1]["result"]["ansible_facts"]["rollout_result"] if built else None


def full_quota(sim, build, replicas):
    """The live deployment (replicas x 1 GPU) holds the whole gpua5000 quota (built in process, no playbook run)."""
    build(replicas=replicas, more_models=[QWEN_15])
    sim.control.limits(gpua5000=replicas)


def test_shrink_then_grow_under_load_loses_no_request_and_keeps_n_minus_1_ready(sim, play, tmp_path, live_built):
    (tmp_path / "switch.yml").write_text(SWITCH_TASKS)
    full_quota(sim, live_built, 2)
    old = only(sim)
    wanted = dict(rollout_model=QWEN_15, rollout_replicas=2, rollout_prices=PRICES)

    sim.control.clear_requests()
    refused = play([rollout(**wanted), show_result()])
    assert refused.rc != 0 and writes(sim.control.requests()) == []
    message = failure(refused)
    assert "quota is 2 with 2 in use" in message and "rollout_capacity: shrink_then_grow" in message, message

    wanted["rollout_capacity"] = "shrink_then_grow"
    checked = play([rollout(**wanted), show_result()], "--check")
    assert checked.rc == 0 and writes(sim.control.requests()) == [], checked.output[-3000:]
    predicted = result_of(checked)
    assert predicted["steps"] == ["shrink", "create", "claim", "ready", "gate", "switch", "handoff", "rename_old",
                                  "rename_candidate", "retire"], predicted
    assert predicted["capacity"]["quota"] == {"gpu_type": "gpua5000", "limit": 2, "usage": 2, "free": 0, "needed": 2}
    assert predicted["capacity"]["shrink_to"] == 1 and predicted["capacity"]["handoff"] == [{"old": 0, "candidate": 2}]
    assert predicted["cost"] == {"currency": "EUR", "unit": "EUR per hour", "per_hour": 2.5, "before": 2.5, "after": 2.5}

    target = tmp_path / "target.json"
    target.write_text(json.dumps({"url": "%s/inference/ch-gva-2/%s/v1" % (sim.base, old["id"]), "api_key": old["api-key"],
                                  "model": QWEN, "id": old["id"]}))
    prober, watcher = Prober(target, interval=0.05).start(), ReadyWatcher(sim).start()
    try:
        done = play([rollout(**wanted), show_result()])
    finally:
        samples, ready = prober.stop(), watcher.stop()
    assert done.rc == 0, done.output[-4000:]
    result = result_of(done)
    assert result["outcome"] == "switched" and result["plan"] == predicted["plan"] and result["steps"] == predicted["steps"]
    final = only(sim)
    assert final["id"] == json.loads(target.read_text())["id"] != old["id"]
    assert final["model"]["name"] == QWEN_15 and final["replicas"] == 2 and sorted(deployments(sim)) == [NAME]
    failed = [ok for dummy, ok in samples if not ok]
    assert len(samples) > 20 and not failed, "%d of %d probe requests failed" % (len(failed), len(samples))
    assert len(ready) > 20 and min(ready) >= 1, ready
    assert ready[0] == 2 and ready[-1] == 2
    scales = [path for method, path in writes(sim.control.requests()) if path.endswith("/scale")]
    assert scales == ["/v2/ai/deployment/%s/scale" % old["id"], "/v2/ai/deployment/%s/scale" % old["id"],
                      "/v2/ai/deployment/%s/scale" % final["id"]], scales


def test_shrink_then_grow_failed_gate_restores_the_live_size(sim, play, tmp_path, live_built):
    (tmp_path / "switch.yml").write_text(SWITCH_TASKS)
    full_quota(sim, live_built, 2)
    old = only(sim)
    run = play([rollout(rollout_model=QWEN_15, rollout_replicas=2, rollout_capacity="shrink_then_grow",
                        rollout_smoke_expect="(?i)bonjour")])
    assert run.rc != 0
    message = failure(run)
    assert "rolled back" in message and "does not match expect" in message, message
    assert "is back at 2 replicas and serving" in message, message
    live = only(sim)
    assert live["id"] == old["id"] and live["replicas"] == 2 and serves(sim, live)
    assert sorted(deployments(sim)) == [NAME]
    assert result_of(run)["outcome"] == "rolled_back"


def test_rollout_and_ai_deployment_report_the_same_cost(sim, play, tmp_path, live_built, run_module):
    """rollout_prices: rollout_result.cost before (the live deployment) and after (the wanted one) equal what
    ai_deployment reports (in process, check mode) for those deployments with the same prices, in the role's check
    mode and in its run."""
    (tmp_path / "switch.yml").write_text(SWITCH_TASKS)
    live_built(more_models=[QWEN_15])
    live_cost = run_module("ai_deployment", check_mode=True, name=NAME, model=QWEN, gpu_type="gpua5000", gpu_count=1,
                           replicas=1, prices=PRICES)["cost"]
    wanted_cost = run_module("ai_deployment", check_mode=True, name="cost-probe", model=QWEN_15, gpu_type="gpua5000",
                             gpu_count=2, replicas=1, prices=PRICES, wait=False)["cost"]
    for args in (("--check",), ()):
        run = play([rollout(rollout_model=QWEN_15, rollout_gpu_count=2, rollout_prices=PRICES), show_result()], *args)
        assert run.rc == 0, run.output[-3000:]
        cost = result_of(run)["cost"]
        assert cost["before"] == live_cost["per_hour"] == 1.25, (cost, live_cost)
        assert cost["after"] == cost["per_hour"] == wanted_cost["per_hour"] == 2.5, (cost, wanted_cost)
        assert cost["currency"] == wanted_cost["currency"] == "EUR" and cost["unit"] == wanted_cost["unit"]
    assert only(sim)["gpu-count"] == 2 and "cost-probe" not in deployments(sim)


def test_placement_lands_the_candidate_on_the_first_option_that_passes_and_the_live_one_stays(
        sim, play, tmp_path, live_built):
    """Live in at-vie-2; gpu3 is not offered there, so the candidate lands in de-fra-1 (the model uploaded there
    only), with the reason. A rerun whose first option would pass now finds the live one unchanged where it runs."""
    (tmp_path / "switch.yml").write_text(SWITCH_TASKS)
    sim.control.zones(preset="exoscale-2026")
    zoned = {"EXOSCALE_API_ENDPOINT": sim.base + "/{zone}/v2"}
    live_built(env=zoned, zone="at-vie-2")
    [old] = deployments(sim, "at-vie-2")[NAME]
    options = [{"zone": "at-vie-2", "gpu_type": "gpu3", "gpu_count": 1}, {"zone": "de-fra-1", "gpu_type": "gpu3", "gpu_count": 1}]
    run = play([rollout(rollout_model=QWEN_15, rollout_placement=options, rollout_prices={
        "currency": "EUR", "per_gpu_hour": {"gpu3": 2.0, "gpua5000": 1.25}}), show_result()], env=zoned)
    assert run.rc == 0, run.output[-4000:]
    result = result_of(run)
    assert result["outcome"] == "switched" and result["placement"]["chosen"] == options[1], result
    assert [p["reason"] for p in result["placement"]["passed_over"]] == [
        "at-vie-2 gpu3 x1: gpu3 is not offered in at-vie-2 (families there: gpu3080ti, gpua5000)"]
    assert result["cost"] == {"currency": "EUR", "unit": "EUR per hour", "per_hour": 2.0, "before": 1.25, "after": 2.0}
    assert deployments(sim, "at-vie-2") == {}, "the old one is retired in its own zone"
    [new] = deployments(sim, "de-fra-1")[NAME]
    assert new["gpu-type"] == "gpu3" and new["model"]["name"] == QWEN_15 and result["live"]["id"] == new["id"]
    models = {zone: [m["name"] for m in found["models"].values()] for zone, found in sim.control.state()["zones"].items()}
    assert QWEN_15 in models["de-fra-1"] and QWEN_15 not in models["at-vie-2"], models

    sim.control.clear_requests()
    sticky = [{"zone": "at-vie-2", "gpu_type": "gpua5000", "gpu_count": 1}] + options
    again = play([rollout(rollout_model=QWEN_15, rollout_placement=sticky), show_result()], env=zoned)
    assert again.rc == 0, again.output[-3000:]
    assert result_of(again)["outcome"] == "unchanged" and writes(sim.control.requests()) == []
    assert deployments(sim, "de-fra-1")[NAME][0]["id"] == new["id"] and old["id"] != new["id"]
