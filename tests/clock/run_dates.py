"""`make test-dates`: the date-sensitive tests (marked `clock`) on other days than today.

Each date runs pytest with a shifted wall clock (`shift_clock.c`, preloaded into pytest and
every process it starts: the upstream, dlt, dbt, DuckDB), so "today" is that date for the
whole run while time keeps passing normally. The dates cover a month, quarter and year end,
a Sunday and 29 February, and cross midnight while their tests run. Two dates run at a
time (two cores), each in a scratch copy of the repository (its tracked files, the virtualenv
linked): two dbt processes writing one `target/manifest.json` at once left it corrupt, and
every later date failed to import the Dagster definitions that read it. Exit status: the
number of dates that failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
from tests.readme import copy_repository  # noqa: E402

SHIM_SOURCE = Path(__file__).with_name("shift_clock.c")
# An ordinary weekday is `make test`'s own today. Two dates, one pair (each pair more is ~2
# minutes of CI), both crossing midnight while their tests run: between them a month end, a
# year end and a quarter end, a Sunday into a Monday, and 29 February.
DATES = (
    "2028-02-29T23:57:00",  # a leap day, crossing into March
    "2028-12-31T23:57:00",  # a year end on a Sunday, a leap year's 366th day, into 2029
)
PYTEST_ARGS = ("-m", "clock and not postgres", "-q", "-p", "no:cacheprovider", "-x")


def build_shim(directory: Path) -> Path:
    library = directory / "libshiftclock.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM_SOURCE), "-ldl"],
        check=True,
    )
    return library


def run_date(date: str, library: Path, scratch: Path) -> tuple[str, bool, str]:
    target = datetime.fromisoformat(date).replace(tzinfo=UTC)
    offset = round(target.timestamp() - time.time())
    env = {**os.environ, "LD_PRELOAD": str(library), "SHIFT_CLOCK_SECONDS": str(offset)}
    log = scratch / f"{date[:10]}.log"
    repository = copy_repository(scratch / f"repo-{date[:10]}")
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *PYTEST_ARGS],
            cwd=repository,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    lines = log.read_text().strip().splitlines()
    outcome = lines[-1] if lines else "no output"
    report = f"{date}Z  {outcome.strip('= ')}  ({time.monotonic() - started:.0f} s)"
    if result.returncode != 0:
        report += "\n" + "\n".join(lines[-40:])
    return report, result.returncode == 0, str(log)


def main() -> int:
    dates = sys.argv[1:] or DATES
    with tempfile.TemporaryDirectory(prefix="test-dates-") as scratch:
        library = build_shim(Path(scratch))
        print(f"test-dates: {len(dates)} dates, clock-marked tests, two at a time", flush=True)
        failed = 0
        with ThreadPoolExecutor(max_workers=2) as pool:
            for report, passed, _ in pool.map(lambda d: run_date(d, library, Path(scratch)), dates):
                print(report, flush=True)
                failed += not passed
    print(f"test-dates: {len(dates) - failed} of {len(dates)} dates passed")
    return failed


if __name__ == "__main__":
    sys.exit(main())
