"""Scenario registry, side-by-side measurement, and the JSON and Markdown results."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.charts import write_charts

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    scale: int  # orders in the upstream's history
    repetitions: int
    peers: bool = False  # run the peer comparisons (they install other tools)
    large: bool = False  # run the 10M-order and 100M-row scenarios (quick mode runs them small)
    # Worker processes running scenarios at once: quick mode only, whose numbers are not
    # claims; a measurement never shares the machine with another scenario.
    jobs: int = 1


@dataclass
class Result:
    """One scenario's record: what was compared, both medians, the ratio and the goal."""

    id: str
    title: str
    compared: str
    baseline: str
    optimized: str
    baseline_median: float
    optimized_median: float
    unit: str
    ratio: float
    goal: str
    passed: bool
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: str = ""
    ran_at: str = ""  # when this record was measured (a partial run keeps older records)
    # A scenario measured along a parameter: {"x": name, "y": [names], "points": [{...}],
    # "chosen": the default's x}; charted as a curve instead of two bars.
    curve: dict[str, Any] = field(default_factory=dict)


def compare(
    scenario_id: str,
    title: str,
    compared: str,
    labels: tuple[str, str],
    samples: tuple[list[float], list[float]],
    unit: str,
    goal: str,
    lower_is_better: bool,
    passed: Callable[[float], bool],
    notes: str = "",
    curve: dict[str, Any] | None = None,
) -> Result:
    """A record from both sides' samples: medians, and the ratio the optimization achieves
    (`passed` judges that ratio)."""
    base, opt = samples
    ratio = median(base) / median(opt) if lower_is_better else median(opt) / median(base)
    return Result(
        id=scenario_id,
        title=title,
        compared=compared,
        baseline=labels[0],
        optimized=labels[1],
        baseline_median=median(base),
        optimized_median=median(opt),
        unit=unit,
        ratio=ratio,
        goal=goal,
        passed=passed(ratio),
        samples={"baseline": base, "optimized": opt},
        notes=notes,
        curve=curve or {},
    )


Scenario = Callable[[BenchConfig], Result]
SCENARIOS: dict[str, Scenario] = {}
# Opt-in scenarios and the flags that run them, all of them needed: "peers" (`--peers`) and
# "large" (`--large`; quick mode runs these too, at small sizes). `--only` runs whatever it
# names.
OPT_IN: dict[str, tuple[str, ...]] = {}
# Scenarios of one group run in one worker process (they share cached setups, e.g. a loaded
# warehouse); a group is the scenario's module unless it says otherwise.
GROUPS: dict[str, str] = {}
# Groups that take longest in quick mode: started first, so that they run beside the others
# rather than after them.
SLOW_GROUPS: set[str] = set()


def scenario(
    scenario_id: str,
    opt_in: str | tuple[str, ...] = (),
    group: str | None = None,
    slow: bool = False,
) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS[scenario_id] = function
        GROUPS[scenario_id] = group or function.__module__
        if slow:
            SLOW_GROUPS.add(GROUPS[scenario_id])
        if opt_in:
            OPT_IN[scenario_id] = (opt_in,) if isinstance(opt_in, str) else opt_in
        return function

    return register


def alternate(
    repetitions: int, baseline: Callable[[], float], optimized: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Run baseline and optimized in turn, `repetitions` times each, so noise hits both."""
    base, opt = [], []
    for _ in range(repetitions):
        base.append(baseline())
        opt.append(optimized())
    return base, opt


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def results_path(config: BenchConfig) -> Path:
    return RESULTS_DIR / f"{'quick' if config.quick else 'latest'}.json"


def save_record(config: BenchConfig, result: Result) -> None:
    """Add one scenario's record to the results file as soon as it is measured, so a run
    that fails later keeps it. Scenarios of other workers write the same file: one at a time."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with (RESULTS_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        json_path = results_path(config)
        payload = json.loads(json_path.read_text()) if json_path.exists() else {}
        records = {r["id"]: r for r in payload.get("scenarios", [])}
        records[result.id] = asdict(result)
        payload.update(
            ran_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            mode="quick" if config.quick else "full",
            scale_orders=config.scale,
            machine=machine(),
            # In the registry's order; records of scenarios that no longer exist are dropped.
            scenarios=[records[i] for i in SCENARIOS if i in records],
        )
        json_path.write_text(json.dumps(payload, indent=2) + "\n")


def write_reports(config: BenchConfig) -> tuple[Path, Path]:
    """The markdown report and charts of every record in the results file (this run's, and
    the last of each scenario it left out, each with the time it was measured); a full run
    also refreshes the README's table."""
    json_path = results_path(config)
    payload = json.loads(json_path.read_text())
    name = json_path.stem
    charts = write_charts(payload, RESULTS_DIR / f"{name}-charts")
    report_path = RESULTS_DIR / f"{name}.md"
    report_path.write_text(markdown_report(payload, charts) + "\n")
    if not config.quick:
        overview = [path for path in charts if path.stem == "overview"]
        update_readme(markdown_report(payload, overview, image_prefix="bench/results/"))
    return json_path, report_path


README = RESULTS_DIR.parents[1] / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
LEADING = (
    "peer-dlt-tuned",
    "wire-floor",
    "peer-airbyte",
    "peer-singer",
    "peer-dlt-tuned-1m",
    "wire-floor-1m",
    "peer-airbyte-1m",
    "peer-singer-1m",
    "whole-pipeline",
)


def update_readme(report: str) -> None:
    """Put the latest full-mode table between the README's bench markers."""
    text = README.read_text()
    if README_START not in text or README_END not in text:
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    README.write_text(f"{head}{README_START}\n{report}\n{README_END}{tail}")


def markdown_report(
    payload: dict[str, Any], charts: list[Path] | None = None, image_prefix: str = ""
) -> str:
    m = payload["machine"]
    stamps = sorted({r.get("ran_at") or payload["ran_at"] for r in payload["scenarios"]})
    when = stamps[0] if len(stamps) == 1 else f"between {stamps[0]} and {stamps[-1]}"
    lines = [
        f"Measured {when} ({payload['mode']} mode, {payload['scale_orders']:,} orders) "
        f"on {m['cpus']} CPUs, {m['processor']}, Python {m['python']}.",
        "",
        "| scenario | baseline | optimized | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    # The comparisons with other tools first, the strongest peer leading.
    records = sorted(
        payload["scenarios"],
        key=lambda r: LEADING.index(r["id"]) if r["id"] in LEADING else len(LEADING),
    )
    for r in records:
        lines.append(
            f"| {r['title']} | {r['baseline']}: {r['baseline_median']:,.3g} {r['unit']} "
            f"| {r['optimized']}: {r['optimized_median']:,.3g} {r['unit']} "
            f"| {r['ratio']:.2f}x | {r['goal']} | {'yes' if r['passed'] else 'no'} |"
        )
    notes = [f"- {r['title']}: {r['notes']}" for r in payload["scenarios"] if r["notes"]]
    images = [
        f"![{path.stem}]({image_prefix}{path.parent.name}/{path.name})" for path in charts or []
    ]
    return "\n".join(
        lines + (["", *notes] if notes else []) + (["", "Charts:", "", *images] if images else [])
    )


def selected(config: BenchConfig, only: list[str] | None = None) -> list[str]:
    def wanted(scenario_id: str) -> bool:
        if only:
            return scenario_id in only
        flags = {"peers": config.peers, "large": config.large or config.quick}
        return all(flags[flag] for flag in OPT_IN.get(scenario_id, ()))

    return [scenario_id for scenario_id in SCENARIOS if wanted(scenario_id)]


def run(config: BenchConfig, only: list[str] | None = None) -> list[str]:
    """Run the scenarios, saving each record as it is measured; the ones that failed, with
    why, in one line each (the others still run)."""
    ids = selected(config, only)
    if config.jobs <= 1:
        return run_scenarios(config, ids)
    groups: dict[str, list[str]] = {}
    for scenario_id in sorted(ids, key=lambda i: GROUPS[i] not in SLOW_GROUPS):
        groups.setdefault(GROUPS[scenario_id], []).append(scenario_id)
    # Fresh interpreters: scenarios set environment variables and cache setups per process.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.jobs, mp_context=context) as pool:
        batches = pool.map(run_scenarios, [config] * len(groups), groups.values())
        return [failure for batch in batches for failure in batch]


def run_scenarios(config: BenchConfig, ids: list[str]) -> list[str]:
    import bench.scenarios  # noqa: F401  (registers the scenarios in a spawned worker)

    failures = []
    for scenario_id in ids:
        function = SCENARIOS[scenario_id]
        started = time.perf_counter()
        print(f"[bench] {scenario_id} ...", flush=True)
        try:
            result = function(config)
        except Exception as error:  # one broken scenario must not cost the others' results
            failure = f"{scenario_id}: {type(error).__name__}: {' '.join(str(error).split())}"
            print(f"[bench] FAILED {failure[:500]}", flush=True)
            failures.append(failure[:500])
            continue
        result.ran_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        save_record(config, result)
        print(
            f"[bench] {scenario_id}: {result.baseline} {result.baseline_median:,.3g} vs "
            f"{result.optimized} {result.optimized_median:,.3g} {result.unit} "
            f"({result.ratio:.2f}x; goal {result.goal}: {'met' if result.passed else 'NOT met'}) "
            f"in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
    return failures
