"""The shop API into DuckDB with Airbyte's low-code connector (airbyte_shop.yaml) run by
PyAirbyte into its DuckDB cache, as PyAirbyte's docs introduce it. Run by the Airbyte peer's
own virtualenv (it imports nothing of this project). Reads SHOP_API_URL, UPSTREAM_API_KEY,
DUCKDB_PATH, AIRBYTE_START_DATE, AIRBYTE_END_DATE, AIRBYTE_STEP, AIRBYTE_CONCURRENCY; prints
the rows its DuckDB file holds per stream, as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# No registry lookup (the connector is the manifest here) and no telemetry: no internet.
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

import airbyte
from airbyte.caches import DuckDBCache
from sqlalchemy import text

MANIFEST = Path(__file__).with_name("airbyte_shop.yaml")


def main() -> int:
    database = Path(os.environ["DUCKDB_PATH"])
    source = airbyte.get_source(
        "source-jaffle-shop",
        config={
            "api_url": os.environ["SHOP_API_URL"],
            "api_key": os.environ["UPSTREAM_API_KEY"],
            "start_date": os.environ["AIRBYTE_START_DATE"],
            "end_date": os.environ["AIRBYTE_END_DATE"],
            "step": os.environ.get("AIRBYTE_STEP", "P7D"),
            "concurrency": int(os.environ["AIRBYTE_CONCURRENCY"]),
        },
        source_manifest=MANIFEST,
    )
    source.select_all_streams()
    cache = DuckDBCache(db_path=database, schema_name="raw", cache_dir=database.parent / "cache")
    source.read(cache=cache)
    with cache.get_sql_engine().connect() as conn:
        rows = {
            stream: conn.execute(text(f"select count(*) from raw.{stream}")).scalar_one()
            for stream in source.get_selected_streams()
        }
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
