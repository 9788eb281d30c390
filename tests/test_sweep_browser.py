"""Launch a 2 × 2 sweep from the browser and watch its heatmap fill in.

Real Streamlit server, real worker processes and headless Chromium through Playwright.
"""

from __future__ import annotations

import re

import pytest

from ials.runs.store import RunStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
#: Milliseconds to wait for the four runs to train and the page to show them.
SWEEP_TIMEOUT_MS = 240_000


def fill(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    page.wait_for_timeout(500)


@pytest.mark.slow
@pytest.mark.browser
def test_sweep_from_ui_fills_heatmap(project_dirs, serve_app, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    from ials.limits import ENV_VARS
    from ials.runs.pool import stop_workers

    env = {name: "" for name in ENV_VARS}
    env.update({
        "IALS_RUNS_DIR": str(project_dirs.runs_dir),
        "IALS_DATA_DIR": str(project_dirs.data_dir),
        "IALS_WORKERS": "2",
        "IALS_WORKER_IDLE_SECONDS": "20",
    })
    server = serve_app(env=env)
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{server.base_url}/sweeps")
            page.get_by_text("New sweep", exact=True).wait_for(timeout=60_000)
            # Opened first by URL on a fresh server, the page still gets app.py's menu.
            menu = page.get_by_test_id("stSidebarNav")
            assert menu.get_by_text("Sweeps", exact=True).count() == 1
            assert menu.get_by_text("New sweep", exact=True).count() == 0

            fill(page, "Embedding dimension d", "8")
            fill(page, "Epochs", "2")
            fill(page, "α₀ values", "0.1, 0.01")
            fill(page, "λ values", "0.01, 0.001")
            page.get_by_role("button", name="Launch sweep").click()

            page.get_by_text("4 of 4 cells filled").wait_for(timeout=SWEEP_TIMEOUT_MS)
            page.get_by_text("4 / 4 runs done").wait_for(timeout=30_000)
            sweep_id = re.search(r"[?&]sweep=([0-9a-f]+)", page.url).group(1)
            permalink = page.get_by_test_id("stCode").first.text_content().strip()
            heatmap = page.locator(".js-plotly-plot").first
            heatmap.wait_for()
            # SVG text has no innerText; each filled cell reads "0.1234" then "ep 2".
            texts = heatmap.locator("text").evaluate_all("nodes => nodes.map(n => n.textContent)")
            cell_texts = [t for t in texts if re.match(r"0\.\d{4}(?:\s|ep|$)", t or "")]
            page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)
            browser.close()
    finally:
        stop_workers(project_dirs.runs_dir)

    assert len(cell_texts) == 4, cell_texts
    assert permalink == f"{server.base_url}/?sweep={sweep_id}"
    log = (project_dirs.runs_dir / "logs" / "ials.log").read_text(encoding="utf-8")
    assert " app __main__: dashboard started" in log
    assert f"queued grid sweep {sweep_id}" in log
    [sweep] = RunStore(project_dirs.runs_dir).list_sweeps()
    runs = RunStore(project_dirs.runs_dir).list_runs(sweep_id=sweep["id"])
    assert sorted(r["status"] for r in runs) == ["finished"] * 4
    assert {r["spec"]["model"]["dim"] for r in runs} == {8}
