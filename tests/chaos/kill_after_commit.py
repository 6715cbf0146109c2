"""`python -m ingestion` that kills itself (SIGKILL) right after the warehouse committed one
load step, before dlt recorded it on local disk: the moment `make chaos` hits only by luck.

    python tests/chaos/kill_after_commit.py STEP [ingestion arguments...]

STEP is a table, whose load job is the step (the first one that commits); a table and a
job's file format, `order_items.sql`, for that job of the table (`sql`: its merge); or
`_dlt_loads`: the package's completion, recorded in the warehouse before dlt marks the package
complete.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dlt.common.destination.client import RunnableLoadJob
from dlt.common.storages.load_storage import LoadStorage

from ingestion.cli import main

COMPLETION = "_dlt_loads"


def die(step: str) -> None:
    print(f"kill_after_commit: killed after {step} committed", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after(step: str) -> None:
    if step == COMPLETION:
        complete_package = LoadStorage.complete_load_package

        def completed(self: LoadStorage, load_id: str, aborted: bool) -> Any:
            if not aborted:
                die(step)
            return complete_package(self, load_id, aborted)

        LoadStorage.complete_load_package = completed  # type: ignore[method-assign]
        return

    release = RunnableLoadJob._release
    table, _, file_format = step.partition(".")

    def released(self: RunnableLoadJob, next_state: Any) -> None:
        # The job's transaction committed; dlt's record of it comes in `_release`.
        committed = next_state == "completed" and self._load_table["name"] == table
        if committed and file_format in ("", self.job_file_info().file_format):
            die(step)
        release(self, next_state)

    RunnableLoadJob._release = released  # type: ignore[method-assign]


if __name__ == "__main__":
    kill_after(sys.argv[1])
    sys.exit(main(sys.argv[2:], own_process=True))
