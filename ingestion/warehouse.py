"""Where pipelines load: the same target switch and settings as dbt's profiles.yml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:  # dlt is imported where a destination is made: `--help` stays quick
    from dlt.common.destination import Destination

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("duckdb", "postgres", "lake", "spark")
RAW_DATASET = "raw"


def default_target() -> str:
    return os.environ.get("DBT_TARGET", "duckdb")


def dbt_target_path(target: str) -> str:
    """Where dbt keeps a target's artifacts and partial parse (the Makefile's DBT_TARGET_PATH):
    one place per target, so a switch between targets does not throw away the other's parse."""
    return "target" if target == "duckdb" else f"target/{target}"


def dbt_environment(target: str, environment: dict[str, str]) -> dict[str, str]:
    """`environment` for a dbt command on `target`, as the Makefile sets it: its target path,
    and DBT_TARGET for any target but the default. dbt reads DBT_TARGET as if it were
    `--target`, and its partial parse compares that flag: naming the default would make each
    run throw away the parse of a plain `dbt build`, which names none."""
    settings = {name: value for name, value in environment.items() if name != "DBT_TARGET"}
    settings["DBT_TARGET_PATH"] = dbt_target_path(target)
    if target != "duckdb":
        settings["DBT_TARGET"] = target
    return settings


def loading_target(target: str) -> str:
    """The warehouse a target's raw layer lives in: dbt's `lake` target writes its facts as
    Parquet files but reads raw tables from the DuckDB file, so it loads like `duckdb`."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    return "duckdb" if target == "lake" else target


def duckdb_path() -> Path:
    """The DuckDB warehouse file; relative paths are taken from the repository root."""
    path = Path(os.environ.get("DUCKDB_PATH", "warehouse/jaffle.duckdb"))
    return path if path.is_absolute() else REPO_ROOT / path


# The Spark target's raw zone: one folder per table, one partition per load day, Parquet
# files named by load. dlt's layout placeholders are the load's, not the data's: rows land
# under the day they were loaded, their own days inside (staging reads new load days only).
RAW_ZONE_LAYOUT = "{table_name}/load_date={YYYY}-{MM}-{DD}/{load_id}.{file_id}.{ext}"


def lake_bucket_url() -> str:
    """Where the Spark target's raw zone lives: LAKE_BUCKET_URL, any URL dlt's filesystem
    destination takes (s3://, gs://, az://, file://) or a local folder (from the repository
    root; default warehouse/raw-zone)."""
    url = os.environ.get("LAKE_BUCKET_URL", "warehouse/raw-zone")
    if "://" in url:
        return url
    path = Path(url) if Path(url).is_absolute() else REPO_ROOT / url
    return path.as_uri()


def lake_root() -> Path:
    """Where dbt's `lake` target writes Parquet (profiles.yml's external_root), created: DuckDB
    makes a model's directory but not the root it sits in."""
    path = Path(os.environ.get("LAKE_ROOT", "warehouse/lake"))
    path = path if path.is_absolute() else REPO_ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def postgres_url(database: str | None = None, role: str | None = None) -> str:
    """The warehouse's URL (libpq and SQLAlchemy read it alike), or another database's on
    the same server. With `role` (LOADER, TRANSFORMER), that job's login when
    POSTGRES_<role>_USER is set (`make roles`), else POSTGRES_USER's."""
    prefix = (
        "POSTGRES"
        if role is None or f"POSTGRES_{role}_USER" not in os.environ
        else (f"POSTGRES_{role}")
    )
    user = quote(os.environ.get(f"{prefix}_USER", "postgres"), safe="")
    # dlt insists on a password; under trust auth (the local default) any value works.
    password = quote(os.environ.get(f"{prefix}_PASSWORD", "postgres"), safe="")
    host = os.environ.get("POSTGRES_HOST", "127.0.0.1")
    port = os.environ.get("POSTGRES_PORT", "5432")
    database = database or os.environ.get("POSTGRES_DB", "jaffle")
    return f"postgresql://{user}:{password}@{host}:{port}/{database}"


DUCKDB_LOAD_MEMORY = os.environ.get("DUCKDB_LOAD_MEMORY", "512MB")


def destination(target: str) -> Destination:
    from ingestion.duckdb_destination import GuardedDuckDbCredentials, duckdb_warehouse

    if target == "duckdb":
        path = duckdb_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"DUCKDB_PATH: cannot create the directory {path.parent} for the warehouse "
                f"file ({error.strerror})"
            ) from None
        # The path as a field, not as the constructor's argument: dlt parses that as a URL
        # first, which imports SQLAlchemy (0.16 s of a run that never uses it).
        credentials = GuardedDuckDbCredentials()
        credentials.database = str(path)
        # DuckDB runs inside the ingest process: cap what its merges may hold in memory (it
        # spills to disk beyond), or the process grows with the tables it merges into.
        credentials.global_config = {"memory_limit": DUCKDB_LOAD_MEMORY}
        return duckdb_warehouse(credentials=credentials, destination_name="duckdb")
    if target == "spark":
        from ingestion.lake_destination import lake

        # Credentials for a cloud bucket come from the environment or secrets.toml, as dlt
        # reads them (DESTINATION__FILESYSTEM__CREDENTIALS__...).
        return lake(
            bucket_url=lake_bucket_url(), layout=RAW_ZONE_LAYOUT, destination_name="filesystem"
        )
    if target == "postgres":
        from ingestion.postgres_destination import postgres_warehouse

        return postgres_warehouse(
            credentials=postgres_url(role="LOADER"), destination_name="postgres"
        )
    raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")


def loader_file_format(target: str) -> str:
    """Bulk formats, never row inserts: Parquet everywhere. DuckDB reads it natively; dlt
    copies it into PostgreSQL through ADBC (binary COPY, adbc-driver-postgresql), which skips
    the CSV conversion that costs more than the COPY itself (see `make bench`)."""
    loading_target(target)
    return "parquet"


def pipelines_dir() -> Path:
    """Local pipeline working state (dlt also keeps state in the warehouse)."""
    path = Path(os.environ.get("PIPELINES_DIR", ".pipelines"))
    return path if path.is_absolute() else REPO_ROOT / path
