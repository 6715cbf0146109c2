"""This process's hold on a DuckDB warehouse file, shared by dlt's connection pools
(`ingestion.duckdb_destination`) and the publish: one lock per file and process, and an
advisory lock on `<file>.lock` while the process has the file open, so that a second process
waits for it, with a message, instead of failing on DuckDB's own lock. Free of dlt, so that
the publish starts without importing it."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from ingestion.runlock import wait_for_flock


def file_wait_seconds() -> float:
    return float(os.environ.get("DUCKDB_FILE_WAIT_SECONDS", "600"))


class WarehouseFileBusy(RuntimeError):
    """Another process kept the DuckDB warehouse file open for longer than we wait."""


class OpenFile:
    """This process's hold on one DuckDB file: how many pools have it open, and the advisory
    lock that keeps other processes out meanwhile."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.open_pools = 0
        self._handle: IO[str] | None = None

    def opened(self) -> None:
        if self.open_pools == 0:
            self._handle = _lock_exclusively(f"{self.path}.lock", file_wait_seconds())
        self.open_pools += 1

    def closed(self) -> None:
        self.open_pools -= 1
        if self.open_pools == 0 and self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


_open_files: dict[str, OpenFile] = {}
_registry_lock = threading.Lock()


def open_file(path: str) -> OpenFile:
    key = os.path.realpath(path)
    with _registry_lock:
        return _open_files.setdefault(key, OpenFile(key))


def _lock_exclusively(path: str, wait_seconds: float) -> IO[str]:
    handle = open(path, "a+")  # noqa: SIM115 - held until the file is closed again
    waiting = "waiting for another process to finish with the DuckDB warehouse ..."
    if not wait_for_flock(handle, wait_seconds, lambda: waiting):
        handle.close()
        raise WarehouseFileBusy(
            f"another process kept the DuckDB warehouse {path.removesuffix('.lock')} open for "
            f"more than {wait_seconds:g}s (set DUCKDB_FILE_WAIT_SECONDS to wait longer)"
        )
    return handle


@contextmanager
def holding_warehouse_file(path: str) -> Iterator[None]:
    """While the DuckDB file at `path` is used outside dlt (publishing a snapshot): this
    process's hold on it, so the pipelines' processes wait rather than fail, and vice versa."""
    file = open_file(path)
    with file.lock:
        file.opened()
    try:
        yield
    finally:
        with file.lock:
            file.closed()
