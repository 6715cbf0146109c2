"""`make demo`: upstream -> `make ingest` -> `dbt build` on DuckDB, then a short summary."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ingestion.publish import NOT_PUBLISHED  # noqa: E402
from ingestion.warehouse import dbt_environment, duckdb_path  # noqa: E402
from upstream.process import UpstreamProcess  # noqa: E402

BIN = Path(sys.executable).parent
SCHEMAS = ("raw", "raw_catalog", "analytics")


DBT_NODE_DONE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP)\b")
PROGRESS_EVERY_SECONDS = 5.0


def timed(label: str, command: list[str], env: dict[str, str], timings: dict[str, float]) -> None:
    print(f"-> {label}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env)
    timings[label] = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"demo: {label} failed (exit {result.returncode})")


def dbt_build(env: dict[str, str], timings: dict[str, float]) -> None:
    """`dbt build`, its ~100 lines boiled down: progress every few seconds, every problem in
    full, and dbt's closing count."""
    command = [str(BIN / "dbt"), "build"]
    print(f"-> dbt build: {' '.join(command)}", flush=True)
    started = last_report = time.perf_counter()
    with subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            done = DBT_NODE_DONE.search(line)
            problem = done is not None and done.group(3) in ("WARN", "ERROR", "FAIL")
            if problem or "Error" in line or ": rebuilding from " in line:
                print(f"   {line.rstrip()}", flush=True)
            elif done and time.perf_counter() - last_report > PROGRESS_EVERY_SECONDS:
                print(f"   {done.group(1)} of {done.group(2)} models and tests done", flush=True)
                last_report = time.perf_counter()
            elif "Done. PASS=" in line:
                print(f"   {line.split('Done. ', 1)[1].rstrip()}", flush=True)
    timings["dbt build"] = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"demo: dbt build failed (exit {process.returncode})")


def main() -> None:
    api_key = os.environ.get("UPSTREAM_API_KEY") or secrets.token_hex(16)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with UpstreamProcess(api_key) as upstream:
        timings["start upstream"] = time.perf_counter() - started
        print(f"-> upstream: {upstream.url} (pid {upstream.pid})", flush=True)
        env = {
            **dbt_environment("duckdb", dict(os.environ)),
            "UPSTREAM_API_KEY": api_key,
            "SOURCES__SHOP_API__BASE_URL": upstream.url,
            "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        }
        timed("ingest", [str(BIN / "python"), "-m", "ingestion", "run"], env, timings)
    dbt_build(env, timings)
    timed("publish", [str(BIN / "python"), "-m", "ingestion.publish"], env, timings)

    with duckdb.connect(str(duckdb_path()), read_only=True) as conn:
        tables = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema in ('raw', 'raw_catalog', 'analytics')"
            " and not starts_with(table_name, '_dlt') and list_contains(?, table_name) = false"
            " order by table_schema = 'analytics', table_schema, table_name",
            [list(NOT_PUBLISHED)],  # bookkeeping, as dlt's own tables are
        ).fetchall()
        counts = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for (t,) in tables}
    print(f"\nDemo finished in {time.perf_counter() - started:.1f}s. Warehouse: {duckdb_path()}")
    for schema in SCHEMAS:
        rows = "  ".join(
            f"{t.split('.')[1]} {n}" for t, n in counts.items() if t.split(".")[0] == schema
        )
        print(f"{schema + ':':12} {rows}")
    print(f"{'time:':12} " + "  ".join(f"{stage} {secs:.1f}s" for stage, secs in timings.items()))
    print(f"{'next:':12} .venv/bin/dbt test | .venv/bin/dbt docs generate | make test")


if __name__ == "__main__":
    main()
