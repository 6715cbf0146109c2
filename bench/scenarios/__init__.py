"""Benchmark scenarios; importing this package registers them all."""

from bench.scenarios import ingestion, upstream, warehouse  # noqa: F401
