"""exoscale-ai-simulator (or python -m exoscale_ai_simulator): run the Exoscale AI API simulator until interrupted."""
import argparse
import os
import shlex
import sys

from .server import DEFAULT_KEY, DEFAULT_SECRET, build_server


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="exoscale-ai-simulator", description="Local simulator of the Exoscale AI API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", action="append", default=[], help="repeat for several key pairs")
    parser.add_argument("--api-secret", action="append", default=[])
    parser.add_argument("--speed", type=float, default=1.0, help="time acceleration: every duration is divided by it")
    parser.add_argument("--state-file", help="persist state in this JSON file (and resume from it)")
    parser.add_argument("--deployment-url-style", choices=("v1", "bare"), default="v1",
                        help="whether deployment-url ends in /v1 (v1) or not (bare)")
    args = parser.parse_args(argv)
    if len(args.api_key) != len(args.api_secret):
        parser.error("give as many --api-secret as --api-key")
    if args.speed <= 0:
        parser.error("--speed must be > 0")
    return args


def credentials_from(args):
    if args.api_key:
        return dict(zip(args.api_key, args.api_secret))
    key = os.environ.get("EXOSCALE_API_KEY")
    secret = os.environ.get("EXOSCALE_API_SECRET")
    if key and secret:
        return {key: secret}
    return {DEFAULT_KEY: DEFAULT_SECRET}


def export_lines(url, credentials):
    """The shell lines that point the collection (and huggingface_hub) at this simulator.

    The endpoint has a {zone} placeholder so that each task's zone picks its /<zone>/v2 (the default zone,
    ch-gva-2, is also /v2). The secret is a test credential of this process, shown so that it can be pasted.
    """
    base = url[:-len("/v2")]
    key, secret = next(iter(credentials.items()))
    return [f"export EXOSCALE_API_ENDPOINT={shlex.quote(base + '/{zone}/v2')}",
            f"export EXOSCALE_API_KEY={shlex.quote(key)}",
            f"export EXOSCALE_API_SECRET={shlex.quote(secret)}",
            f"export HF_ENDPOINT={shlex.quote(base + '/hf')}"]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    credentials = credentials_from(args)
    server = build_server(args.host, args.port, credentials, args.speed, args.state_file, args.deployment_url_style)
    print(f"SIMULATOR_URL={server.url}", flush=True)  # the first line: tests and the Makefile read it
    for line in export_lines(server.url, credentials):
        print(line, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
