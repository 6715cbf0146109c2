"""Benchmark scenarios; importing this package registers them all."""

from bench.scenarios import (  # noqa: F401
    bulk_load,
    fair,
    first_load,
    freshness,
    growth,
    ingestion,
    loading,
    pruning,
    scale,
    source_load,
    spark,
    upstream,
    warehouse,
)
