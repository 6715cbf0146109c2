"""What a run did, from dlt's trace: rows (new, changed, re-read), requests, time per stage
from the process's start to the end, and what bound it."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    "rows_healed",  # rejects whose rows loaded this run (fetched again by key, or re-read)
    "rejects_pending",  # keys to fetch again on the next run (from the state)
    "rejects_persistent",  # given up on this run: in <table>__rejected for good
)


def process_started_at() -> datetime:
    """When this process started (from /proc), so a run's time includes the interpreter
    starting and the imports; now, where /proc is not there."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        age = 0.0
    return datetime.fromtimestamp(time.time() - max(age, 0.0), UTC)


@dataclass
class RunSummary:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)  # per table, rejected tables included
    # Per table, of the rows above: "new" (created since the last run), "changed" (changed
    # since, not new; "new or changed" where the API gives no creation time) and "re-read"
    # (unchanged, read again for the lag window or a whole re-read).
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    # start-up (process start to the run), extract, normalize, load, other (state sync,
    # locks, commits): they add up to wall_seconds.
    seconds: dict[str, float] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    wall_seconds: float = 0.0
    requests: dict[str, float] = field(default_factory=dict)  # totals of REQUEST_COUNTERS
    by_resource: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate_limit: float | None = None
    verdict: str = ""
    runs: int = 1  # dlt runs: more than one when a backfill went window by window
    leftover_loads: int = 0  # packages a stopped run left, loaded before extracting anew
    # Per table: keys that arrived in differing versions with one `updated_at` (merge_ties).
    ties: dict[str, str] = field(default_factory=dict)

    @property
    def stopped(self) -> dict[str, str]:
        """Resources whose read stopped at a request out of retries: why, and what is read
        again next run (what they read before landed)."""
        return {name: m["stopped"] for name, m in self.by_resource.items() if m.get("stopped")}

    @property
    def backfill_remaining(self) -> bool:
        return any(m.get("backfill_remaining") for m in self.by_resource.values())

    def add(self, later: RunSummary) -> RunSummary:
        """This run and a later one of the same backfill, as one summary."""
        changes: dict[str, dict[str, int]] = {}
        for part in (self.changes, later.changes):
            for table, kinds in part.items():
                changes[table] = dict(Counter(changes.get(table, {})) + Counter(kinds))
        merged = RunSummary(
            self.source,
            self.target,
            dict(Counter(self.rows) + Counter(later.rows)),
            changes,
            dict(Counter(self.seconds) + Counter(later.seconds)),
            self.started_at,
            later.finished_at,
            self.wall_seconds + later.wall_seconds,
            # Counts add up; rejects pending is a state count: the later run's.
            {
                **dict(Counter(self.requests) + Counter(later.requests)),
                "rejects_pending": later.requests.get("rejects_pending", 0),
            },
            later.by_resource,
            later.rate_limit,
            runs=self.runs + later.runs,
            leftover_loads=self.leftover_loads + later.leftover_loads,
            ties={**self.ties, **later.ties},
        )
        merged.verdict = verdict(merged)
        return merged

    def totals(self) -> Counter[str]:
        return sum((Counter(kinds) for kinds in self.changes.values()), Counter())

    def lines(self) -> list[str]:
        totals = self.totals()
        runs = f" in {self.runs} windows" if self.runs > 1 else ""
        news = [f"{totals[k]} {k}" for k in ("new", "changed", "new or changed") if totals[k]]
        head = ", ".join(news) if news else "nothing new or changed"
        reread = f"{totals['re-read']} unchanged rows re-read" if totals["re-read"] else ""
        head += f" ({reread})" if reread and not news else (f", {reread}" if reread else "")
        lines = [f"{self.source} -> {self.target}: {head}{runs}"]
        if self.leftover_loads:
            plural = "s" if self.leftover_loads > 1 else ""
            lines.append(
                f"  first finished {self.leftover_loads} load package{plural} a stopped run "
                "left behind"
            )
        per_table = [
            f"{table} " + " + ".join(f"{n} {kind}" for kind, n in kinds.items() if n)
            for table, kinds in self.changes.items()
            if any(kinds.values())
        ]
        if per_table:
            lines.append(f"  rows: {', '.join(per_table)}")
        stages = ", ".join(f"{step} {secs:.1f}s" for step, secs in self.seconds.items())
        lines.append(f"  time: {self.wall_seconds:.1f}s from the process start ({stages})")
        if self.requests.get("requests"):
            r = {name: int(value) for name, value in self.requests.items()}
            lines.append(
                f"  http: {r.get('requests', 0)} requests, {r.get('pages', 0)} pages, "
                f"{r.get('rate_limited_429', 0)} 429s, {r.get('not_modified_304', 0)} 304s, "
                f"{r.get('retries', 0)} retries, {r.get('rejected_rows', 0)} rejected rows, "
                f"{r.get('bytes', 0) / 1e6:.1f} MB"
            )
        rejected = int(self.requests.get("rejected_rows", 0))
        pending = int(self.requests.get("rejects_pending", 0))
        persistent = int(self.requests.get("rejects_persistent", 0))
        healed = int(self.requests.get("rows_healed", 0))
        if healed:
            lines.append(f"  rejects healed: {healed} rows rejected before have loaded")
        if rejected or pending or persistent:
            lines.append(
                f"  WARNING rejected rows: {rejected} this run, kept in raw.<table>__rejected; "
                f"{pending} to fetch again next run, {persistent} given up for good "
                "(analytics.audit_rejected_records lists them)"
            )
        if self.verdict:
            lines.append(f"  bound: {self.verdict}")
        for table, keys in self.ties.items():
            lines.append(
                f"  equal updated_at: {table} had {keys} in differing versions with one "
                "updated_at; kept the version greatest column by column (README: Equal timestamps)"
            )
        for resource, why in self.stopped.items():
            lines.append(f"  STOPPED {resource}: {why}")
        return lines

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def summarize(
    pipeline: dlt.Pipeline, source_name: str, target: str, started: datetime | None = None
) -> RunSummary:
    """The last run of `pipeline`, timed from `started` (the process start, for a command;
    by default the run's own start) to now."""
    from ingestion.merge_ties import find_ties

    trace = pipeline.last_trace
    started = started or trace.started_at
    summary = RunSummary(source=source_name, target=target)
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
    # Resources extract in parallel, in no fixed order: tables are listed by name.
    summary.rows = dict(sorted(summary.rows.items()))
    summary.changes = {table: change_kinds(summary, table) for table in summary.rows}
    totals["rejects_pending"] = rejects_pending(pipeline, source_name)
    summary.requests = dict(totals)
    summary.ties = find_ties(pipeline, list(summary.rows))
    finished = datetime.now(UTC)
    summary.started_at, summary.finished_at = started.isoformat(), finished.isoformat()
    summary.wall_seconds = (finished - started).total_seconds()
    summary.seconds["start-up"] = max((trace.started_at - started).total_seconds(), 0.0)
    for step in trace.steps:
        if step.step in ("extract", "normalize", "load") and step.finished_at is not None:
            summary.seconds[step.step] = (step.finished_at - step.started_at).total_seconds()
    summary.seconds["other"] = max(summary.wall_seconds - sum(summary.seconds.values()), 0.0)
    summary.verdict = verdict(summary)
    return summary


def rejects_pending(pipeline: dlt.Pipeline, source_name: str) -> int:
    """Rejected rows to fetch again on the next run, from the state this run committed."""
    resources = pipeline.state.get("sources", {}).get(source_name, {}).get("resources", {})
    return sum(len(state.get("rejects_retrying", {})) for state in resources.values())


def change_kinds(summary: RunSummary, table: str) -> dict[str, int]:
    """A table's rows as new / changed / re-read, from its resource's counters (rows a
    source does not classify count as new or changed; rejected rows are not changes)."""
    rows = summary.rows[table]
    if table.endswith("__rejected"):
        return {}
    custom = summary.by_resource.get(table, {})
    if "rows_changed" not in custom:
        return {"new or changed": rows}
    changed, reread = custom["rows_changed"], custom["rows_reread"]
    refetched = summary.by_resource.get(f"{table}__refetch", {}).get("rows_refetched") or 0
    healed = {"re-fetched (rejected before)": refetched} if refetched else {}
    if custom.get("rows_created") is None:
        return {"new or changed": changed, "re-read": reread, **healed}
    created = custom["rows_created"]
    return {"new": created, "changed": changed - created, "re-read": reread, **healed}


def verdict(summary: RunSummary) -> str:
    """Which stage bound the run, over its whole time (start-up included), with the evidence."""
    total = summary.wall_seconds or sum(summary.seconds.values())
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
    detail = f"{100 * seconds / total:.0f}% of the {total:.1f}s in {stage}"
    if stage == "extract" and requests:
        detail += f" at {requests / extract:.1f} req/s (latency-bound, below the rate limit)"
    return f"{stage} bound: {detail}"
