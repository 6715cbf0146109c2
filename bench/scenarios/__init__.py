"""Benchmark scenarios; importing this package registers them all."""

from bench.scenarios import (  # noqa: F401
    bulk_load,
    ingestion,
    loading,
    peer,
    pruning,
    source_load,
    upstream,
    warehouse,
)
