"""Run one source into the warehouse and report what happened."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dlt
from dlt.common.pipeline import LoadInfo

from ingestion import warehouse
from ingestion.shop_api import shop_api

SOURCES = ("shop_api",)
API_KEY_ENV = "UPSTREAM_API_KEY"


@dataclass
class RunSummary:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        stages = ", ".join(f"{step} {secs:.1f}s" for step, secs in self.seconds.items())
        rows = ", ".join(f"{table} {count}" for table, count in self.rows.items()) or "none"
        return [f"{self.source} -> {self.target}: rows {rows}", f"  time: {stages}"]


def make_pipeline(source_name: str, target: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"{source_name}_{target}",
        destination=warehouse.destination(target),
        dataset_name=warehouse.RAW_DATASET,
        pipelines_dir=str(warehouse.pipelines_dir()),
        progress="log" if os.environ.get("INGEST_PROGRESS") else None,
    )


def make_source(source_name: str) -> dlt.sources.DltSource:
    if source_name != "shop_api":
        raise ValueError(f"unknown source {source_name!r}; expected one of {', '.join(SOURCES)}")
    api_key = os.environ.get(API_KEY_ENV)
    return shop_api(api_key=api_key) if api_key else shop_api()


def run(source_name: str, target: str, full_refresh: bool = False) -> RunSummary:
    """Extract `source_name` incrementally and load it into `target`'s raw dataset."""
    pipeline = make_pipeline(source_name, target)
    info: LoadInfo = pipeline.run(
        make_source(source_name),
        loader_file_format=warehouse.loader_file_format(target),
        refresh="drop_sources" if full_refresh else None,
    )
    info.raise_on_failed_jobs()
    return summarize(pipeline, source_name, target)


def summarize(pipeline: dlt.Pipeline, source_name: str, target: str) -> RunSummary:
    trace = pipeline.last_trace
    summary = RunSummary(source=source_name, target=target)
    # Rows per table as extracted (after incremental dedup). Normalize's counts are not used:
    # dlt 1.31's CSV writer counts cells instead of rows for object items.
    extract_info = trace.last_extract_info
    if extract_info is not None:
        for metrics in extract_info.metrics.values():
            for step_metrics in metrics:
                for table, table_metrics in step_metrics["table_metrics"].items():
                    if not table.startswith("_dlt"):
                        rows = summary.rows.get(table, 0) + table_metrics.items_count
                        summary.rows[table] = rows
    for step in trace.steps:
        if step.step in ("extract", "normalize", "load") and step.finished_at is not None:
            summary.seconds[step.step] = (step.finished_at - step.started_at).total_seconds()
    return summary
