"""`python -m upstream`: run the simulated Jaffle Shop platform and move its clock."""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from upstream.api import ApiSettings, create_app
from upstream.csvio import CsvImportError, read_csv_dir, write_csv_dir
from upstream.faults import FaultProfile
from upstream.generator import GenerationSpec, generate
from upstream.oltp import CatalogDatabase, default_url
from upstream.store import ShopStore

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the simulated upstream never listens beyond loopback
API_KEY_ENV = "UPSTREAM_API_KEY"


def api_key_from_env() -> str:
    key = os.environ.get(API_KEY_ENV, "")
    if not key:
        sys.exit(f"upstream: set {API_KEY_ENV} to the bearer key clients must present")
    return key


def history_start(args: argparse.Namespace) -> date:
    """`--start`, or the day that makes the history end today, as a live shop's would.

    dbt's microbatch models cut their batches on the wall clock, so a history that ended in
    some fixed past year would never fall inside their lookback window.
    """
    if args.start is not None:
        return args.start
    return datetime.now(UTC).date() - timedelta(days=args.history_days)


def spec_from_args(args: argparse.Namespace) -> GenerationSpec:
    return GenerationSpec(
        seed=args.seed,
        orders=args.orders,
        history_days=args.history_days,
        start=history_start(args),
        sale_day=args.sale_day,
        sale_multiplier=args.sale_multiplier,
        evolve_at=args.evolve_at,
        **change_rates(args),
    )


def change_rates(args: argparse.Namespace) -> dict[str, float]:
    return {
        "deletion_rate": args.deletion_rate,
        "late_item_rate": args.late_item_rate,
        "return_rate": args.return_rate,
        "price_change_rate": args.price_change_rate,
    }


def load_store(args: argparse.Namespace) -> ShopStore:
    if args.data_dir is not None:
        try:
            spec, data = read_csv_dir(args.data_dir, seed=args.seed)
        except CsvImportError as error:
            sys.exit(f"upstream: {error}")
        return ShopStore(dataclasses.replace(spec, **change_rates(args)), data)
    return ShopStore(spec_from_args(args))


def serve(args: argparse.Namespace) -> None:
    try:
        faults = FaultProfile.parse(args.faults, seed=args.fault_seed)
    except ValueError as error:
        sys.exit(f"upstream: --faults: {error}")
    settings = ApiSettings(
        api_key=api_key_from_env(),
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        rate_limit=args.rate_limit,
        burst=args.burst,
        max_concurrent=args.max_concurrent,
        faults=faults,
        seed=args.seed,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, args.port))
    except OSError as error:
        sys.exit(f"upstream: cannot listen on {HOST}:{args.port}: {error.strerror}")
    started = time.perf_counter()
    store = load_store(args)
    catalog = CatalogDatabase(args.database_url or default_url(REPO_ROOT / ".upstream"))
    catalog.load(store)
    sizes = ", ".join(f"{len(table)} {name}" for name, table in store.tables.items())
    port = sock.getsockname()[1]
    # The first line on stdout tells a launcher where we listen (useful with --port 0).
    print(
        f"upstream listening on http://{HOST}:{port} ({sizes}; "
        f"ready in {time.perf_counter() - started:.1f}s)",
        flush=True,
    )
    config = uvicorn.Config(create_app(store, settings, catalog), log_level=args.log_level)
    uvicorn.Server(config).run(sockets=[sock])


def generate_files(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    data = generate(spec_from_args(args))
    generated = time.perf_counter() - started
    written = write_csv_dir(data, args.out)
    print(
        f"generated {len(data['orders'].ids)} orders in {generated:.1f}s; "
        f"wrote {len(written)} files to {args.out} in {time.perf_counter() - started:.1f}s"
    )


def advance(args: argparse.Namespace) -> None:
    url = args.url.rstrip("/")
    try:
        response = httpx.post(
            f"{url}/admin/advance",
            params={"hours": args.hours} | ({} if args.days is None else {"days": args.days}),
            headers={"Authorization": f"Bearer {api_key_from_env()}"},
            timeout=300,
        )
    except httpx.TransportError as error:
        sys.exit(
            f"upstream: nothing answers at {url} ({error}): start it with `make upstream` "
            "(or pass --url)"
        )
    if response.status_code != 200:
        sys.exit(f"upstream: advance failed with {response.status_code}: {response.text}")
    print(response.text)


def bounded(
    kind: type[int] | type[float], minimum: float, maximum: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a number of `kind` within [minimum, maximum]."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text} is not a{'n integer' if kind is int else ' number'}"
            ) from None
        if not (value >= minimum and (maximum is None or value <= maximum)):
            upper = f" and at most {maximum:g}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"{text} is not at least {minimum:g}{upper}")
        return value

    return parse


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--orders", type=bounded(int, 1), default=5_000, help="orders in the history (scale)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed of the data set")
    parser.add_argument("--history-days", type=bounded(int, 1), default=90, help="days of history")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        help="first day of the history (default: the history ends today, UTC)",
    )
    parser.add_argument(
        "--sale-day", type=date.fromisoformat, help="day with a volume spike (default: 2/3 in)"
    )
    parser.add_argument(
        "--sale-multiplier",
        type=bounded(float, 1),
        default=20.0,
        help="volume on the sale day (x normal)",
    )
    parser.add_argument(
        "--evolve-at",
        type=date.fromisoformat,
        help="from this day new orders carry `channel` and tweets `client` (default: 3 days "
        "after the history ends)",
    )
    defaults = GenerationSpec()
    for name, what in (
        ("deletion", "a customer asks to be deleted"),
        ("late-item", "an order of the last week gets one more item"),
        ("return", "a completed order of the last week is returned"),
        ("price-change", "a product's price changes"),
    ):
        field = f"{name.replace('-', '_')}_rate"
        parser.add_argument(
            f"--{name}-rate",
            type=probability,
            default=getattr(defaults, field),
            help=f"daily chance that {what} when the clock advances (default %(default)s)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m upstream", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve",
        help="serve the REST API on 127.0.0.1",
        description=f"Serve the REST API on {HOST}. Clients authenticate with the bearer key "
        f"in ${API_KEY_ENV}.",
    )
    serve_cmd.add_argument(
        "--port", type=bounded(int, 0, 65535), default=8765, help="TCP port; 0 picks a free one"
    )
    add_data_arguments(serve_cmd)
    serve_cmd.add_argument(
        "--data-dir", type=Path, help="serve jafgen-style CSVs from here instead of generating"
    )
    serve_cmd.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the catalog database (default: SQLite in .upstream/); e.g. "
        "postgresql+psycopg2://user:pw@127.0.0.1/catalog or mysql+pymysql://root@127.0.0.1/test",
    )
    serve_cmd.add_argument(
        "--latency-ms",
        type=bounded(float, 0),
        default=30.0,
        help="base latency of every API request",
    )
    serve_cmd.add_argument(
        "--jitter-ms",
        type=bounded(float, 0),
        default=20.0,
        help="uniform random latency on top of the base",
    )
    serve_cmd.add_argument(
        "--rate-limit",
        type=bounded(float, 0),
        default=20.0,
        help="requests/s per API key; 0 = unlimited",
    )
    serve_cmd.add_argument(
        "--burst", type=bounded(float, 0), default=0.0, help="token bucket size (2x rate)"
    )
    serve_cmd.add_argument(
        "--max-concurrent",
        type=bounded(int, 0),
        default=0,
        help="cap on requests in flight; 0 = no cap",
    )
    serve_cmd.add_argument(
        "--faults",
        default="none",
        help='fault profile: "none", "flaky", or shares such as "error_5xx=0.05,drop=0.01" '
        "(error_5xx, burst_429, slow, drop, truncate, malform, bad_record; burst_length, "
        "slow_seconds; outage_after=N: every request after the Nth answers 5xx; "
        "max_in_a_row=N: a request asked again after N faults in a row is answered)",
    )
    serve_cmd.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")
    serve_cmd.add_argument("--log-level", default="warning", help="uvicorn log level")
    serve_cmd.set_defaults(handler=serve)

    advance_cmd = commands.add_parser(
        "advance",
        help="move the running upstream's clock forward",
        description="New orders arrive and existing ones change status, day by day (or hour "
        "by hour: an hour is its share of the day).",
    )
    advance_cmd.add_argument(
        "--days", type=bounded(int, 0), help="days to move forward (default 1, or 0 with --hours)"
    )
    advance_cmd.add_argument(
        "--hours", type=bounded(int, 0), default=0, help="hours to move forward, after the days"
    )
    advance_cmd.add_argument(
        "--url", default=f"http://{HOST}:8765", help="base URL of the running upstream"
    )
    advance_cmd.set_defaults(handler=advance)

    generate_cmd = commands.add_parser(
        "generate",
        help="write the generated data set as jafgen-style CSV files",
        description="Generate the data set; `serve --data-dir` serves the raw_*.csv it writes.",
    )
    generate_cmd.add_argument("--out", type=Path, required=True, help="directory to write")
    add_data_arguments(generate_cmd)
    generate_cmd.set_defaults(handler=generate_files)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.handler(args)
