"""`make chaos`: kill -9 at random points of `make ingest` and `dbt build`, on DuckDB and
PostgreSQL, with upstream changes between trials and a flaky upstream on every other one;
after each trial, the raw tables and the marts are compared with the upstream key by key.

A trial: the upstream advances a day; then either the ingest is killed at a random moment
and run again, then built; or the ingest runs and the build is killed and run again. Every
command is the one a user runs (`python -m ingestion run`, `dbt build`), as a process of its
own, killed with SIGKILL. The kill moments come from a seeded generator: a run can be
repeated. Exit status: the number of trials that were not exact (or failed to recover).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import active_children, get_context
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from bench.databases import scratch_postgres_database  # noqa: E402
from bench.scenarios.ingestion import environment  # noqa: E402
from tests.support import (  # noqa: E402
    FAST_UPSTREAM,
    Warehouse,
    assert_orders_mart_matches_upstream,
    history_start,
)
from tests.test_pipeline_end_to_end import assert_raw_matches_upstream  # noqa: E402
from tests.test_warehouse_models import (  # noqa: E402
    assert_customers_match_upstream,
    assert_daily_revenue_matches_upstream,
)
from upstream.process import UpstreamProcess  # noqa: E402

BIN = Path(sys.executable).parent
TARGETS = ("duckdb", "postgres")
STARTUP_SECONDS = 1.0  # imports, before a process touches the upstream or the warehouse
RATES = ("--deletion-rate", "0.02", "--late-item-rate", "0.1", "--return-rate", "0.05")


@dataclass
class Trial:
    target: str
    number: int
    killed: str  # "ingest" or "build"
    after_seconds: float
    flaky: bool
    landed: bool = False  # the process was still running when the kill came
    exact: bool = False
    problem: str = ""

    def line(self, trials: int) -> str:
        upstream = "flaky upstream" if self.flaky else "healthy upstream"
        outcome = "exact" if self.exact else f"NOT EXACT: {self.problem}"
        kill = "kill -9" if self.landed else "(finished before the kill at)"
        return (
            f"chaos: {self.target} {self.number}/{trials}: {kill} {self.killed} after "
            f"{self.after_seconds:.2f}s ({upstream}) -> {outcome}"
        )


def command_env(target: str, scratch: Path, upstream: UpstreamProcess, database: str) -> dict:
    env = {
        **os.environ,
        "DBT_TARGET": target,
        "DUCKDB_PATH": str(scratch / "warehouse.duckdb"),
        "PIPELINES_DIR": str(scratch / "pipelines"),
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        "SOURCES__SHOP_API__RATE_LIMIT": "1000",
        "SOURCES__SHOP_API__BACKOFF_SECONDS": "0.05",
        "SOURCES__SHOP_API__TIMEOUT_SECONDS": "2",
        # dbt's artifacts away from the repository's own target/.
        "DBT_TARGET_PATH": str(scratch / "dbt-target"),
        # dlt writes a merge's SQL to the temp folder before it moves it into the package:
        # a kill in between leaves it there, so in the scratch folder.
        "TMPDIR": str(scratch),
    }
    if database:
        env["POSTGRES_DB"] = database
    return env


INGEST = ("-m", "ingestion", "run")
BUILD = ("dbt", "build", "--quiet")


def command(step: tuple[str, ...]) -> list[str]:
    return [str(BIN / step[0]), *step[1:]] if step[0] == "dbt" else [sys.executable, *step]


def run(step: tuple[str, ...], env: dict) -> float:
    """Run the step to the end; its seconds. RuntimeError when it fails."""
    started = time.monotonic()
    result = subprocess.run(command(step), cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(step)} failed after a kill: {' | '.join(tail)}")
    return time.monotonic() - started


def run_and_kill(step: tuple[str, ...], env: dict, after: float) -> bool:
    """Start the step, SIGKILL its process group `after` seconds in; False when it had
    finished by then."""
    process = subprocess.Popen(
        command(step),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        process.wait(timeout=after)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True
    except BaseException:  # the runner itself is stopped: take its step down too
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return False


@contextmanager
def warehouse_for(target: str) -> Iterator[str]:
    """A scratch PostgreSQL database's name for `postgres`; nothing for DuckDB."""
    if target == "postgres":
        with scratch_postgres_database("jaffle_chaos") as database:
            yield database
    else:
        yield ""


def check(target: str, env: dict, truth: UpstreamProcess) -> None:
    """Raw and marts against the upstream's truth, key by key."""
    where = {name: env[name] for name in ("DUCKDB_PATH", "POSTGRES_DB") if name in env}
    with environment(**where):
        warehouse = Warehouse(target)
        assert_raw_matches_upstream(warehouse, truth)
        assert_orders_mart_matches_upstream(warehouse, truth)
        assert_daily_revenue_matches_upstream(warehouse, truth)
        assert_customers_match_upstream(warehouse, truth)


def run_target(target: str, trials: int, orders: int, rng: random.Random) -> list[Trial]:
    key = secrets.token_hex(16)
    # The history ends early enough that a day per trial never takes the upstream's clock
    # past today: dbt's microbatch builds no batch after the wall clock's.
    start = history_start(90 + trials)
    data = ("--orders", str(orders), "--start", start, *RATES, *FAST_UPSTREAM)
    flaky_args = (*data, "--faults", "flaky", "--fault-seed", str(rng.randrange(1 << 30)))
    results: list[Trial] = []
    with (
        tempfile.TemporaryDirectory(prefix=f"chaos-{target}-") as scratch_dir,
        warehouse_for(target) as database,
        UpstreamProcess(key, *data) as truth,
        UpstreamProcess(key, *flaky_args) as flaky,
    ):
        scratch = Path(scratch_dir)
        healthy_env = command_env(target, scratch, truth, database)
        flaky_env = command_env(target, scratch, flaky, database)
        run(INGEST, healthy_env)  # the full load
        run(BUILD, healthy_env)
        # How long an incremental round's steps take (updated as trials run): kills are
        # drawn between the end of a process's start-up and then, to land mid-work.
        seconds = {"ingest": run(INGEST, healthy_env), "build": run(BUILD, healthy_env)}
        for number in range(1, trials + 1):
            for upstream in (truth, flaky):  # the same seed and days: the same data
                upstream.advance(days=1)
            killed = rng.choice(("ingest", "build"))
            trial = Trial(target, number, killed, 0.0, flaky=number % 2 == 0)
            env = flaky_env if trial.flaky else healthy_env
            try:
                trial.after_seconds = rng.uniform(STARTUP_SECONDS, seconds[killed])
                if killed == "ingest":
                    trial.landed = run_and_kill(INGEST, env, trial.after_seconds)
                    run(INGEST, env)
                    seconds["build"] = run(BUILD, env)
                else:
                    seconds["ingest"] = run(INGEST, env)
                    trial.landed = run_and_kill(BUILD, env, trial.after_seconds)
                    run(BUILD, env)
                check(target, env, truth)
                trial.exact = True
            except (AssertionError, RuntimeError) as problem:
                trial.problem = " ".join(str(problem).split())[:300] or type(problem).__name__
            print(trial.line(trials), flush=True)
            results.append(trial)
    return results


def unwind_on_sigterm() -> None:
    """Stopped (SIGTERM), a target's process unwinds: its upstreams and scratch database are
    removed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def stop_targets(*_: object) -> None:
    """The runner stopped (SIGTERM): the targets' processes are stopped the same way first."""
    for child in active_children():
        child.terminate()
    sys.exit(143)


def main() -> int:
    signal.signal(signal.SIGTERM, stop_targets)
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 trials per target (CI)")
    parser.add_argument("--trials", type=int, default=50, help="trials per target (50)")
    parser.add_argument("--orders", type=int, default=20_000, help="orders upstream")
    parser.add_argument("--seed", type=int, default=7, help="seed of the kill moments")
    parser.add_argument("--target", choices=TARGETS, action="append", help="default: both")
    args = parser.parse_args()
    trials, orders = (2, 2_000) if args.quick else (args.trials, args.orders)
    targets = args.target or TARGETS
    # The targets' trials run side by side, each in a process of its own (the checks set
    # environment variables) with a generator of its own: the kill moments stay repeatable.
    context = get_context("spawn")
    with ProcessPoolExecutor(len(targets), context, initializer=unwind_on_sigterm) as pool:
        runs = pool.map(
            run_target,
            targets,
            [trials] * len(targets),
            [orders] * len(targets),
            [random.Random(f"{args.seed}:{target}") for target in targets],
        )
        totals = []
        for target, results in zip(targets, runs, strict=True):
            exact = sum(trial.exact for trial in results)
            totals.append((target, exact, len(results), sum(trial.landed for trial in results)))
    summary = ", ".join(
        f"{target} {exact}/{count} exact ({landed} kills landed mid-run)"
        for target, exact, count, landed in totals
    )
    print(f"chaos: {summary} (kill -9 during ingest and dbt build, {orders} orders)")
    return sum(count - exact for _, exact, count, _ in totals)


if __name__ == "__main__":
    sys.exit(main())
