"""The Dagster UI, as a person opens it: headless Chromium finds the asset graph.

`UI_SCREENSHOT=docs/asset-graph.png pytest tests/test_orchestration_ui.py` refreshes the
README's screenshot.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import require

REPO_ROOT = Path(__file__).resolve().parents[1]
WEBSERVER = str(Path(sys.executable).with_name("dagster-webserver"))


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dagster_ui(tmp_path: Path) -> Iterator[str]:
    """The Dagster webserver on a free loopback port, stopped (with its children) after."""
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "DBT_TARGET": "duckdb"}
    command = [WEBSERVER, "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "the Dagster webserver exited"
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the Dagster webserver did not answer within 120 s")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_ui_shows_the_asset_graph(dagster_ui: str, tmp_path: Path) -> None:
    browser_path = chromium()
    require("Chromium", None if browser_path else "no chromium on PATH (apt install chromium)")
    screenshot = tmp_path / "asset-graph.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.goto(f"{dagster_ui}/assets")
        # A first visit asks to join the community; a person would skip it.
        skip = page.get_by_role("button", name="Skip")
        skip.click(timeout=30_000)
        page.get_by_text("View lineage").click()
        page.get_by_text("Global asset lineage").wait_for(timeout=60_000)
        graph = page.locator("main") if page.locator("main").count() else page
        for group in ("shop_api", "catalog_db", "staging", "intermediate", "marts"):
            graph.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
        page.wait_for_timeout(1_000)  # let the edges settle before the picture
        page.screenshot(path=str(screenshot))
        browser.close()
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("UI_SCREENSHOT"):
        shutil.copy(screenshot, REPO_ROOT / os.environ["UI_SCREENSHOT"])
