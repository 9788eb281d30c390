"""The iALS tuning dashboard: `streamlit run app.py`.

This entry script only lays out navigation and the shared sidebar; each view lives in
``pages/``. Permalinks ``/?run=ID`` and ``/?compare=ID,ID`` open the run and compare
pages.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import _common as common

ROOT = Path(__file__).resolve().parent
common.route_through_app()

st.set_page_config(page_title="iALS dashboard", page_icon=":material/grid_on:", layout="wide")

home_page = st.Page(common.HOME_PAGE, title="Start", icon=":material/home:", default=True)
runs_page = st.Page(common.RUNS_PAGE, title="Runs", icon=":material/table_rows:")
new_run_page = st.Page(common.NEW_RUN_PAGE, title="New run", icon=":material/play_arrow:")
run_page = st.Page(common.RUN_PAGE, title="Run", icon=":material/monitoring:")
compare_page = st.Page(common.COMPARE_PAGE, title="Compare", icon=":material/compare_arrows:")

sections = {"Runs": [home_page, new_run_page, runs_page, run_page, compare_page]}
# Pages written alongside this one appear once their files exist.
optional_pages = [
    ("Tuning", "pages/sweep.py", "New sweep", ":material/tune:"),
    ("Tuning", "pages/sweeps.py", "Sweeps", ":material/stacked_line_chart:"),
    ("Data", "pages/datasets.py", "Data sets", ":material/dataset:"),
]
for section, path, title, icon in optional_pages:
    if (ROOT / path).exists():
        sections.setdefault(section, []).append(st.Page(path, title=title, icon=icon))

current = st.navigation(sections)

# Permalinks point at the app's root URL; send them to the page they name.
if current.url_path == "":
    if "run" in st.query_params:
        st.switch_page(run_page, query_params={"run": st.query_params["run"]})
    if "compare" in st.query_params:
        st.switch_page(compare_page, query_params={"compare": st.query_params["compare"]})

with st.sidebar:
    with common.show_errors("Reading the server limits"):
        limits = common.limits()
        if limits is not None and (limits.enabled or limits.read_only):
            st.info(limits.banner_text(), icon=":material/info:")
    with common.show_errors("Counting the workers"):
        workers = common.alive_workers()
        label = "1 worker running" if workers == 1 else f"{workers} workers running"
        st.caption(f":material/memory: {label}")

current.run()
