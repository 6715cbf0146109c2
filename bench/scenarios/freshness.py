"""Freshness: how long after a change upstream it is visible in the marts. Each round the
upstream moves on by one hour (of its lunch-to-evening hours, when orders arrive), then the
README's `make ingest && make build` run as whole commands in a copy of the repository; the
round is done when the published marts hold every order the upstream holds. Side by side,
each hour, in a second copy of the repository with its own warehouse (which of the two goes
first alternates): the same ingest, then a full rebuild (`dbt build --full-refresh`, then the
publish), what a project without incremental models would pay for the same hour. Each copy
sees only its own kind of build, as a deployment would: an incremental build right after a
full refresh starts from freshly rewritten tables, and its publish cannot take the spare
snapshot (ingestion/publish.py), so it would not measure an hourly build."""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from bench.runner import BenchConfig, Result, compare, median, scenario
from bench.scenarios.warehouse import history_args, upstream_env
from ingestion.publish import published_path
from tests.readme import copy_repository
from upstream.process import UpstreamProcess

FIRST_HOUR = 10  # the rounds' hours start here: the shops are open 07:00-21:00 UTC
GOAL_SECONDS = {1_000_000: 10.0, 10_000_000: 20.0}
PUBLISHED = re.compile(r"publish: .* \(([0-9.]+)s\)")


@dataclass(frozen=True)
class Round:
    ingest: float
    build: float
    new_orders: int
    nodes: float  # of the build: dbt running its models and tests (run_results.json)
    publish: float  # of the build: the snapshot for readers (as the publish reports it)

    @property
    def seconds(self) -> float:
        return self.ingest + self.build


def commands_env(upstream: UpstreamProcess) -> dict[str, str]:
    """A user's shell (no variables of this process's own) pointed at the upstream."""
    kept = ("PATH", "HOME", "LANG", "TMPDIR")
    return {name: os.environ[name] for name in kept if name in os.environ} | upstream_env(upstream)


def timed(command: list[str], repo: Path, env: dict[str, str]) -> tuple[float, str]:
    """Seconds from starting `command` to its exit, and its output."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"`{' '.join(command)}` failed: {output}")
    return seconds, result.stdout


def build_parts(repo: Path, output: str) -> tuple[float, float]:
    """Of a build: dbt's time running nodes, and the publish's own report of its time."""
    nodes = json.loads((repo / "target" / "run_results.json").read_text())["elapsed_time"]
    published = PUBLISHED.search(output)
    if published is None:
        raise RuntimeError(f"no publish in the build's output: {output[-500:]}")
    return nodes, float(published.group(1))


def published_orders(repo: Path) -> int:
    path = published_path(repo / "warehouse" / "jaffle.duckdb")
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.sql("select count(*) from analytics.orders").fetchone()[0]


@cache
def freshness_rounds(
    orders: int, pairs: int, warmups: int
) -> tuple[list[Round], list[Round], float]:
    """`pairs` hours, each built both ways, after `warmups` hours; and the first build."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-freshness-"))
    atexit.register(shutil.rmtree, scratch, True)
    incremental_repo = copy_repository(scratch / "incremental")
    rebuilt_repo = copy_repository(scratch / "full-rebuild")
    make = ["make", "--no-print-directory"]
    rebuild = [".venv/bin/dbt", "build", "--full-refresh", "--quiet"]
    publish = [".venv/bin/python", "-m", "ingestion.publish"]
    with UpstreamProcess(
        secrets.token_hex(16), *history_args(orders), startup_timeout=1200
    ) as upstream:
        env = commands_env(upstream)
        expected = orders + upstream.advance(days=0, hours=FIRST_HOUR - 1)["new_orders"]
        first_builds = []
        for repo in (incremental_repo, rebuilt_repo):
            timed([*make, "ingest"], repo, env)
            first_builds.append(timed([*make, "build"], repo, env)[0])
        incremental: list[Round] = []
        rebuilt: list[Round] = []
        for index in range(warmups + pairs):
            new_orders = upstream.advance(days=0, hours=1)["new_orders"]
            expected += new_orders
            sides = [(incremental_repo, incremental), (rebuilt_repo, rebuilt)]
            report = []
            for repo, sink in sides[:: 1 if index % 2 == 0 else -1]:
                ingest, _ = timed([*make, "ingest"], repo, env)
                if sink is incremental:
                    build, output = timed([*make, "build"], repo, env)
                else:
                    dbt_seconds, dbt_output = timed(rebuild, repo, env)
                    publish_seconds, output = timed(publish, repo, env)
                    build, output = dbt_seconds + publish_seconds, dbt_output + output
                if (visible := published_orders(repo)) != expected:
                    raise RuntimeError(
                        f"the marts hold {visible:,} orders, the upstream {expected:,}"
                    )
                kind = "build" if sink is incremental else "full rebuild"
                report.append(f"ingest {ingest:.1f} s, {kind} {build:.1f} s")
                if index >= warmups:
                    sink.append(Round(ingest, build, new_orders, *build_parts(repo, output)))
            print(
                f"[bench]   hour {FIRST_HOUR + index}: {new_orders} new orders; "
                + "; ".join(report),
                flush=True,
            )
    return incremental, rebuilt, first_builds[0]


def freshness(scenario_id: str, orders: int, config: BenchConfig) -> Result:
    # A warm-up hour first (the first incremental publish after a full build cannot take the
    # spare snapshot), except in the smoke run, which only checks that the rounds run.
    pairs, warmups = (1, 0) if config.quick else (5, 1)
    incremental, rebuilt, first_build = freshness_rounds(orders, pairs, warmups)
    fresh = [r.seconds for r in incremental]
    goal = GOAL_SECONDS.get(orders, GOAL_SECONDS[1_000_000])
    return compare(
        scenario_id,
        f"Freshness: an upstream hour to the marts, {orders:,} orders",
        f"`make ingest && make build` (whole commands, a copy of the repository, DuckDB) after "
        f"the upstream moves on one hour ({median([r.new_orders for r in incremental]):.0f} new "
        "orders), until the published marts hold every order; vs the same hour in a second "
        "copy with `dbt build --full-refresh` and the publish",
        ("full rebuild", "incremental"),
        ([r.seconds for r in rebuilt], fresh),
        "s",
        f"incremental p50 <= {goal:g} s",
        lower_is_better=True,
        passed=lambda _: median(fresh) <= goal,
        notes=f"incremental p50 {median(fresh):.1f} s, max {max(fresh):.1f} s over {len(fresh)} "
        f"hours: ingest p50 {median([r.ingest for r in incremental]):.1f} s, build p50 "
        f"{median([r.build for r in incremental]):.1f} s, of which dbt running its "
        f"models and tests {median([r.nodes for r in incremental]):.1f} s, the publish "
        f"{median([r.publish for r in incremental]):.1f} s and the rest dbt starting and "
        "reading its parse (`make build` reuses it); full rebuild: dbt running nodes "
        f"{median([r.nodes for r in rebuilt]):.1f} s, publish "
        f"{median([r.publish for r in rebuilt]):.1f} s. The first build took {first_build:.0f} s",
    )


@scenario("freshness")
def freshness_small(config: BenchConfig) -> Result:
    return freshness("freshness", 20_000 if config.quick else 1_000_000, config)


@scenario("freshness-10m", opt_in="large")
def freshness_large(config: BenchConfig) -> Result:
    return freshness("freshness-10m", 20_000 if config.quick else 10_000_000, config)
