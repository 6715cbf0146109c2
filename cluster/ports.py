"""Free loopback ports for a cluster of one's own (tests and benchmarks run beside a
developer's `make spark-up`, which holds the default ports)."""

from __future__ import annotations

import socket

# The settings `python -m cluster` reads its ports from; a worker n listens on the first + n - 1.
PORT_SETTINGS = (
    "SPARK_MASTER_PORT",
    "SPARK_MASTER_UI_PORT",
    "SPARK_WORKER_PORT",
    "SPARK_WORKER_UI_PORT",
    "SPARK_THRIFT_PORT",
)


def free_port_block(size: int = 2) -> int:
    """The first of `size` consecutive free ports."""
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


def free_ports(workers: int = 2) -> dict[str, str]:
    """Each port setting set to a free block (room for `workers` workers)."""
    return {name: str(free_port_block(max(workers, 2))) for name in PORT_SETTINGS}
