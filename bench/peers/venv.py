"""Peers live in virtualenvs of their own, installed from PyPI on first use (their pins
clash with ours: PyAirbyte pins its own DuckDB, Singer targets their own SQLAlchemy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")  # installed into .venv by `make setup`


def peer_python(name: str, packages: tuple[str, ...]) -> Path:
    """The interpreter of `.venv-<name>`, holding `packages`: installed (and compiled to
    bytecode, as pip does by default, so no timed run pays for compiling) when the list
    changed or the virtualenv is missing."""
    venv = REPO_ROOT / f".venv-{name}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = "\n".join(packages)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"[bench] installing the {name} peer into {venv.name} ...", flush=True)
    subprocess.run([UV, "venv", "--quiet", "--clear", "--python", sys.executable, venv], check=True)
    install = [UV, "pip", "install", "--quiet", "--system-certs", "--compile-bytecode"]
    result = subprocess.run(
        [*install, "--python", python, *packages], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"installing {name} ({' '.join(packages)}): {result.stderr[-1500:]}")
    marker.write_text(wanted)
    return python
