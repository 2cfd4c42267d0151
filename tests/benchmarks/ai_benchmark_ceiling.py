"""The ai_benchmark module's own ceiling: requests per second it drives at concurrency 32 against the simulator.

The simulator runs at a speed so high that the latency model's delays vanish (every answer is as fast as the
HTTP server), so what is measured is the load generator (threads, httpx, SSE parsing) plus the simulator, both
on this machine's cores. Bounded: a few runs of ``--requests`` requests each (default 2000), 5 minutes at most.

    python tests/benchmarks/ai_benchmark_ceiling.py [--runs 3] [--requests 2000] [--concurrency 32] [--max-tokens 16]
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (str(REPO_ROOT / "build" / "collections"), str(REPO_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# pylint: disable=wrong-import-position
from tests.conftest import DEFAULT_KEY, DEFAULT_SECRET, RunningSimulator, start_simulator_process, stop_simulator_process  # noqa: E402
from tests.integration.conftest import run_playbook, simulator_env  # noqa: E402

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
SPEED = 100000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ai-benchmark-ceiling-") as folder:
        folder = Path(folder)
        process, url = start_simulator_process(folder / "state.json", speed=SPEED)
        sim = RunningSimulator(url, DEFAULT_KEY, DEFAULT_SECRET, process, folder / "state.json")
        try:
            tasks = [{"name": "model", "inferops.exoscale.ai_model": {"name": MODEL}},
                     {"name": "deployment", "inferops.exoscale.ai_deployment": {
                         "name": "ceiling", "model": MODEL, "gpu_type": "gpua5000", "gpu_count": 1}}]
            for run in range(args.runs):
                tasks.append({"name": "load %d" % run, "inferops.exoscale.ai_benchmark": {
                    "deployment": "ceiling", "requests": args.requests, "concurrency": args.concurrency,
                    "max_tokens": args.max_tokens, "timeout": 30}})
            result = run_playbook(folder, tasks, env=simulator_env(sim))
            if result.rc != 0:
                print(result.output[-4000:])
                return 1
            rates = []
            for run in range(args.runs):
                figures = result.result("load %d" % run)
                assert figures["requests"]["succeeded"] == args.requests, figures["errors"]
                rates.append(figures["requests_per_second"])
                print("run %d: %d requests at concurrency %d, %d tokens each (streamed): %.0f requests/s, %.0f tokens/s,"
                      " latency p50 %.1f ms, p99 %.1f ms" % (
                          run + 1, args.requests, args.concurrency, args.max_tokens, figures["requests_per_second"],
                          figures["tokens_per_second"]["total"], figures["latency_ms"]["p50"], figures["latency_ms"]["p99"]))
            print("median: %.0f requests/s (runs: %s)" % (statistics.median(rates), ", ".join("%.0f" % r for r in rates)))
        finally:
            stop_simulator_process(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
