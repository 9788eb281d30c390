"""The dashboard end to end: real Streamlit server, real worker, headless Chromium.

Launches a small run on the synthetic data from the new-run page, waits for the live
charts to show epochs, opens the permalink in a second tab and downloads the report.
Set ``IALS_SCREENSHOT_DIR`` to keep 1280×800 screenshots of each step there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

from ials.runs.store import RunStore  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
#: Milliseconds the worker may take for its first epochs, numba compilation included.
TRAINING_TIMEOUT_MS = 300_000
PAGE_TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Chromium at {CHROMIUM}"),
]


def screenshot(page, name: str) -> None:
    folder = os.environ.get("IALS_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def set_number(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    page.wait_for_function(
        "([label, value]) => document.querySelector(`input[aria-label='${label}']`).value == value",
        arg=[label, value],
    )


def plotted_epochs(page) -> int:
    return page.evaluate(
        "() => { const plot = document.querySelector('.js-plotly-plot');"
        " return plot && plot.data ? plot.data[0].x.length : 0; }"
    )


def test_launch_follow_share_download(serve_app, project_dirs, tmp_path):
    server = serve_app(env={"IALS_WORKERS": "1", "IALS_WORKER_IDLE_SECONDS": "30"})
    sync_playwright = playwright.sync_playwright
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800},
                                      accept_downloads=True)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        # Every request must stay on this server: a public demo or an offline install
        # must not depend on (or report to) outside hosts such as font servers.
        outside_requests = []
        context.on("request", lambda request: outside_requests.append(request.url)
                   if not request.url.startswith((server.base_url, "data:", "blob:")) else None)
        page = context.new_page()

        # A page opened by URL on a fresh server must still get app.py's navigation.
        page.goto(f"{server.base_url}/new_run")
        page.get_by_role("button", name="Launch").wait_for()
        assert page.get_by_test_id("stSidebarNav").get_by_text("New run").count() == 1
        assert page.get_by_text("workers running").count() + page.get_by_text("worker running").count() == 1

        data_set = page.get_by_label("Data set", exact=True)
        data_set.click()
        data_set.fill("synthetic-small")
        data_set.press("Enter")
        page.get_by_text("600 users × 400 items").first.wait_for()
        set_number(page, "Embedding dimension d", "8")
        set_number(page, "Epochs", "4")
        name = page.get_by_label("Run name (optional)", exact=True)
        name.fill("browser run")
        name.press("Enter")
        page.wait_for_timeout(500)
        screenshot(page, "new_run")
        page.get_by_role("button", name="Launch").click()

        page.wait_for_url(re.compile(r".*[?&]run=[0-9a-f]+"))
        run_id = re.search(r"[?&]run=([0-9a-f]+)", page.url).group(1)
        page.get_by_role("heading", name="Run browser run").wait_for()
        page.wait_for_function(
            "() => { const plot = document.querySelector('.js-plotly-plot');"
            " return plot && plot.data && plot.data[0].x.length >= 2; }",
            timeout=TRAINING_TIMEOUT_MS,
        )
        assert plotted_epochs(page) >= 2
        screenshot(page, "run")

        stored = RunStore(project_dirs.runs_dir).get_run(run_id)
        assert stored["name"] == "browser run"
        assert stored["spec"]["dataset"] == "synthetic-small"
        assert stored["spec"]["model"]["dim"] == 8
        assert stored["epochs_done"] >= 2

        permalink = page.get_by_test_id("stCode").first.inner_text().strip()
        assert permalink == f"{server.base_url}/?run={run_id}"
        teammate = context.new_page()
        teammate.goto(permalink)
        teammate.get_by_role("heading", name="Run browser run").wait_for()
        teammate.get_by_text(f"id {run_id}").first.wait_for()
        assert f"run={run_id}" in teammate.url

        with page.expect_download() as download_info:
            page.get_by_role("button", name="Report (HTML)").click()
        download = download_info.value
        assert download.suggested_filename == f"ials-run-{run_id}.html"
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        html = target.read_text(encoding="utf-8")
        assert "browser run" in html
        assert "Plotly.newPlot(" in html
        assert not re.search(r"<script[^>]*\bsrc\s*=", html)
        assert outside_requests == []
        browser.close()
