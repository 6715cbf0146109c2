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
