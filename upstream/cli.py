"""`python -m upstream`: run the simulated Jaffle Shop platform and move its clock."""

from __future__ import annotations

import argparse
import os
import socket
import sys

import httpx
import uvicorn

from upstream.api import ApiSettings, create_app
from upstream.generator import GenerationSpec
from upstream.store import ShopStore

HOST = "127.0.0.1"  # the simulated upstream never listens beyond loopback
API_KEY_ENV = "UPSTREAM_API_KEY"


def api_key_from_env() -> str:
    key = os.environ.get(API_KEY_ENV, "")
    if not key:
        sys.exit(f"upstream: set {API_KEY_ENV} to the bearer key clients must present")
    return key


def serve(args: argparse.Namespace) -> None:
    spec = GenerationSpec(seed=args.seed, orders=args.orders, history_days=args.history_days)
    store = ShopStore(spec)
    settings = ApiSettings(
        api_key=api_key_from_env(), latency_ms=args.latency_ms, jitter_ms=args.jitter_ms
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, args.port))
    except OSError as error:
        sys.exit(f"upstream: cannot listen on {HOST}:{args.port}: {error.strerror}")
    port = sock.getsockname()[1]
    # The first line on stdout tells a launcher where we listen (useful with --port 0).
    print(
        f"upstream listening on http://{HOST}:{port} ({len(store.tables['orders'])} orders)",
        flush=True,
    )
    config = uvicorn.Config(create_app(store, settings), log_level=args.log_level)
    uvicorn.Server(config).run(sockets=[sock])


def advance(args: argparse.Namespace) -> None:
    response = httpx.post(
        f"{args.url.rstrip('/')}/admin/advance",
        params={"days": args.days},
        headers={"Authorization": f"Bearer {api_key_from_env()}"},
        timeout=300,
    )
    if response.status_code != 200:
        sys.exit(f"upstream: advance failed with {response.status_code}: {response.text}")
    print(response.text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m upstream", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve",
        help="serve the REST API on 127.0.0.1",
        description=f"Serve the REST API on {HOST}. Clients authenticate with the bearer key "
        f"in ${API_KEY_ENV}.",
    )
    serve_cmd.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one")
    serve_cmd.add_argument("--seed", type=int, default=42, help="random seed of the data set")
    serve_cmd.add_argument("--orders", type=int, default=5_000, help="orders in the history")
    serve_cmd.add_argument("--history-days", type=int, default=90, help="days of history")
    serve_cmd.add_argument(
        "--latency-ms", type=float, default=0.0, help="base latency added to every API request"
    )
    serve_cmd.add_argument(
        "--jitter-ms",
        type=float,
        default=0.0,
        help="uniform random latency added on top of the base",
    )
    serve_cmd.add_argument("--log-level", default="warning", help="uvicorn log level")
    serve_cmd.set_defaults(handler=serve)

    advance_cmd = commands.add_parser(
        "advance",
        help="move the running upstream's clock forward",
        description="New orders arrive and existing ones change status, day by day.",
    )
    advance_cmd.add_argument("--days", type=int, default=1, help="days to move forward")
    advance_cmd.add_argument(
        "--url", default=f"http://{HOST}:8765", help="base URL of the running upstream"
    )
    advance_cmd.set_defaults(handler=advance)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.handler(args)
