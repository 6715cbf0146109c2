"""Run one source into the warehouse and report what happened."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import dlt
from dlt.common.exceptions import TerminalException
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import SOURCES, warehouse
from ingestion.runlock import run_lock
from ingestion.summary import RunSummary, summarize

# Each source lands in a dataset of its own: both have products and stores.
DATASETS = {"shop_api": warehouse.RAW_DATASET, "catalog_db": "raw_catalog"}
API_KEY_ENV = "UPSTREAM_API_KEY"
# Completed load packages kept in the pipeline's working directory (for `dlt pipeline ...
# show` and post-mortems); older ones are deleted after each run, so local state stays bounded.
KEEP_COMPLETED_PACKAGES = 20


def make_pipeline(source_name: str, target: str) -> dlt.Pipeline:
    target = warehouse.loading_target(target)
    return dlt.pipeline(
        pipeline_name=f"{source_name}_{target}",
        destination=warehouse.destination(target),
        dataset_name=DATASETS[source_name],
        pipelines_dir=str(warehouse.pipelines_dir()),
        # Progress bars when a person watches; quiet in logs and tests.
        progress="tqdm" if sys.stderr.isatty() else None,
    )


def make_source(
    source_name: str,
    backfill_days: float = 0.0,
    start: str | None = None,
    end: str | None = None,
) -> dlt.sources.DltSource:
    window = {name: value for name, value in (("start", start), ("end", end)) if value}
    # Each source's module is imported when it runs: the catalog's pulls in SQLAlchemy.
    if source_name == "catalog_db":
        from ingestion.catalog_db import catalog_db

        return catalog_db(**window)
    if source_name != "shop_api":
        raise ValueError(f"unknown source {source_name!r}; expected one of {', '.join(SOURCES)}")
    options: dict[str, object] = {"backfill_days": backfill_days} if backfill_days else {}
    options.update(window)
    api_key = os.environ.get(API_KEY_ENV)
    if api_key:
        options["api_key"] = api_key
    from ingestion.shop_api import shop_api

    return shop_api(**options)


def for_target(source: dlt.sources.DltSource, target: str) -> dlt.sources.DltSource:
    """The source as `target` loads it. Spark's raw zone is files, which cannot merge: every
    table appends (each version of a row, each delete as its tombstone), and Spark's staging
    keeps the newest version of each key, as a merge would have."""
    if warehouse.loading_target(target) == "spark":
        for resource in source.resources.values():
            columns = {
                name: {**hints, "dedup_sort": None}
                for name, hints in (resource.columns or {}).items()
                if isinstance(hints, dict) and "dedup_sort" in hints
            }
            resource.apply_hints(write_disposition="append", columns=columns or None)
    return source


def run(
    source_name: str,
    target: str,
    full_refresh: bool = False,
    wait_seconds: float = 600.0,
    backfill_days: float = 0.0,
    start: str | None = None,
    end: str | None = None,
    process_started: datetime | None = None,
) -> RunSummary:
    """Extract `source_name` incrementally and load it into `target`'s raw dataset.

    With `backfill_days`, a long history is read in windows of that many days, one dlt run
    (extract, normalize, load, state committed) per window, until the source is caught up:
    a run killed midway resumes from the last committed window. With `start`/`end`, only
    rows changed in that window are (re)loaded and the incremental state stays as it was.
    Runs of the same pipeline are serialized by a lock beside its local state. With
    `process_started` (a command's process start), the summary's time counts from there.
    """
    if (start or end) and (full_refresh or backfill_days):
        raise ValueError("a --start/--end window goes with neither --full-refresh nor a backfill")
    pipeline = make_pipeline(source_name, target)
    lock = warehouse.pipelines_dir() / f"{pipeline.pipeline_name}.lock"
    total: RunSummary | None = None
    with run_lock(lock, wait_seconds):
        finish_interrupted_normalize(pipeline)
        if pipeline.has_pending_data and full_refresh:
            pipeline.abort_packages()  # a full refresh reads everything again
        if pipeline.has_pending_data:
            # A run stopped after extracting left its package (and the state that counts its
            # rows as read): load it first, or dlt would load it instead of extracting anew.
            leftover = len(pipeline.list_extracted_load_packages()) + len(
                pipeline.list_normalized_load_packages()
            )
            # (None when dlt's sync with the warehouse found no dataset there and discarded
            # the local state with its package: nothing was loaded, so everything is read.)
            if _run_step(pipeline, None, target) is not None:
                total = summarize(pipeline, source_name, target, process_started)
                total.runs, total.leftover_loads = 0, leftover
        while True:
            _run_step(
                pipeline,
                for_target(make_source(source_name, backfill_days, start, end), target),
                target,
                refresh="drop_sources" if full_refresh and total is None else None,
            )
            started = process_started if total is None else None
            summary = summarize(pipeline, source_name, target, started)
            total = summary if total is None else total.add(summary)
            if summary.stopped or not summary.backfill_remaining:
                break
            print(
                f"  window {total.runs} committed ({sum(summary.rows.values())} rows); "
                "continuing the backfill",
                flush=True,
            )
        prune_completed_packages(pipeline)
    total.write(Path(pipeline.working_dir) / "last_run.json")
    return total


def prune_completed_packages(pipeline: dlt.Pipeline, keep: int | None = None) -> None:
    """Delete all but the newest `keep` completed load packages (load ids sort by time)."""
    keep = KEEP_COMPLETED_PACKAGES if keep is None else keep
    completed = sorted(pipeline.list_completed_load_packages())
    storage = pipeline._get_load_storage()  # dlt exposes listing, not deleting, publicly
    for load_id in completed[: max(len(completed) - keep, 0)]:
        storage.delete_loaded_package(load_id)


def finish_interrupted_normalize(pipeline: dlt.Pipeline) -> None:
    """Complete a normalize commit a kill cut in two. dlt commits a normalized package by
    renaming it into place, then deletes the extracted package it came from; killed between
    the two, the package is both normalized and extracted, and every later run would
    normalize it again and fail to rename onto the committed one ("Directory not empty"),
    never loading it. The normalized package is whole (a rename is atomic): the extracted
    copy is what dlt was about to delete."""
    committed = set(pipeline.list_normalized_load_packages())
    interrupted = committed.intersection(pipeline.list_extracted_load_packages())
    if not interrupted:
        return
    extracted = pipeline._get_normalize_storage().extracted_packages  # no public delete
    in_progress = pipeline._get_load_storage().new_packages
    for load_id in sorted(interrupted):
        extracted.delete_package(load_id)
        in_progress.delete_package(load_id, not_exists_ok=True)


def _run_step(
    pipeline: dlt.Pipeline,
    data: dlt.sources.DltSource | None,
    target: str,
    refresh: str | None = None,
) -> LoadInfo | None:
    """One dlt run (extract, normalize, load; with no data, what a stopped run left)."""
    try:
        info: LoadInfo | None = pipeline.run(
            data, loader_file_format=warehouse.loader_file_format(target), refresh=refresh
        )
    except PipelineStepFailed as failure:
        if failure.step == "load" and _is_terminal(failure):
            _roll_back(pipeline)
        raise
    if info is not None:
        info.raise_on_failed_jobs()
    return info


def _is_terminal(failure: BaseException) -> bool:
    """A load the warehouse refused for good (dlt retries transient errors on its own)."""
    current: BaseException | None = failure
    while current is not None:
        if isinstance(current, TerminalException):
            return True
        current = current.__cause__ or current.__context__
    return False


def _roll_back(pipeline: dlt.Pipeline) -> None:
    """After a terminal load failure dlt keeps the package, to fail again on every run, and a
    local state whose cursors already count its rows as loaded. Drop the package and take the
    state back from the warehouse, where it was committed with the last load that landed: the
    next run extracts those rows again."""
    pipeline.abort_packages()
    pipeline.sync_destination()
