"""inferops.exoscale.ai_fleet: one environment across two zones, planned and converged in one task (simulator)."""
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


def environment(name="stg", count=10, **options):
    deployments = [dict(name="d%d" % i, zone=GVA if i % 2 else FRA, model=MODEL, gpu_type="gpua5000", gpu_count=1,
                        inference_engine_parameters=["--max-model-len=4096"]) for i in range(count)]
    return dict(dict(name=name, deployments=deployments,
                     api_keys=[dict(name="app", scope="d1"), dict(name="ops", zone=FRA)]), **options)


def fleet_task(args, name="fleet", **extra):
    return dict({"name": name, FLEET: args, "register": "result"}, **extra)


def writes(sim):
    return [(r["method"], r["path"]) for r in sim.control.requests() if r["method"] in WRITES]


def test_smoke(sim, fleet_play):
    run = fleet_play([fleet_task(environment(count=2))])
    print(run.output[-3000:])
    result = run.result("fleet")
    print(json.dumps(result, indent=1)[:6000])
    assert run.rc == 0
