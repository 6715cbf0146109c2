"""Benchmark scenarios; importing this package registers them all."""

from bench.scenarios import upstream  # noqa: F401
