"""The dbt project as dagster-dbt sees it, with its manifest kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject
from filelock import FileLock

from ingestion.warehouse import dbt_target_path, default_target

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
# What the manifest is built from: when any of it is newer, the manifest is stale.
DBT_SOURCES = ("models", "macros", "tests/dbt", "dbt_project.yml", "profiles.yml")

# No fixed target: profiles.yml picks it from $DBT_TARGET when dbt runs, as everywhere else.
# The manifest lives in that target's own target path, as the Makefile's: which tests exist
# depends on the target (the unit tests of Spark's incremental selection, for one).
jaffle_dbt = DbtProject(
    project_dir=REPO_ROOT,
    profiles_dir=REPO_ROOT,
    target_path=dbt_target_path(default_target()),
)


def manifest_is_stale(project: DbtProject = jaffle_dbt) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    for name in DBT_SOURCES:
        path = REPO_ROOT / name
        files = [path] if path.is_file() else path.rglob("*")
        if any(f.stat().st_mtime > built for f in files if f.is_file()):
            return True
    return False


def prepare_manifest(project: DbtProject = jaffle_dbt) -> Path:
    """`dbt parse` when the manifest is missing or older than the project, so the asset graph
    Dagster loads is the project as it is (a stale manifest shows stale lineage). One process
    at a time: Dagster's webserver and daemon load the definitions at once, and two parses
    writing one manifest leave it corrupt."""
    target = Path(project.project_dir) / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(target / ".manifest.lock"):
        if manifest_is_stale(project):
            # This virtualenv's dbt, which need not be on PATH (dagster-dbt's preparer looks
            # there).
            subprocess.run(
                [DBT_EXECUTABLE, "parse", "--quiet", "--target-path", str(project.target_path)],
                cwd=project.project_dir,
                check=True,
            )
    return project.manifest_path
