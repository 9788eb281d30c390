"""The iALS tuning dashboard: `streamlit run app.py`.

This entry script only sets up logging, lays out navigation and draws the shared
sidebar; each view lives in ``pages/``. Permalinks ``/?run=ID``, ``/?compare=ID,ID`` and
``/?sweep=ID`` open the run, compare and sweep pages.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from ials.logs import setup_logging
from ials.paths import runs_dir
from pages import _common as common

logger = logging.getLogger(__name__)

common.route_through_app()


@st.cache_resource(show_spinner=False)
def start_logging() -> Path:
    """Log to stderr and ``RUNS_DIR/logs/ials.log``; runs once per server process."""
    directory = runs_dir().resolve()
    path = setup_logging(directory, "app", logging.INFO)
    logger.info("dashboard started: runs directory %s, log file %s", directory, path)
    return path


start_logging()

# A local icon file: a ":material/...:" page icon makes every browser fetch it from
# Google's font servers, which a self-hosted or offline server must not depend on.
st.set_page_config(
    page_title="iALS dashboard", page_icon=str(Path(__file__).parent / "assets" / "icon.png"),
    layout="wide",
)

home_page = st.Page(common.HOME_PAGE, title="Start", icon=":material/home:", default=True)
runs_page = st.Page(common.RUNS_PAGE, title="Runs", icon=":material/table_rows:")
new_run_page = st.Page(common.NEW_RUN_PAGE, title="New run", icon=":material/play_arrow:")
# The run and sweep pages each show one item named in the URL (?run=ID, ?sweep=ID), so
# they stay out of the menu; the runs and sweeps pages link to them.
run_page = st.Page(common.RUN_PAGE, title="Run", icon=":material/monitoring:",
                   visibility="hidden")
compare_page = st.Page(common.COMPARE_PAGE, title="Compare", icon=":material/compare_arrows:")
sweeps_page = st.Page("pages/sweeps.py", title="Sweeps", icon=":material/tune:")
sweep_page = st.Page("pages/sweep.py", title="Sweep", icon=":material/grid_on:",
                     visibility="hidden")
datasets_page = st.Page("pages/datasets.py", title="Data sets", icon=":material/dataset:")

current = st.navigation({
    "Runs": [home_page, new_run_page, runs_page, run_page, compare_page],
    "Tuning": [sweeps_page, sweep_page],
    "Data": [datasets_page],
})

# Permalinks point at the app's root URL; send them to the page they name.
if current.url_path == "":
    for parameter, page in (("run", run_page), ("compare", compare_page), ("sweep", sweep_page)):
        if parameter in st.query_params:
            st.switch_page(page, query_params={parameter: st.query_params[parameter]})

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
