"""Benchmark scenarios; importing this package registers them all."""

from bench.scenarios import ingestion, loading, pruning, upstream, warehouse  # noqa: F401
