"""The shop API into DuckDB with Singer: tap-rest-api-msdk piped into target-duckdb, both with
their default settings. Run by the Singer peer's own virtualenv (it imports nothing of this
project). Reads SHOP_API_URL, UPSTREAM_API_KEY and DUCKDB_PATH; prints the rows its DuckDB
file holds per stream, as JSON.

The tap takes one pagination style per process (its settings are tap-wide), so there is one
pipe per style, in turn: two target-duckdb processes cannot write one DuckDB file at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ENDPOINTS = {
    "cursor": (("orders", "id"), ("tweets", "id")),
    "paged": (("customers", "id"), ("order_items", "id"), ("products", "sku"), ("stores", "id")),
}
PAGINATION = {
    "cursor": {
        "pagination_request_style": "jsonpath_paginator",
        "next_page_token_path": "$.next_cursor",
        "pagination_next_page_param": "cursor",
    },
    # The API says `total_pages`, which the tap cannot compare with the page number: a
    # full page (a 1000th row) means there may be another.
    "paged": {
        "pagination_request_style": "page_number_paginator",
        "next_page_token_path": "$.data[999]",
        "pagination_next_page_param": "page",
    },
}
BIN = Path(sys.executable).parent


def pipe(style: str, database: Path, scratch: Path) -> None:
    """tap | target for the endpoints of one pagination style."""
    streams = [
        {
            "name": name,
            "path": f"/v1/{name}",
            "primary_keys": [key],
            "records_path": "$.data[*]",
            "params": {"limit": 1000},
        }
        for name, key in ENDPOINTS[style]
    ]
    tap_config = scratch / f"tap-{style}.json"
    tap_config.write_text(
        json.dumps(
            {
                "api_url": os.environ["SHOP_API_URL"],
                "auth_method": "bearer_token",
                "bearer_token": os.environ["UPSTREAM_API_KEY"],
                "streams": streams,
                **PAGINATION[style],
            }
        )
    )
    target_config = scratch / "target.json"
    target_config.write_text(json.dumps({"path": str(database), "default_target_schema": "raw"}))
    tap = subprocess.Popen(
        [BIN / "tap-rest-api-msdk", "--config", tap_config],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    target = subprocess.run(
        [BIN / "target-duckdb", "--config", target_config],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
    )
    if tap.wait() != 0 or target.returncode != 0:
        raise SystemExit(f"Singer failed ({style}): {target.stderr[-2000:]}")


def main() -> int:
    database = Path(os.environ["DUCKDB_PATH"])
    with tempfile.TemporaryDirectory(prefix="singer-") as scratch:
        for style in ENDPOINTS:
            pipe(style, database, Path(scratch))
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = {
            name: conn.execute(f"select count(*) from raw.{name}").fetchone()[0]
            for endpoints in ENDPOINTS.values()
            for name, _ in endpoints
        }
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
