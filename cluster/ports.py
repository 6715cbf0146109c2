"""Free loopback ports for a cluster of one's own (tests and benchmarks run beside a
developer's `make spark-up`, which holds the default ports)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# The settings `python -m cluster` reads its ports from; a worker n listens on the first + n - 1.
PORT_SETTINGS = (
    "SPARK_MASTER_PORT",
    "SPARK_MASTER_UI_PORT",
    "SPARK_WORKER_PORT",
    "SPARK_WORKER_UI_PORT",
    "SPARK_THRIFT_PORT",
)
LOWEST = 10_000


def ephemeral_range() -> range:
    """The ports the kernel hands out as the local end of outgoing connections: a port
    chosen from these can be free when probed and taken by the next connection made (one
    worker's connection to the master took the port the next worker was to listen on)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(size: int = 2, taken: set[int] | None = None) -> int:
    """The first of `size` consecutive ports that can be bound now, below the ephemeral
    range and not in `taken`."""
    ephemeral, taken = ephemeral_range(), taken or set()
    candidates = list(range(LOWEST, ephemeral.start - size))
    random.shuffle(candidates)  # two callers at once rarely pick the same block
    for first in candidates:
        block = range(first, first + size)
        if not taken.intersection(block) and all(bindable(port) for port in block):
            return first
    raise RuntimeError(f"no {size} consecutive free ports between {LOWEST} and {ephemeral.start}")


def free_ports(workers: int = 2) -> dict[str, str]:
    """Each port setting set to a free block of its own (room for `workers` workers)."""
    size = max(workers, 2)
    taken: set[int] = set()
    ports = {}
    for name in PORT_SETTINGS:
        first = free_port_block(size, taken)
        taken.update(range(first, first + size))
        ports[name] = str(first)
    return ports
