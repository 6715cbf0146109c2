"""One Spark cluster for the test session (`make spark-up`, `make spark-down`), on free
loopback ports, its state in a temporary folder; stopped by its PIDs at the end."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from pyhive import hive

from cluster.ports import free_ports
from tests.support import REPO_ROOT
from upstream.process import UpstreamProcess


class SparkCluster:
    def __init__(self, state_dir: Path) -> None:
        self.env = {**os.environ, "SPARK_STATE_DIR": str(state_dir)}
        self.env.update(free_ports())

    def make(self, target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", target], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True
        )

    @property
    def thrift_port(self) -> int:
        return int(self.env["SPARK_THRIFT_PORT"])

    def pids(self) -> list[int]:
        folder = Path(self.env["SPARK_STATE_DIR"]) / "pids"
        return [int(p.read_text()) for p in folder.glob("*.pid")]

    def query(self, *statements: str) -> list[tuple[Any, ...]]:
        """The last statement's rows; the statements share one session (`set ...` first)."""
        connection = hive.connect(
            host="127.0.0.1", port=self.thrift_port, username="dbt", auth="NONE"
        )
        try:
            cursor = connection.cursor()
            for sql in statements:
                cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()


def lake_settings(
    upstream: UpstreamProcess, scratch: Path, cluster: SparkCluster
) -> dict[str, str]:
    """What a Spark test sets to run the pipelines and dbt against its own upstream, a lake
    and pipeline state of its own under `scratch`, and the session's cluster; the metastore
    is shared by the session, so its databases are dropped first."""
    for database in ("analytics", "raw", "raw_catalog"):
        cluster.query(f"drop database if exists {database} cascade")
    return {
        "LAKE_BUCKET_URL": str(scratch / "lake"),
        "PIPELINES_DIR": str(scratch / "pipelines"),
        "UPSTREAM_API_KEY": upstream.api_key,
        "SOURCES__SHOP_API__BASE_URL": upstream.url,
        "SOURCES__CATALOG_DB__CREDENTIALS": upstream.database_url,
        # The test upstream sends no rate-limit headers: start the client's pace high.
        "SOURCES__SHOP_API__RATE_LIMIT": "1000",
        "SPARK_THRIFT_PORT": str(cluster.thrift_port),
    }


def scanned_locations(cluster: SparkCluster, table: str, where: str) -> str:
    """The files a count over `table` scans, as Spark's physical plan names them."""
    (plan,) = cluster.query(
        "set spark.sql.maxMetadataStringLength = 10000",  # whole paths in the plan
        f"explain select count(*) from {table} {where}",
    )[0]
    return plan.split("Location: ", 1)[1].split(", PartitionFilters", 1)[0]


def running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except OSError:
        return False
