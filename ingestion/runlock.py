"""One run at a time per pipeline: a second ingest waits, with a message, or refuses."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class RunInProgress(RuntimeError):
    """Another process holds the pipeline's run lock."""


def wait_for_flock(handle: IO[str], wait_seconds: float, waiting: Callable[[], str]) -> bool:
    """Take an exclusive lock on `handle`'s file, waiting up to `wait_seconds`; the first wait
    prints `waiting()` once. False when the time ran out."""
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            if not announced:
                print(waiting(), file=sys.stderr, flush=True)
                announced = True
            time.sleep(0.2)


@contextmanager
def run_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the run; wait up to `wait_seconds` for it.

    The operating system releases the lock when its holder exits, even on kill -9, so a
    crashed run never blocks the next one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:

        def holder() -> str:
            handle.seek(0)
            return handle.read().strip() or "unknown"

        if not wait_for_flock(
            handle,
            wait_seconds,
            lambda: f"waiting for the run in progress (pid {holder()}) to finish ...",
        ):
            raise RunInProgress(
                f"another run of this pipeline is in progress (pid {holder()}, lock "
                f"{path}); gave up after waiting {wait_seconds:g}s"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
