"""serve_model with serve_model_benchmark: off by default, its figures in the summary and the fact, thresholds gate."""
from .test_role_serve_model import by_name, serve

BENCHMARK_TASK = "Benchmark the endpoint"


def summary_lines(run):
    return by_name(run, "Summary")["result"]["msg"]


def test_benchmark_is_off_by_default_then_runs_and_gates(play, sim):
    run = play([serve(deployment="role-bench"),
                serve(deployment="role-bench", serve_model_benchmark={"requests": 12, "concurrency": 3, "max_tokens": 8,
                                                                      "thresholds": {"error_rate_max": 0}}),
                {"name": "gate", "block": [serve(deployment="role-bench", serve_model_benchmark={
                    "requests": 4, "thresholds": {"tokens_per_second_min": 100000000}})],
                 "rescue": [{"name": "gate closed", "ansible.builtin.debug": {"msg": "rescued"}}]}])
    assert run.rc == 0, run.output
    benchmarks = [r for r in run.records if r["task"].endswith(BENCHMARK_TASK)]
    assert [r["status"] for r in benchmarks] == ["skipped", "ok", "failed"], [r["status"] for r in benchmarks]
    summaries = [r["result"]["msg"] for r in run.records if r["task"].endswith("Summary")]
    assert "Benchmark:  skipped" in summaries[0]
    measured = benchmarks[1]["result"]
    assert measured["requests"] == dict(sent=12, succeeded=12, failed=0)
    line = [entry for entry in summaries[1] if entry.startswith("Benchmark:")][0]
    assert line.startswith("Benchmark:  12 requests at concurrency 3, TTFT p50/p95 %s/%s ms, %s tokens/s"
                           % (measured["ttft_ms"]["p50"], measured["ttft_ms"]["p95"],
                              measured["tokens_per_second"]["total"])), line
    assert "error rate 0.0" in line
    gate = benchmarks[2]["result"]
    assert "tokens_per_second_min: measured" in gate["msg"] and "wanted at least 100000000" in gate["msg"]
    assert len(summaries) == 2, "a failed gate stops the role before its summary"
    assert run.status("gate closed") == "ok"
    inference = [r for r in sim.control.requests(kind="inference") if r["path"].endswith("/chat/completions")]
    assert len(inference) == 3 + 12 + 4, "3 smoke tests, then the two benchmarks' requests"


def test_benchmark_options_are_checked_by_the_argument_spec(play):
    run = play([serve(deployment="role-bad", serve_model_benchmark={"requests": 4, "concurency": 2})])
    assert run.rc != 0
    assert "concurency" in run.output and "serve_model_benchmark" in run.output, run.output[-3000:]
