"""Measure streamed chat completions per second against the simulator's inference endpoint at a concurrency.

Usage: python -m tests.simulator.tests.inference_benchmark [--speed 200] [--concurrency 32] [--requests 2000]
[--max-tokens 16] [--no-stream]. It starts `python -m tests.simulator --speed S` as a subprocess (so that
client and server do not share a GIL), creates a model and a deployment, then runs `concurrency` threads,
each with its own keep-alive httpx client, until `requests` answers have been read completely.
"""
import argparse
import json
import statistics
import subprocess
import sys
import threading
import time

import httpx

from exoscale_ai_simulator.auth import authorization_header
from exoscale_ai_simulator.server import DEFAULT_KEY, DEFAULT_SECRET

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


class Api:
    def __init__(self, url):
        self.base = url[:-len("/v2")]
        self.http = httpx.Client(base_url=self.base, trust_env=False, timeout=10)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        header = authorization_header(DEFAULT_KEY, DEFAULT_SECRET, method, "/v2" + path, data, "", int(time.time()) + 600)
        response = self.http.request(method, "/v2" + path, content=data, headers={"Authorization": header, "Content-Type": "application/json"})
        response.raise_for_status()
        return response.json()

    def wait(self, kind, resource_id, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resource = self.call("GET", f"/ai/{kind}/{resource_id}")
            if resource["state"] in ("ready", "error"):
                return resource
            time.sleep(0.05)
        raise TimeoutError(f"{kind} {resource_id} not ready")


def serve(url):
    """A ready deployment of MODEL: (deployment-url, api key)."""
    api = Api(url)
    model = api.wait("model", api.call("POST", "/ai/model", {"name": MODEL})["reference"]["id"])
    body = {"name": "bench", "model": {"id": model["id"]}, "gpu-type": "gpua5000", "gpu-count": 1, "replicas": 1}
    deployment = api.wait("deployment", api.call("POST", "/ai/deployment", body)["reference"]["id"])
    return deployment["deployment-url"], api.call("GET", f"/ai/deployment/{deployment['id']}/api-key")["api-key"]


def run_load(endpoint, key, concurrency, requests, max_tokens, stream=True):
    """{requests_per_second, tokens_per_second, ttft_p50_ms, errors} of `requests` chats from `concurrency` threads."""
    remaining = [requests]
    lock = threading.Lock()
    ttfts, tokens, errors = [], [0], [0]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "benchmark"}], "max_tokens": max_tokens, "stream": stream}
    headers = {"Authorization": f"Bearer {key}"}

    def worker():
        with httpx.Client(trust_env=False, timeout=30) as http:
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                first, count = None, 0
                try:
                    with http.stream("POST", f"{endpoint}/chat/completions", headers=headers, json=body) as response:
                        if response.status_code != 200:
                            raise httpx.HTTPStatusError("status", request=response.request, response=response)
                        for line in response.iter_lines():
                            if line.startswith("data: {") and '"content":"' in line and '"role"' not in line:
                                first = first or time.perf_counter()
                                count += 1
                            elif not stream and line:
                                first = time.perf_counter()
                                count += json.loads(line)["usage"]["completion_tokens"]
                except httpx.HTTPError:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    ttfts.append((first or time.perf_counter()) - started)
                    tokens[0] += count

    threads = [threading.Thread(target=worker) for _unused in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"requests_per_second": requests / elapsed, "tokens_per_second": tokens[0] / elapsed,
            "ttft_p50_ms": statistics.median(ttfts) * 1000 if ttfts else None, "errors": errors[0], "seconds": elapsed}


def main():
    parser = argparse.ArgumentParser(prog="python -m tests.simulator.tests.inference_benchmark")
    parser.add_argument("--speed", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--no-stream", action="store_true")
    args = parser.parse_args()
    process = subprocess.Popen([sys.executable, "-m", "tests.simulator", "--port", "0", "--speed", str(args.speed),  # pylint: disable=consider-using-with
                                "--api-key", DEFAULT_KEY, "--api-secret", DEFAULT_SECRET], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip().split("=", 1)[1]
        endpoint, key = serve(url)
        result = run_load(endpoint, key, args.concurrency, args.requests, args.max_tokens, stream=not args.no_stream)
        mode = "non-streaming" if args.no_stream else "streamed"
        print(f"{result['requests_per_second']:.0f} {mode} chat completions/s at concurrency {args.concurrency} (speed {args.speed:g}, "
              f"{args.max_tokens} tokens each): {result['tokens_per_second']:.0f} tokens/s, TTFT p50 {result['ttft_p50_ms']:.1f} ms, "
              f"{result['errors']} errors, {result['seconds']:.1f} s")
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
