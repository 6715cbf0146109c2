"""`make spark-up` / `make spark-down`: a Spark cluster from the pyspark package, on
127.0.0.1 only, that answers SQL through its Thrift server and stops by its PIDs."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
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
    """The first of `size` consecutive free ports (a worker's port is the first + its n)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + size < 65535 and all(
            socket.socket().connect_ex(("127.0.0.1", p)) != 0 for p in range(first, first + size)
        ):
            return first


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = {**os.environ, "SPARK_STATE_DIR": str(tmp_path_factory.mktemp("spark"))}
    env.update({name: str(free_port_block()) for name in PORTS})
    up = subprocess.run(
        ["make", "spark-up"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        yield env
    finally:
        subprocess.run(["make", "spark-down"], cwd=REPO_ROOT, env=env, capture_output=True)


def pids(env: dict[str, str]) -> list[int]:
    return [int(p.read_text()) for p in (Path(env["SPARK_STATE_DIR"]) / "pids").glob("*.pid")]


def listening(pid: int) -> set[str]:
    """The addresses `pid` listens on (from /proc: its sockets' inodes in the TCP tables)."""
    fds = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                addresses.add(fields[1].split(":")[0])
    return addresses


def loopback(hex_address: str) -> bool:
    """127.0.0.0/8, ::1 or ::ffff:127.x, as /proc/net/tcp{,6} writes them."""
    if len(hex_address) == 8:
        return hex_address.endswith("7F")
    return hex_address == "00000000000000000000000001000000" or (
        hex_address.startswith("0000000000000000FFFF0000") and hex_address.endswith("7F")
    )


def test_the_cluster_answers_sql_on_loopback_only_and_stops_by_pid(
    cluster: dict[str, str],
) -> None:
    connection = hive.connect(
        host="127.0.0.1", port=int(cluster["SPARK_THRIFT_PORT"]), username="dbt", auth="NONE"
    )
    cursor = connection.cursor()
    cursor.execute("select count(*) from range(100000)")
    assert cursor.fetchall() == [(100000,)]
    connection.close()

    running = pids(cluster)
    assert len(running) == 4  # master, two workers, the Thrift server
    addresses = set().union(*(listening(pid) for pid in running))
    assert addresses and all(loopback(a) for a in addresses), addresses

    down = subprocess.run(
        ["make", "spark-down"], cwd=REPO_ROOT, env=cluster, capture_output=True, text=True
    )
    assert down.returncode == 0 and down.stdout.count("stopped (pid") == 4, down.stdout
    for pid in running:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text(), f"pid {pid} still runs"
