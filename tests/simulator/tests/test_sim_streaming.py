"""Streaming chat and completions in vLLM's SSE shapes, parsed by the official openai client, paced by the latency model."""
import json
import threading
import time

import httpx
import openai
import pytest

from exoscale_ai_simulator import catalogue, latency
from tests.simulator.tests.conftest import SignedClient
from exoscale_ai_simulator.server import start_in_thread

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


def serve(client, model_name=QWEN, **fields):
    """A ready deployment of model_name: (deployment, its API key)."""
    operation = client.ok("POST", "/ai/model", {"name": model_name, "huggingface-token": "hf_streamingtests"})
    client.wait_operation(operation)
    model = client.wait_state("model", operation["reference"]["id"], ("ready", "error"), timeout=20)
    assert model["state"] == "ready", model
    deployment = client.ready_deployment(model, **fields)
    assert deployment["state"] == "ready", deployment
    return deployment, client.ok("GET", f"/ai/deployment/{deployment['id']}/api-key")["api-key"]


@pytest.fixture
def serving(api):
    return serve(api)


def sse_events(response):
    """The data: payloads of an SSE response, JSON-decoded except [DONE]."""
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("data: [DONE]\n\n")
    events = []
    for block in response.text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        payload = block[len("data: "):]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def post(api, deployment, key, route, body):
    return api.http.post(f"{deployment['deployment-url']}/{route}", headers={"Authorization": f"Bearer {key}"}, json=body)


def test_chat_stream_has_vllm_chunks_role_first_finish_last_usage_then_done(api, serving):
    deployment, key = serving
    body = {"model": QWEN, "messages": [{"role": "user", "content": "Name three Swiss cantons"}], "stream": True,
            "stream_options": {"include_usage": True}}
    events = sse_events(post(api, deployment, key, "chat/completions", body))
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]
    tokens, usage_chunk = chunks[1:-1], chunks[-1]
    assert all("usage" not in chunk for chunk in chunks[:-1])
    assert [chunk["choices"][0]["finish_reason"] for chunk in tokens] == [None] * (len(tokens) - 1) + ["stop"]
    assert tokens[-1]["choices"][0]["stop_reason"] is None
    text = "".join(chunk["choices"][0]["delta"]["content"] for chunk in tokens)
    full = post(api, deployment, key, "chat/completions", dict(body, stream=False, stream_options=None)).json()
    assert text == full["choices"][0]["message"]["content"] and "Swiss cantons" in text
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": full["usage"]["prompt_tokens"], "total_tokens": full["usage"]["total_tokens"],
                                    "completion_tokens": len(tokens)}
    assert full["usage"]["completion_tokens"] == len(tokens)


def test_completion_stream_truncated_by_max_tokens_without_usage(api, serving):
    deployment, key = serving
    body = {"model": QWEN, "prompt": "Once upon a time", "max_tokens": 4, "stream": True}
    events = sse_events(post(api, deployment, key, "completions", body))
    chunks = events[:-1]
    assert len(chunks) == 4 and {chunk["object"] for chunk in chunks} == {"text_completion"}
    assert all(chunk["usage"] is None and chunk["id"].startswith("cmpl-") for chunk in chunks)
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None, None, None, "length"]
    assert all(set(chunk["choices"][0]) == {"index", "text", "logprobs", "finish_reason", "stop_reason"} for chunk in chunks)
    assert len("".join(chunk["choices"][0]["text"] for chunk in chunks).split()) == 4


def test_continuous_usage_stats_and_stream_options_without_stream(api, serving):
    deployment, key = serving
    body = {"model": QWEN, "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 3,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    chunks = sse_events(post(api, deployment, key, "chat/completions", body))[:-1]
    assert [chunk["usage"]["completion_tokens"] for chunk in chunks] == [0, 1, 2, 3, 3]
    refused = post(api, deployment, key, "chat/completions", dict(body, stream=False))
    assert refused.status_code == 400 and "stream=True" in refused.json()["error"]["message"]


def test_errors_before_the_stream_are_json(api, serving):
    deployment, key = serving
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "x"}], "stream": True}
    response = post(api, deployment, key, "chat/completions", body)
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert post(api, deployment, "wrong", "chat/completions", dict(body, model=QWEN)).status_code == 401


def test_official_openai_client_parses_streams_and_bodies(api, serving):
    deployment, key = serving
    client = openai.OpenAI(base_url=deployment["deployment-url"], api_key=key, max_retries=0,
                           http_client=httpx.Client(trust_env=False))
    try:
        stream = client.chat.completions.create(model=QWEN, messages=[{"role": "user", "content": "Tell me about Geneva"}], stream=True,
                                                stream_options={"include_usage": True})
        chunks = list(stream)
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert "Geneva" in text and QWEN in text
        assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(text.split())
        completion = client.completions.create(model=QWEN, prompt="Lake Geneva is", max_tokens=3, stream=True)
        pieces = list(completion)
        assert len(pieces) == 3 and pieces[-1].choices[0].finish_reason == "length"
        assert len("".join(piece.choices[0].text for piece in pieces).split()) == 3
        plain = client.chat.completions.create(model=QWEN, messages=[{"role": "user", "content": "Tell me about Geneva"}])
        assert plain.choices[0].message.content == text
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}], stream=True)
    finally:
        client.close()


def _timed_stream(url, key, model, prompt, max_tokens=None, http=None):
    """(seconds to the first content token, seconds between first and last token, tokens) of one streamed chat."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True}
    if max_tokens:
        body["max_tokens"] = max_tokens
    own = http is None
    http = http or httpx.Client(trust_env=False, timeout=30)  # created before the clock starts: it costs tens of ms
    first = last = None
    tokens = 0
    try:
        start = time.monotonic()
        with http.stream("POST", f"{url}/chat/completions", headers={"Authorization": f"Bearer {key}"}, json=body) as response:
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    last = time.monotonic()
                    first = first or last
                    tokens += 1
    finally:
        if own:
            http.close()
    return first - start, last - first, tokens


def test_stream_is_paced_by_the_latency_model():
    """A client measures TTFT and tokens/s close to the model's (8B weights on an A5000 at speed 2: about 26 tokens/s x 2).

    Tolerance: 25 % (the jitter is +-5 %), plus 30 ms on the TTFT for HTTP and thread wake-ups on a busy 2-core
    machine; the best of three requests is compared, as load only ever adds time.
    """
    handle = start_in_thread(speed=1000)
    client = SignedClient(handle.base, handle.key, handle.secret)
    try:
        deployment, key = serve(client, LLAMA, **{"inference-engine-parameters": ["--max-model-len=8192"]})
        handle.store.config["speed"] = 2.0
        prompt = "Describe the Matterhorn in detail please " * 4
        model = client.http.get(f"{handle.base}/_sim/latency-model",
                                params={"deployment": deployment["id"], "concurrency": 1, "prompt_tokens": len(prompt.split()) + 1}).json()
        assert model["speed"] == 2.0 and model["batch"] == 1
        with httpx.Client(trust_env=False, timeout=30) as http:
            http.get(f"{deployment['deployment-url']}/models", headers={"Authorization": f"Bearer {key}"})  # a warm connection
            runs = [_timed_stream(deployment["deployment-url"], key, LLAMA, prompt, http=http) for _unused in range(3)]
        tokens = runs[0][2]
        assert tokens > 20 and all(run[2] == tokens for run in runs)
        measured_itl = min(span for _ttft, span, _tokens in runs) / (tokens - 1)
        assert measured_itl == pytest.approx(model["itl_s"], rel=0.25), (measured_itl, model)
        ttft = min(first for first, _span, _tokens in runs)
        assert ttft == pytest.approx(model["ttft_s"], rel=0.25, abs=0.03), (ttft, model)
        # Non-streaming: the whole answer after TTFT + (n - 1) x ITL.
        start = time.monotonic()
        client.http.post(f"{deployment['deployment-url']}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                         json={"model": LLAMA, "messages": [{"role": "user", "content": prompt}]})
        assert time.monotonic() - start == pytest.approx(model["ttft_s"] + (tokens - 1) * model["itl_s"], rel=0.25, abs=0.03)
    finally:
        client.http.close()
        handle.stop()


def test_requests_beyond_max_batch_queue_for_a_slot():
    handle = start_in_thread(speed=1000)
    client = SignedClient(handle.base, handle.key, handle.secret)
    http = httpx.Client(trust_env=False, timeout=30, limits=httpx.Limits(max_connections=4))
    try:
        deployment, key = serve(client, LLAMA, **{"inference-engine-parameters": ["--max-model-len=8192", "--max-num-seqs=2"]})
        handle.store.config["speed"] = 4.0
        batch = latency.batch_for(handle.store, deployment["id"])
        barrier = threading.Barrier(4)
        results, peak = [], []

        def run():
            barrier.wait()
            results.append(_timed_stream(deployment["deployment-url"], key, LLAMA, "queue test", max_tokens=12, http=http))
            peak.append(batch.active)

        threads = [threading.Thread(target=run) for _unused in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        ttfts = sorted(result[0] for result in results)
        spans = [result[1] for result in results]
        model = latency.for_deployment(handle.store.zones["ch-gva-2"]["deployments"][deployment["id"]], 4, 3, 4.0)
        assert model["batch"] == 2 and model["queued"] == 2 and max(peak) <= 2
        # Two requests start at once; the other two wait for a whole request (TTFT + 11 tokens) before their first token.
        assert ttfts[2] > ttfts[1] + 0.7 * min(spans), (ttfts, spans)
    finally:
        http.close()
        client.http.close()
        handle.stop()


def test_32_concurrent_streams():
    """The server keeps 32 streaming connections open at once, answers each completely, and they share the batch."""
    handle = start_in_thread(speed=1000)
    client = SignedClient(handle.base, handle.key, handle.secret)
    http = httpx.Client(trust_env=False, timeout=30, limits=httpx.Limits(max_connections=32))
    try:
        deployment, key = serve(client)
        handle.store.config["speed"] = 0.5  # slow enough that the 32 streams overlap
        batch = latency.batch_for(handle.store, deployment["id"])
        barrier = threading.Barrier(32)
        outcomes, peak = [], []

        def run():
            barrier.wait()
            outcomes.append(_timed_stream(deployment["deployment-url"], key, QWEN, "concurrency", max_tokens=8, http=http))
            peak.append(batch.active)

        threads = [threading.Thread(target=run) for _unused in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(outcomes) == 32 and all(tokens == 8 for _first, _span, tokens in outcomes)
        # A server thread leaves the batch after its last chunk is sent: the client may read that chunk first.
        leave_by = time.monotonic() + 10
        while batch.active and time.monotonic() < leave_by:
            time.sleep(0.01)
        assert batch.active == 0 and max(peak) >= 16, (batch.active, peak)
        # Sharing the batch slows each request down (up to itl(32), about 1.9x a lone request's ITL).
        alone = latency.expected("gpua5000", 988_097_824, 1, 1, speed=0.5)["itl_s"]
        together = latency.expected("gpua5000", 988_097_824, 1, 32, speed=0.5)["itl_s"]
        median_itl = sorted(span / 7 for _first, span, _tokens in outcomes)[16]
        assert 1.2 * alone < median_itl < 2 * together, (alone, median_itl, together)  # load only ever adds time
    finally:
        http.close()
        client.http.close()
        handle.stop()


def test_latency_model_falls_per_request_rises_in_total_and_saturates():
    size = catalogue.MODELS[LLAMA]["size"]
    figures = [latency.expected("gpua5000", size, 1, concurrency, max_batch=8) for concurrency in (1, 2, 4, 8, 16)]
    per_request = [f["tokens_per_second_per_request"] for f in figures]
    total = [f["tokens_per_second_total"] for f in figures]
    assert per_request[:4] == sorted(per_request[:4], reverse=True) and total[:4] == sorted(total[:4])
    assert figures[4]["batch"] == 8 and figures[4]["queued"] == 8 and figures[4]["itl_s"] == figures[3]["itl_s"]
    # One request alone: about 26 tokens/s for 16 GB of weights on an A5000 (768 GB/s), twice that on 2 GPUs.
    assert 20 < per_request[0] < 30
    assert latency.expected("gpua5000", size, 2, 1)["tokens_per_second_per_request"] > 1.6 * per_request[0]
    assert latency.expected("gpurtx6000pro", size, 1, 1)["itl_s"] < figures[0]["itl_s"] / 2
    fast = latency.expected("gpua5000", size, 1, 1, speed=100)
    assert fast["itl_s"] == pytest.approx(figures[0]["itl_s"] / 100) and fast["at_speed_1"]["itl_s"] == figures[0]["itl_s"]
    assert fast["ttft_s"] == pytest.approx(fast["itl_s"] * (2 + 16 / 128))


def test_timings_are_deterministic_for_a_seed(server, api):
    deployment, _key = serve(api, **{"inference-engine-parameters": ["--seed=7"]})
    dep = server.store.zones["ch-gva-2"]["deployments"][deployment["id"]]

    def schedule(dep_view):
        pacer = latency.Pacer(server.store, dep_view, 12, "same prompt")
        with pacer:
            start = pacer.due
            return [round(pacer.next_due() - start, 12) for _unused in range(6)]

    first, again = schedule(dep), schedule(dep)
    assert first == again
    other = dict(dep, **{"inference-engine-parameters": ["--seed=8"]})
    assert schedule(other) != first
    factors = [latency.jitter("7", "k", index) for index in range(2000)]
    assert all(0.95 <= factor <= 1.05 for factor in factors) and sum(factors) / len(factors) == pytest.approx(1, abs=0.005)


def test_latency_model_control_endpoint(server, api, serving):
    deployment, _key = serving
    by_name = api.http.get(f"{server.base}/_sim/latency-model", params={"deployment": "dep", "concurrency": 300}).json()
    assert by_name["deployment"] == deployment["id"] and by_name["batch"] == 256 and by_name["queued"] == 44
    assert by_name["speed"] == server.store.config["speed"]
    for params, status in (({"concurrency": 2}, 400), ({"deployment": "nope"}, 404), ({"deployment": "dep", "concurrency": 0}, 400)):
        assert api.http.get(f"{server.base}/_sim/latency-model", params=params).status_code == status
