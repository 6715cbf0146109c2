"""`make spark-up`: a Spark cluster from the pyspark package, on 127.0.0.1 only, that
answers SQL through its Thrift server (its stop by PID is checked when the session ends)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.spark_support import SparkCluster


def listening(pid: int) -> set[str]:
    """The addresses `pid` listens on (from /proc: its sockets' inodes in the TCP tables)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
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
    """127.0.0.0/8, ::1 or ::ffff:127.x, as /proc/net/tcp{,6} write them."""
    if len(hex_address) == 8:
        return hex_address.endswith("7F")
    return hex_address == "00000000000000000000000001000000" or (
        hex_address.startswith("0000000000000000FFFF0000") and hex_address.endswith("7F")
    )


def test_the_cluster_answers_sql_and_listens_on_loopback_only(
    spark_cluster: SparkCluster,
) -> None:
    assert spark_cluster.query("select count(*) from range(100000)") == [(100000,)]
    pids = spark_cluster.pids()
    assert len(pids) == 4  # master, two workers, the Thrift server
    addresses = set().union(*(listening(pid) for pid in pids))
    assert addresses and all(loopback(a) for a in addresses), addresses


def test_hive_classes_that_name_llap_load_in_the_thrift_server(
    spark_cluster: SparkCluster,
) -> None:
    """Hive's function registry names an LLAP interface that Spark 4 no longer ships; without
    it a session's close failed now and then, and dbt failed the model on that connection
    (cluster/hive_shim.py). Loading the LLAP table function's class needs the same interface,
    every time."""
    plan = spark_cluster.query(
        "create temporary function llap_splits as "
        "'org.apache.hadoop.hive.ql.udf.generic.GenericUDTFGetSplits'",
        "explain select llap_splits('select 1', 1)",
    )
    assert "GenericUDTFGetSplits" in plan[0][0], plan
