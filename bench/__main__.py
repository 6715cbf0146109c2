"""`python -m bench [--quick] [--scale N] [--only ID ...] [--peers] [--large]`"""

from __future__ import annotations

import argparse
import json
import sys

import bench.scenarios  # noqa: F401  (registers the scenarios)
from bench.runner import SCENARIOS, BenchConfig, results_path, run, selected, write_reports


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes; checks every scenario runs"
    )
    parser.add_argument("--scale", type=int, help="orders in the upstream (default 1M, quick 50k)")
    parser.add_argument("--repetitions", type=int, help="runs of each side (default 3, quick 1)")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenario ids")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also run the peers that need PyPI (Singer, Airbyte; in .venv-singer, .venv-airbyte)",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help="also run the 10M-order and 100M-row scenarios (an hour or more)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        help="scenarios run at once in quick mode (default 2); full mode runs one at a time",
    )
    args = parser.parse_args()
    config = BenchConfig(
        quick=args.quick,
        scale=args.scale or (50_000 if args.quick else 1_000_000),
        repetitions=args.repetitions or (1 if args.quick else 3),
        peers=args.peers,
        large=args.large,
        jobs=(args.jobs or 2) if args.quick else 1,
    )
    failures = run(config, args.only)
    if results_path(config).exists():
        json_path, report_path = write_reports(config)
        print(f"[bench] wrote {json_path} and {report_path}")
    for failure in failures:
        print(f"[bench] FAILED {failure}", file=sys.stderr)
    if failures:
        return 1
    if config.quick:
        return 0  # quick mode proves every scenario runs, not how fast
    records = json.loads(results_path(config).read_text())["scenarios"]
    ran = set(selected(config, args.only))
    return 0 if all(r["passed"] for r in records if r["id"] in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
