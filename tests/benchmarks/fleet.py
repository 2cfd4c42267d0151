"""Benchmark of inferops.exoscale.ai_fleet against the local simulator, side by side in one run.

1. A converged environment of 50 deployments in 2 zones: one ai_fleet task vs 50 converged ai_deployment tasks vs
   one play with a single signed ansible.builtin.uri task (wall time of the whole ansible-playbook, median of
   alternating runs; API requests per zone counted from the simulator log).
2. Applying 20 new deployments in one ai_fleet task vs one deployment's create-and-wait (ai_deployment).

    python tests/benchmarks/fleet.py [--smoke] [--output FILE]   (last full run: tests/benchmarks/results-fleet.md)
"""
import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# pylint: disable=wrong-import-position
from run import FQ, MODEL, REPO_ROOT, Bench, machine_info, median, table  # noqa: E402

GVA, FRA, VIE = "ch-gva-2", "de-fra-1", "at-vie-2"
ZONE_OF_PATH = re.compile(r"^/([a-z]{2}-[a-z]+-[0-9]+)/v2/")


def deployments(count, prefix="d"):
    return [dict(name="%s%d" % (prefix, i), zone=GVA if i % 2 else FRA, model=MODEL, gpu_type="gpua5000", gpu_count=1,
                 inference_engine_parameters=["--max-model-len=4096"]) for i in range(count)]


def placed_deployments(count, prefix="p"):
    """Each with a 3-option placement over 3 zones; half prefer ch-gva-2, half de-fra-1 (at-vie-2 is the last resort)."""
    def options(first, second):
        return [dict(zone=zone, gpu_type="gpua5000", gpu_count=1) for zone in (first, second, VIE)]
    return [dict(name="%s%d" % (prefix, i), model=MODEL, placement=options(GVA, FRA) if i % 2 else options(FRA, GVA),
                 inference_engine_parameters=["--max-model-len=4096"]) for i in range(count)]


class FleetBench(Bench):
    def zoned_env(self):
        return dict(EXOSCALE_API_ENDPOINT=self.sim.base + "/{zone}/v2", XDG_CACHE_HOME=str(self.workdir / "cache"))

    def fleet_play(self, args, name="fleet"):
        return self.play([{"name": name, FQ + "ai_fleet": args}], env=self.zoned_env())

    def converged(self, count, repeats):
        env = dict(name="bench", deployments=deployments(count))
        placed = dict(name="benchp", deployments=placed_deployments(count))
        self.fleet_play(env, name="create")
        self.fleet_play(placed, name="create placed")
        time.sleep(6)  # the detail cache trusts a read made a few seconds after the last update (fleet.CACHE_MARGIN)
        self.fleet_play(env, name="warm-up")
        self.fleet_play(placed, name="warm-up placed")
        dep_tasks = [{"name": "ai_deployment bench-%s" % d["name"], FQ + "ai_deployment": dict(
            name="bench-" + d["name"], zone=d["zone"], model=d["model"], gpu_type=d["gpu_type"], gpu_count=1, replicas=1,
            inference_engine_parameters=d["inference_engine_parameters"])} for d in env["deployments"]]
        uri_task = [{"name": "uri GET", "ansible.builtin.uri": {
            "url": self.sim.url + "/ai/deployment?visibility=private",
            "headers": {"Authorization": "{{ lookup('exo2_sign', 'GET', '/v2/ai/deployment', query='visibility=private') }}"}}}]
        placed_kind = "ai_fleet, 3-option placement"
        times = {"ai_fleet": [], placed_kind: [], "ai_deployment x%d" % count: [], "uri": []}
        requests = {}
        for dummy in range(repeats):
            for kind, run in (("ai_fleet", lambda: self.fleet_play(env)), (placed_kind, lambda: self.fleet_play(placed)),
                              ("ai_deployment x%d" % count, lambda: self.play(dep_tasks, env=self.zoned_env())),
                              ("uri", lambda: self.play(uri_task))):
                self.sim.control.clear_requests()
                wall, records = run()
                changed = [r["name"] for r in records if r["status"] == "changed"]
                if changed:
                    raise RuntimeError("a converged run changed %s" % changed)
                times[kind].append(wall)
                requests[kind] = Counter("%s %s" % (r["method"], (ZONE_OF_PATH.match(r["path"]) or [None, GVA])[1])
                                         for r in self.sim.control.requests())
        uri = median(times["uri"])
        rows = [[kind, "%.2f" % median(t), "%.2fx" % (median(t) / uri), ", ".join("%s %d" % kv for kv in sorted(requests[kind].items())),
                 " / ".join("%.2f" % x for x in t)] for kind, t in times.items()]
        ratio = median(times["ai_fleet"]) / uri
        gets = max(n for key, n in requests["ai_fleet"].items() if key.startswith("GET"))
        self.check("converged ai_fleet (%d deployments, 2 zones) <= 1.5x one uri play" % count, ratio <= 1.5, "%.2fx" % ratio)
        self.check("converged ai_fleet: <= 3 GET per zone", gets <= 3, "%d GET in the busiest zone" % gets)
        placed_gets = dict((key.split()[1], n) for key, n in requests[placed_kind].items() if key.startswith("GET"))
        self.check("converged ai_fleet with 3-option placement: <= 3 GET per zone, no write",
                   max(placed_gets.values()) <= 3 and all(key.startswith("GET") for key in requests[placed_kind]),
                   ", ".join("%s %d" % kv for kv in sorted(placed_gets.items())))
        self.raw["converged"] = dict(times=times, requests=dict((k, dict(v)) for k, v in requests.items()))
        text = ("Everything converged (no task changes). Wall time of the whole `ansible-playbook` (start-up included), "
                "median of %d alternating runs. *ai_fleet*: one task for the environment of %d deployments in %s and %s. "
                "*ai_fleet, 3-option placement*: as many deployments, each with placement over %s, %s and %s, found "
                "where they run. "
                "*ai_deployment*: one task per deployment in one play. *uri*: one play with a single "
                "`ansible.builtin.uri` GET signed at run time (tests/benchmarks/lookup_plugins/exo2_sign.py). "
                "Requests per run by method and zone from the simulator log.\n\n" % (repeats, count, GVA, FRA, GVA, FRA, VIE))
        self.section("1. A converged environment", text + table(["variant", "median s", "vs uri", "requests", "runs"], rows))

    def apply_new(self, count, repeats):
        single, fleet = [], []
        for attempt in range(repeats):
            dummy, records = self.play([{"name": "one", FQ + "ai_deployment": dict(
                name="single-%d" % attempt, model=MODEL, gpu_type="gpua5000", gpu_count=1, replicas=1,
                inference_engine_parameters=["--max-model-len=4096"])}], env=self.zoned_env())
            single.append(records[0]["end"] - records[0]["start"])
            dummy, records = self.fleet_play(dict(name="new%d" % attempt, deployments=deployments(count, "n")))
            fleet.append(records[0]["end"] - records[0]["start"])
        ratio = median(fleet) / median(single)
        self.check("applying %d new deployments <= 1.5x one create-and-wait" % count, ratio <= 1.5, "%.2fx" % ratio)
        self.raw["apply_new"] = dict(single=single, fleet=fleet)
        rows = [["ai_deployment: 1 create-and-wait", "%.2f" % median(single), " / ".join("%.2f" % x for x in single)],
                ["ai_fleet: %d creates-and-waits" % count, "%.2f" % median(fleet), " / ".join("%.2f" % x for x in fleet)],
                ["ratio", "%.2fx" % ratio, ""]]
        text = ("Task time (the callback's task start to end), simulator speed 50 (a deployment is ready 1.2 s after its "
                "create), models already present, median of %d runs. The fleet's waits run concurrently (one thread "
                "per action, one client per zone).\n\n" % repeats)
        self.section("2. Applying new deployments", text + table(["task", "median s", "runs"], rows))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tests/benchmarks/fleet.py", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--smoke", action="store_true", help="10 deployments, one run each")
    parser.add_argument("--output", help="Markdown report (default: build/bench-fleet/results.md)")
    args = parser.parse_args(argv)
    workdir = REPO_ROOT / "build" / "bench-fleet"
    output = Path(args.output) if args.output else workdir / "results.md"
    bench = FleetBench(workdir, args.smoke)
    started = time.perf_counter()
    bench.start()
    try:
        bench.converged(10 if args.smoke else 50, 1 if args.smoke else 5)
        bench.apply_new(4 if args.smoke else 20, 1 if args.smoke else 3)
    finally:
        bench.stop()
    info = machine_info()
    checks = table(["target", "result", "measured"], [[t, "met" if ok else "MISSED", d] for t, ok, d in bench.checks])
    text = ("# ai_fleet benchmark%s\n\nGenerated by tests/benchmarks/fleet.py on %s in %.0f s. Machine: %s CPUs (%s), "
            "Python %s, ansible-core %s.\n\n## Targets\n\n%s\n\n%s\n"
            % (" (smoke)" if args.smoke else "", info["date"], time.perf_counter() - started, info["nproc"], info["cpu"],
               info["python"], info["ansible_core"], checks, "\n\n".join(bench.report)))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print("\n## Targets\n\n" + checks + "\n\nwrote %s" % output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
