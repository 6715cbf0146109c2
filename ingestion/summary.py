"""What a run did, from dlt's trace: rows, requests, time per stage, and what bound it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dlt

REQUEST_COUNTERS = (
    "requests",
    "pages",
    "rate_limited_429",
    "not_modified_304",
    "retries",
    "bad_bodies",
    "rejected_rows",
    "bytes",
)


@dataclass
class RunSummary:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)  # per table, rejected tables included
    seconds: dict[str, float] = field(default_factory=dict)  # extract, normalize, load
    requests: dict[str, float] = field(default_factory=dict)  # totals of REQUEST_COUNTERS
    by_resource: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate_limit: float | None = None
    verdict: str = ""
    runs: int = 1  # dlt runs: more than one when a backfill went window by window

    @property
    def backfill_remaining(self) -> bool:
        return any(m.get("backfill_remaining") for m in self.by_resource.values())

    def add(self, later: RunSummary) -> RunSummary:
        """This run and a later one of the same backfill, as one summary."""
        rows = Counter(self.rows) + Counter(later.rows)
        seconds = Counter(self.seconds) + Counter(later.seconds)
        requests = Counter(self.requests) + Counter(later.requests)
        merged = RunSummary(
            self.source,
            self.target,
            dict(rows),
            dict(seconds),
            dict(requests),
            later.by_resource,
            later.rate_limit,
            runs=self.runs + later.runs,
        )
        merged.verdict = verdict(merged)
        return merged

    def lines(self) -> list[str]:
        stages = ", ".join(f"{step} {secs:.1f}s" for step, secs in self.seconds.items())
        rows = ", ".join(f"{table} {count}" for table, count in self.rows.items()) or "none"
        runs = f" in {self.runs} windows" if self.runs > 1 else ""
        lines = [f"{self.source} -> {self.target}: rows {rows}{runs}", f"  time: {stages}"]
        if self.requests.get("requests"):
            r = {name: int(value) for name, value in self.requests.items()}
            lines.append(
                f"  http: {r.get('requests', 0)} requests, {r.get('pages', 0)} pages, "
                f"{r.get('rate_limited_429', 0)} 429s, {r.get('not_modified_304', 0)} 304s, "
                f"{r.get('retries', 0)} retries, {r.get('rejected_rows', 0)} rejected rows, "
                f"{r.get('bytes', 0) / 1e6:.1f} MB"
            )
        if self.verdict:
            lines.append(f"  bound: {self.verdict}")
        return lines

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def summarize(pipeline: dlt.Pipeline, source_name: str, target: str) -> RunSummary:
    trace = pipeline.last_trace
    summary = RunSummary(source=source_name, target=target)
    for step in trace.steps:
        if step.step in ("extract", "normalize", "load") and step.finished_at is not None:
            summary.seconds[step.step] = (step.finished_at - step.started_at).total_seconds()
    extract_info = trace.last_extract_info
    totals: Counter[str] = Counter()
    if extract_info is not None:
        # Rows as extracted (after incremental dedup). Normalize's counts are not used:
        # dlt 1.31's CSV writer counts cells instead of rows for object items.
        for metrics in extract_info.metrics.values():
            for step_metrics in metrics:
                for table, table_metrics in step_metrics["table_metrics"].items():
                    if not table.startswith("_dlt"):
                        summary.rows[table] = summary.rows.get(table, 0) + table_metrics.items_count
                for resource, resource_metrics in step_metrics["resource_metrics"].items():
                    custom = dict(resource_metrics.custom_metrics or {})
                    if custom:
                        summary.by_resource[resource] = custom
                        summary.rate_limit = custom.get("rate_limit", summary.rate_limit)
                        totals.update({k: custom.get(k, 0) for k in REQUEST_COUNTERS})
    summary.requests = dict(totals)
    summary.verdict = verdict(summary)
    return summary


def verdict(summary: RunSummary) -> str:
    """Which stage bound the run, with the evidence."""
    total = sum(summary.seconds.values())
    if not total:
        return ""
    extract = summary.seconds.get("extract", 0.0)
    requests = summary.requests.get("requests", 0)
    if summary.rate_limit and extract > 0 and requests:
        achieved = requests / extract
        if achieved >= 0.8 * summary.rate_limit:
            bound = f"rate-limit bound: {achieved:.1f} req/s, limit {summary.rate_limit:g}/s"
            # A short run can beat the sustained rate while the token bucket's burst lasts.
            return bound + (" (burst included)" if achieved > summary.rate_limit else "")
    stage, seconds = max(summary.seconds.items(), key=lambda item: item[1])
    detail = f"{100 * seconds / total:.0f}% of wall time in {stage}"
    if stage == "extract" and requests:
        detail += f" at {requests / extract:.1f} req/s (latency-bound, below the rate limit)"
    return f"{stage} bound: {detail}"
