"""Dagster definitions: the dlt pipelines and the dbt project as assets, on a schedule."""
