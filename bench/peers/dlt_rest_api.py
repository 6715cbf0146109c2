"""`python -m bench.peers.dlt_rest_api [--tuned]`: the shop API into DuckDB with dlt's
declarative `rest_api` source, as a dlt user would write it.

Defaults: the source as its docs introduce it. `--tuned`: what dlt's performance guide
advises for a REST API: resources `parallelized`, the largest page the API allows, Parquet
load files, and more extract, normalize and load workers. Reads SHOP_API_URL,
UPSTREAM_API_KEY, DUCKDB_PATH and PIPELINES_DIR.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source

TABLES = ("customers", "orders", "order_items", "tweets", "products", "stores")
CURSOR_ENDPOINTS = ("orders", "tweets")
TUNED_WORKERS = {"EXTRACT__WORKERS": "8", "NORMALIZE__WORKERS": "2", "LOAD__WORKERS": "8"}


def source(url: str, key: str, tuned: bool) -> Any:
    cursor = {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}
    numbered = {"type": "page_number", "base_page": 1, "total_path": "total_pages"}
    resources = []
    for name in TABLES:
        endpoint: dict[str, Any] = {
            "path": f"/v1/{name}",
            "data_selector": "data",
            "paginator": cursor if name in CURSOR_ENDPOINTS else numbered,
        }
        resource: dict[str, Any] = {"name": name, "endpoint": endpoint}
        if tuned:
            endpoint["params"] = {"limit": 1000}
            resource["parallelized"] = True
        resources.append(resource)
    return rest_api_source(
        {
            "client": {"base_url": url, "auth": {"type": "bearer", "token": key}},
            "resources": resources,
        }
    )


def main(argv: list[str]) -> int:
    tuned = "--tuned" in argv
    if tuned:
        for name, value in TUNED_WORKERS.items():
            os.environ.setdefault(name, value)
    pipeline = dlt.pipeline(
        "dlt_rest_api_tuned" if tuned else "dlt_rest_api",
        destination=dlt.destinations.duckdb(os.environ["DUCKDB_PATH"]),
        dataset_name="raw",
        pipelines_dir=os.environ["PIPELINES_DIR"],
    )
    data = source(os.environ["SHOP_API_URL"], os.environ["UPSTREAM_API_KEY"], tuned)
    pipeline.run(data, loader_file_format="parquet" if tuned else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
