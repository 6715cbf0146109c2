"""Start and stop a `python -m upstream serve` process (for the demo, tests and benchmarks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_LINE = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


class UpstreamProcess:
    """A running upstream on a free loopback port; stopped by PID on exit."""

    def __init__(self, api_key: str, *serve_args: str, startup_timeout: float = 60.0) -> None:
        self.api_key = api_key
        self.serve_args = serve_args
        self.startup_timeout = startup_timeout
        self.url = ""
        self.database_url = ""
        self._process: subprocess.Popen[str] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> UpstreamProcess:
        env = {**os.environ, "UPSTREAM_API_KEY": self.api_key}
        args = list(self.serve_args)
        if "--database-url" in args:
            self.database_url = args[args.index("--database-url") + 1]
        else:
            # A catalog database of its own, so that concurrent upstreams never share one.
            self._scratch = tempfile.TemporaryDirectory(prefix="upstream-")
            self.database_url = f"sqlite:///{self._scratch.name}/catalog.sqlite"
            args += ["--database-url", self.database_url]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "upstream", "serve", "--port", "0", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        line = self._process.stdout.readline()
        match = READY_LINE.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(f"upstream did not start: {line.strip() or 'no output'}")
        self.url = match.group(1)
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"upstream at {self.url} did not answer /health in time")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> UpstreamProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def clock(self) -> str:
        """The upstream's clock (ISO-8601, UTC): the newest change it can hold."""
        response = httpx.get(f"{self.url}/health", timeout=30)
        response.raise_for_status()
        return str(response.json()["clock"])

    def advance(self, days: int = 1, hours: int = 0) -> dict[str, int]:
        """Move the clock forward; returns what changed."""
        response = httpx.post(
            f"{self.url}/admin/advance",
            params={"days": days, "hours": hours},
            headers=self._headers(),
            timeout=300,
        )
        response.raise_for_status()
        return response.json()["changes"]
