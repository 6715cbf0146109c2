"""Run the README's documented commands as a user would: literally, in a scratch copy of the
repository, with a clean environment holding only what the README tells a user to set."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
# Where the README's upstream listens (`make upstream`, `serve` without --port).
UPSTREAM_URL = "http://127.0.0.1:8765"
FENCED_SHELL = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_blocks() -> list[str]:
    return FENCED_SHELL.findall(README.read_text())


def block_with(command: str) -> list[str]:
    """The commands of the README's one shell block that contains `command`, comments cut."""
    blocks = [block for block in shell_blocks() if command in block]
    assert len(blocks) == 1, f"README: {len(blocks)} shell blocks contain {command!r}"
    return [
        line.split(" # ")[0].strip()
        for line in blocks[0].splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def copy_repository(destination: Path) -> Path:
    """The repository's tracked files (as a clone has them) and its virtualenv, linked."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # times kept: `make setup` sees an installed venv
    (destination / ".venv").symlink_to(REPO_ROOT / ".venv")
    return destination


@dataclass
class Shell:
    """A user's terminal session in `root`: commands run one by one, `export`s persist, and a
    command ending in `&` (the README's "terminal 1") runs in the background until `stop`."""

    root: Path
    env: dict[str, str] = field(
        default_factory=lambda: {
            name: os.environ[name]
            for name in ("PATH", "HOME", "LANG", "TMPDIR", "TERM")
            if name in os.environ
        }
    )
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def run(self, command: str, timeout: float = 600, check: bool = True) -> str:
        """One command; its output (stdout and stderr). Fails with the transcript if it fails."""
        if command.endswith("&"):
            self.start(command[:-1].strip())
            return ""
        if command.startswith("export "):
            return self._export(command)
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        self.transcript.append(f"$ {command}\n{result.stdout}")
        if check and result.returncode != 0:
            raise AssertionError(
                f"README command failed (exit {result.returncode}): {command}\n"
                + result.stdout[-6000:]
            )
        return result.stdout

    def run_block(self, commands: list[str]) -> None:
        for command in commands:
            self.run(command)

    def start(self, command: str) -> None:
        """A background command (an upstream); waits until the README's upstream answers."""
        log = open(self.root / f"background-{len(self.background)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        log.close()
        self.background.append(process)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = (self.root / f"background-{len(self.background) - 1}.log").read_text()
                raise AssertionError(f"README command exited: {command}\n{output[-3000:]}")
            try:
                if httpx.get(f"{UPSTREAM_URL}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"README command never answered on {UPSTREAM_URL}: {command}")

    def stop(self) -> None:
        """Stop the background commands, by their process group ids."""
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.background.clear()

    def _export(self, command: str) -> str:
        match = re.match(r"export (\w+)=", command)
        assert match, f"README: cannot follow {command!r}"
        name = match.group(1)
        result = subprocess.run(
            ["bash", "-c", f'{command} && printf %s "${name}"'],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.env[name] = result.stdout
        self.transcript.append(f"$ {command}")
        return ""


@dataclass
class RunningUpstream:
    """The README's upstream, as the tests' truth readers expect one."""

    api_key: str
    url: str = UPSTREAM_URL
