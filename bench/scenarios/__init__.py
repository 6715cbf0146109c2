"""Benchmark scenarios; importing this package registers them all."""

from bench.scenarios import ingestion, loading, upstream, warehouse  # noqa: F401
