"""The queueing model (queueing.py): profiles set and read through /_sim/queueing, TTFT that grows with the queue,
replicas that share it, the per-request timing log, and the raw / trickle faults of inference answers."""
import threading
import time

import httpx
import pytest

from exoscale_ai_simulator import queueing
from exoscale_ai_simulator.control import SimulatorControl
from exoscale_ai_simulator.server import start_in_thread
from tests.simulator.tests.conftest import SignedClient
from tests.simulator.tests.test_sim_streaming import QWEN, serve


@pytest.fixture
def served():
    handle = start_in_thread(speed=1000)
    client = SignedClient(handle.base, handle.key, handle.secret)
    try:
        deployment, key = serve(client)
        handle.store.config["speed"] = 1.0
        yield handle, SimulatorControl(handle.url), deployment, key
    finally:
        client.http.close()
        handle.stop()


def chat(url, key, words=4, max_tokens=4, stream=False, http=None):
    body = {"model": QWEN, "messages": [{"role": "user", "content": " ".join(["word"] * words)}],
            "max_tokens": max_tokens, "stream": stream}
    http = http or httpx.Client(trust_env=False, timeout=30)
    return http.post(f"{url}/chat/completions", headers={"Authorization": f"Bearer {key}"}, json=body)


def test_profiles_are_validated_set_matched_and_cleared(served):
    handle, control, deployment, key = served
    with pytest.raises(RuntimeError, match="give exactly one of deployment"):
        control._call("POST", "/_sim/queueing", {"slots": 1, "prefill_tokens_per_s": 1, "decode_tokens_per_s": 1})
    with pytest.raises(RuntimeError, match="queueing.slots: must be an integer >= 1"):
        control.queueing(gpu_type="gpua5000", slots=0, prefill_tokens_per_s=1, decode_tokens_per_s=1)
    with pytest.raises(RuntimeError, match="decode_tokens_per_s: must be a number > 0"):
        control.queueing(gpu_type="gpua5000", slots=1, prefill_tokens_per_s=1, decode_tokens_per_s=-1)
    with pytest.raises(RuntimeError, match="has no queueing profile"):
        control.capacity(deployment["name"])
    control.queueing(gpu_type="gpua5000", slots=2, prefill_tokens_per_s=1000, decode_tokens_per_s=50)
    assert control.capacity(deployment["name"], 17, 8)["capacity_rps"] == pytest.approx(2 / (0.017 + 0.14))
    control.queueing(deployment=deployment["name"], slots=4, prefill_tokens_per_s=1000, decode_tokens_per_s=50)
    answer = control.capacity(deployment["id"], 17, 8)
    assert answer["profile"]["slots"] == 4 and answer["replicas"] == 1, "a deployment's own profile wins"
    assert len(control.queueing()) == 2
    control.reset()
    assert control.queueing() == [] and control.inference_log() == []


def settled_log(control, count):
    """The log once `count` entries are in (the server logs a request right after its last byte)."""
    deadline = time.monotonic() + 5
    while len(control.inference_log()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return control.inference_log()


def test_ttft_grows_with_the_queue_and_the_log_has_the_timings(served):
    handle, control, deployment, key = served
    control.queueing(deployment=deployment["name"], slots=1, prefill_tokens_per_s=100, decode_tokens_per_s=100)
    control.clear_inference_log()
    service = 5 / 100 + 3 / 100  # 4 words + 1 -> 5 prompt tokens, then 3 decode steps
    threads = [threading.Thread(target=chat, args=(deployment["deployment-url"], key)) for _unused in range(4)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    log = sorted(settled_log(control, 4), key=lambda entry: entry["arrival"] + entry["queue_s"])
    assert [e["outcome"] for e in log] == ["complete"] * 4 and all(e["queueing"] for e in log)
    queues = [e["queue_s"] for e in log]
    assert min(queues) < 0.01 and max(queues) > service, queues
    for previous, entry in zip(log, log[1:]):  # one slot, FIFO: each starts when the one before it ended
        assert entry["arrival"] + entry["queue_s"] >= previous["arrival"] + previous["e2el_s"] - 0.01, "one at a time"
    for entry in log:
        assert entry["ttft_s"] == pytest.approx(entry["queue_s"] + 0.05, abs=0.02)
        assert entry["e2el_s"] == pytest.approx(entry["queue_s"] + service, abs=0.03)
        assert entry["tpot_s"] == pytest.approx(0.01, abs=0.01) and entry["output_tokens"] == 4


def test_replicas_share_the_queue(served):
    handle, control, deployment, key = served
    control.queueing(deployment=deployment["name"], slots=1, prefill_tokens_per_s=100, decode_tokens_per_s=100)
    with handle.store.lock:
        handle.store.zones["ch-gva-2"]["deployments"][deployment["id"]]["replicas"] = 2
    assert control.capacity(deployment["name"], 5, 4)["capacity_rps"] == pytest.approx(2 / 0.08)
    control.clear_inference_log()
    threads = [threading.Thread(target=chat, args=(deployment["deployment-url"], key)) for _unused in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = settled_log(control, 4)
    spans = [(e["arrival"] + e["queue_s"], e["arrival"] + e["e2el_s"]) for e in log]
    overlap = max(sum(1 for start, end in spans if start <= moment < end) for moment, _end in spans)
    assert len(log) == 4 and overlap == 2, spans


def test_raw_and_trickle_faults(served):
    handle, control, deployment, key = served
    url = deployment["deployment-url"]
    control.inject("POST", "/inference/*", action="raw", body="data: 123\n\n", count=1)
    answer = chat(url, key, stream=True)
    assert answer.status_code == 200 and answer.text == "data: 123\n\n"
    assert answer.headers["content-type"] == "text/event-stream"
    control.inject("POST", "/inference/*", action="raw", body="<html></html>", content_type="text/html", status=502)
    assert chat(url, key).status_code == 502
    control.inject("POST", "/inference/*", action="trickle", delay=0.1, duration=0.5)
    started = time.monotonic()
    with httpx.Client(trust_env=False, timeout=5) as http:
        with http.stream("POST", f"{url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                         json={"model": QWEN, "messages": [{"role": "user", "content": "hi"}]}) as response:
            lines = [line for line in response.iter_lines() if line]
    assert 0.4 < time.monotonic() - started < 3 and set(lines) == {": keep-alive"} and len(lines) >= 4
    with pytest.raises(RuntimeError, match="delay: must be a number of seconds"):
        control.inject("POST", "/inference/*", action="trickle", delay=0)
    with pytest.raises(RuntimeError, match="body: the raw answer's text is required"):
        control.inject("POST", "/inference/*", action="raw")


def test_the_log_waits_for_an_answer_whose_last_bytes_are_being_sent():
    """A client that read its whole answer finds its request in the log, even when the server's thread is
    descheduled between its last write and its log entry (seen under load: 59 of 60 logged)."""
    class Store:  # queueing keeps its state per store object
        pass

    store = Store()
    queueing.record(store, {"name": "earlier"})
    queueing.finishing(store)
    threading.Timer(0.3, queueing.record, args=(store, {"name": "last"}), kwargs={"finished": True}).start()
    started = time.monotonic()
    assert [entry["name"] for entry in queueing.log_entries(store)] == ["earlier", "last"]
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    assert len(queueing.log_entries(store)) == 2 and time.monotonic() - started < 0.1  # nothing in flight: at once
