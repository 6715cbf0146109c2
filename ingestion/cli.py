"""`python -m ingestion`: run the dlt pipelines into the warehouse."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from concurrent.futures import ThreadPoolExecutor

from ingestion import SOURCES, warehouse
from ingestion.errors import SourceUnavailable
from ingestion.explain import explain, one_line
from ingestion.runlock import RunInProgress
from ingestion.summary import process_started_at
from ingestion.window import Window

PROCESS_STARTED = process_started_at()


def run_source(source_name: str, args: argparse.Namespace) -> tuple[int, list[str]]:
    """One source's run: its exit code and what to print (stdout lines, or an error)."""
    # dlt is imported here, not at the top: `--help` and argument errors answer at once.
    from dlt.common.configuration.exceptions import (
        ConfigFieldMissingException,
        ConfigurationException,
    )
    from dlt.pipeline.exceptions import PipelineStepFailed

    from ingestion import pipeline

    try:
        summary = pipeline.run(
            source_name,
            args.target,
            full_refresh=args.full_refresh,
            wait_seconds=args.wait,
            backfill_days=args.backfill_days,
            start=args.start,
            end=args.end,
            process_started=PROCESS_STARTED,
        )
    except ValueError as error:
        return 2, [f"ingestion: {source_name}: {error}"]
    except SourceUnavailable as error:
        return 1, [f"ingestion: {error}"]
    except RunInProgress as error:
        return 3, [f"ingestion: {source_name} -> {args.target}: {error}"]
    except ConfigFieldMissingException as error:
        missing = ", ".join(error.fields)
        return 2, [
            f"ingestion: {source_name} is missing configuration: {missing}. Set "
            f"{pipeline.API_KEY_ENV} for the API key; see .dlt/config.toml for the rest."
        ]
    except ConfigurationException as error:
        # dlt's message names the setting and never shows a secret's value.
        return 2, [f"ingestion: {source_name}: bad configuration: {one_line(str(error))}"]
    except PipelineStepFailed as error:
        reason = explain(error, source_name, error.step, args.target)
        # A window's run leaves the state alone, so the next plain run does not read it again.
        then = (
            "run the same --start/--end again"
            if args.start or args.end
            else "the next run starts from the same state"
        )
        return 1, [
            f"ingestion: {source_name} failed in {error.step}: {reason} (nothing from this run "
            f"was committed; {then})"
        ]
    if summary.stopped:
        # What was read landed; the rest is read by the next run (exit code 4, documented).
        stopped = ", ".join(summary.stopped)
        return 4, [
            *summary.lines(),
            f"ingestion: {source_name} stopped early ({stopped}): what was read is loaded and "
            "the state points at the rest; run again once the upstream recovers",
        ]
    return 0, summary.lines()


def run(args: argparse.Namespace) -> int:
    """Run the sources; `all` runs them at once (dlt runs pipelines in parallel threads),
    since they read different systems and load different datasets."""
    sources = SOURCES if args.source == "all" else (args.source,)
    try:
        Window.parse(args.start, args.end)
    except ValueError as error:
        print(f"ingestion: --start/--end: {error}", file=sys.stderr)
        return 2
    # The modules of the sources that run, imported here before the threads start (and no
    # others: the catalog's pulls in SQLAlchemy).
    for name in sources:
        importlib.import_module(f"ingestion.{name}")
    if args.own_process:
        # The modules' objects live as long as the process: the collector need not walk them
        # again in every full collection while pages are parsed.
        gc.freeze()
    with ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="ingest") as pool:
        outcomes = list(pool.map(lambda name: run_source(name, args), sources))
    for code, lines in outcomes:
        print("\n".join(lines), file=sys.stderr if code else sys.stdout, flush=True)
    if len(sources) > 1 and any(code for code, _ in outcomes):
        states = (
            f"{name} {'failed' if code else 'ok'}"
            for name, (code, _) in zip(sources, outcomes, strict=True)
        )
        print(f"ingestion: {', '.join(states)}", file=sys.stderr)
    return next((code for code, _ in outcomes if code), 0)


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:  # NaN included
        raise argparse.ArgumentTypeError(f"{text} is not a number of 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="extract incrementally and load the raw dataset")
    run_cmd.add_argument("--source", choices=(*SOURCES, "all"), default="all")
    run_cmd.add_argument(
        "--target",
        choices=warehouse.TARGETS,
        default=warehouse.default_target(),
        help="warehouse to load (default: $DBT_TARGET or duckdb)",
    )
    run_cmd.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the source's raw tables and state, then load everything",
    )
    run_cmd.add_argument(
        "--wait",
        type=non_negative,
        default=600.0,
        help="seconds to wait for a run of the same pipeline in progress (default 600)",
    )
    run_cmd.add_argument(
        "--backfill-days",
        type=non_negative,
        default=0.0,
        help="read a long history in windows of this many days, committing each (shop_api)",
    )
    run_cmd.add_argument(
        "--start",
        help="reload only rows changed from this ISO date/time (UTC) on; state is untouched",
    )
    run_cmd.add_argument(
        "--end", help="reload only rows changed before this ISO date/time (UTC; default: now)"
    )
    run_cmd.set_defaults(handler=run)
    return parser


def main(argv: list[str] | None = None, own_process: bool = False) -> int:
    """The command line; `own_process` when the process ends with it (`python -m ingestion`),
    not when a caller (a test) runs it in a process that goes on."""
    args = build_parser().parse_args(argv)
    args.own_process = own_process
    code = args.handler(args)
    if own_process:
        # Everything is committed and flushed: spare the interpreter's final collection of
        # every object (0.3 s at exit, a tenth of an incremental run).
        gc.freeze()
    return code
