"""Lint-time stand-in for dbt's `target`: models lint as they render on DuckDB."""

name = "duckdb"
type = "duckdb"
schema = "analytics"
