"""The UI as users meet it, in headless Chromium (Debian's ``chromium``, driven by Playwright)."""

import os
from pathlib import Path

import pytest

from lakehouse_tests.dev.prod.conftest import CI

CHROMIUM = os.environ.get("LAKEHOUSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 180_000  # a loaded machine renders the graph slowly


def require_chromium() -> str:
    if not Path(CHROMIUM).exists():
        if CI:
            pytest.fail(f"CI requires Chromium at {CHROMIUM} (.ci/run installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def check_asset_graph_and_runs(url: str, groups: list[str], run_id: str, screenshot: Path) -> None:
    """The global asset graph shows every group (sidebar and graph node), with statuses
    loaded; screenshot it; the runs list shows the run and the sensor that launched it."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/asset-groups")
            page.get_by_role("button", name="Skip").click()  # the first-visit community dialog
            for group in groups:
                names = page.get_by_text(group, exact=True)
                expect(names.first).to_be_visible(timeout=TIMEOUT_MS)
                expect(names.nth(1)).to_be_attached(timeout=TIMEOUT_MS)
            expect(page.get_by_text("(fetching statuses)")).to_have_count(0, timeout=TIMEOUT_MS)
            page.mouse.move(0, 0)
            page.screenshot(path=str(screenshot))

            page.goto(f"{url}/runs")
            run_link = page.get_by_role("link", name=f"run {run_id[:8]}")
            expect(run_link).to_be_visible(timeout=TIMEOUT_MS)
            sensor = page.get_by_role("link", name="machine_landing").first
            expect(sensor).to_be_visible(timeout=TIMEOUT_MS)
        finally:
            browser.close()
