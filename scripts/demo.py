"""`make demo`: upstream -> `make ingest` -> `dbt build` on DuckDB, then a short summary."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ingestion.warehouse import duckdb_path  # noqa: E402
from upstream.process import UpstreamProcess  # noqa: E402

BIN = Path(sys.executable).parent
SCHEMAS = ("raw", "raw_catalog", "analytics")


def timed(label: str, command: list[str], env: dict[str, str], timings: dict[str, float]) -> None:
    print(f"-> {label}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env)
    timings[label] = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"demo: {label} failed (exit {result.returncode})")


def main() -> None:
    api_key = os.environ.get("UPSTREAM_API_KEY") or secrets.token_hex(16)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with UpstreamProcess(api_key) as upstream:
        timings["start upstream"] = time.perf_counter() - started
        print(f"-> upstream: {upstream.url} (pid {upstream.pid})", flush=True)
        env = {
            **os.environ,
            "DBT_TARGET": "duckdb",
            "UPSTREAM_API_KEY": api_key,
            "SOURCES__SHOP_API__BASE_URL": upstream.url,
            "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        }
        timed("ingest", [str(BIN / "python"), "-m", "ingestion", "run"], env, timings)
    timed("dbt build", [str(BIN / "dbt"), "build", "--quiet"], env, timings)

    with duckdb.connect(str(duckdb_path()), read_only=True) as conn:
        tables = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema in ('raw', 'raw_catalog', 'analytics')"
            " and not starts_with(table_name, '_dlt')"
            " order by table_schema = 'analytics', table_schema, table_name"
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
