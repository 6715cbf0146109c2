"""One Spark cluster for the test session (`make spark-up`, `make spark-down`), on free
loopback ports, its state in a temporary folder; stopped by its PIDs at the end."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from pyhive import hive

from tests.support import REPO_ROOT

PORTS = (
    "SPARK_MASTER_PORT",
    "SPARK_MASTER_UI_PORT",
    "SPARK_WORKER_PORT",
    "SPARK_WORKER_UI_PORT",
    "SPARK_THRIFT_PORT",
)


def free_port_block(size: int = 2) -> int:
    """The first of `size` consecutive free ports (worker n listens on the first + n - 1)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + size >= 65535:
            continue
        taken = False
        for port in range(first, first + size):
            with socket.socket() as other:
                taken = taken or other.connect_ex(("127.0.0.1", port)) == 0
        if not taken:
            return first


class SparkCluster:
    def __init__(self, state_dir: Path) -> None:
        self.env = {**os.environ, "SPARK_STATE_DIR": str(state_dir)}
        self.env.update({name: str(free_port_block()) for name in PORTS})

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


def running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except OSError:
        return False
