"""Measure signed GET requests per second against a running simulator (keep-alive httpx client).

Usage: python -m tests.simulator.tests.benchmark [URL] [--requests N]; without URL it starts
`python -m tests.simulator` as a subprocess (so that client and server do not share a GIL).
"""
import argparse
import subprocess
import sys
import time

import httpx

from exoscale_ai_simulator.auth import authorization_header
from exoscale_ai_simulator.server import DEFAULT_KEY, DEFAULT_SECRET


def measure(url, key=DEFAULT_KEY, secret=DEFAULT_SECRET, requests=1000, path="/ai/model"):
    base = url[:-len("/v2")]
    full_path = "/v2" + path
    with httpx.Client(base_url=base, trust_env=False, timeout=10) as client:
        started = time.perf_counter()
        for _unused in range(requests):
            header = authorization_header(key, secret, "GET", full_path, b"", "", int(time.time()) + 600)
            response = client.get(full_path, headers={"Authorization": header})
            response.raise_for_status()
        return requests / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(prog="python -m tests.simulator.tests.benchmark")
    parser.add_argument("url", nargs="?", help="SIMULATOR_URL of a running simulator (default: start one)")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    process = None
    url = args.url
    if url is None:
        process = subprocess.Popen([sys.executable, "-m", "tests.simulator", "--port", "0", "--api-key", DEFAULT_KEY,  # pylint: disable=consider-using-with
                                    "--api-secret", DEFAULT_SECRET], stdout=subprocess.PIPE, text=True)
        url = process.stdout.readline().strip().split("=", 1)[1]
    try:
        print(f"{measure(url, requests=args.requests):.0f} signed GET requests/s")
    finally:
        if process:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
