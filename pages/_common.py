"""Streamlit helpers shared by the pages: the run store, the worker pool, demo limits,
error display and permalinks.

This module is not a page (st.navigation lists the pages explicitly); the pages import
it as ``pages._common``.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Iterator
from urllib.parse import urlencode

import streamlit as st

from ials.paths import runs_dir
from ials.runs.store import RunStore

logger = logging.getLogger(__name__)

HOME_PAGE = "pages/home.py"
NEW_RUN_PAGE = "pages/new_run.py"
RUNS_PAGE = "pages/runs.py"
RUN_PAGE = "pages/run.py"
COMPARE_PAGE = "pages/compare.py"
#: URL paths Streamlit derives from the page files (the file name without ".py").
PAGE_URL_PATHS = {"home", "new_run", "runs", "run", "compare", "datasets", "sweep", "sweeps"}

#: Seconds between refreshes of a live run's status and charts.
REFRESH_SECONDS = 1.5

PLOTLY_CONFIG = {"displaylogo": False}


def route_through_app() -> None:
    """Rerun through ``app.py`` when Streamlit ran this page in pages-directory mode.

    Streamlit 1.67 treats a ``pages/`` folder next to the entry script as a version-1
    multipage app until some session in the process has called ``st.navigation``. A
    page opened by URL on a fresh server would then run without ``app.py``: no shared
    sidebar and every file in ``pages/`` listed as a page. Clearing the flag and
    rerunning makes this and every later session run ``app.py`` first.
    """
    # NOTE: PagesManager.uses_pages_directory is internal Streamlit state, not public
    # API; check this after upgrading Streamlit (the browser test opens a page by URL).
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    # AppTest resets the flag before every run, so a rerun there would drop each
    # button click; under AppTest the page runs as it is.
    if PagesManager.uses_pages_directory and not config.get_option("global.appTest"):
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def _store_for(directory: str) -> RunStore:
    store = RunStore(directory)
    # Runs whose worker died while the app was down would otherwise show as running
    # forever; this runs once per server process and store directory.
    failed = store.fail_stale_runs()
    if failed:
        logger.info("marked %d stale runs as failed at startup: %s", len(failed), failed)
    return store


def store() -> RunStore:
    """Return the run store of ``IALS_RUNS_DIR`` (one instance per directory and process)."""
    return _store_for(str(runs_dir().resolve()))


def limits():
    """Return the server's `ials.limits.Limits`, or None when the module is missing."""
    try:
        from ials.limits import current_limits
    except ImportError:
        return None
    return current_limits()


def read_only() -> bool:
    """Return whether this server rejects launching, cancelling, deleting and editing runs."""
    current = limits()
    return bool(current is not None and current.read_only)


def session_id() -> str:
    """Return an id of this browser session (the demo limits count runs per session)."""
    if "ials_session_id" not in st.session_state:
        st.session_state["ials_session_id"] = uuid.uuid4().hex
    return st.session_state["ials_session_id"]


@contextlib.contextmanager
def show_errors(action: str) -> Iterator[None]:
    """Show an exception raised inside the block as ``st.error`` instead of a traceback.

    Streamlit's own control flow (``st.rerun``, ``st.switch_page``, ``st.stop``) uses
    exceptions derived from BaseException, so it passes through. The library's
    validation raises `ValueError` on rejected input, so that is logged as one warning
    line. Any other exception is logged with its traceback.
    """
    try:
        yield
    except ValueError as error:
        logger.warning("%s failed: %s", action, error)
        logger.debug("traceback of the rejected input", exc_info=True)
        st.error(f"{action} failed: {error}")
    except Exception as error:  # noqa: BLE001 - every error ends up in front of the user
        logger.exception("%s failed", action)
        st.error(f"{action} failed: {error}")


def start_workers() -> int | None:
    """Make sure worker processes are running; return how many, or None without a pool."""
    try:
        from ials.runs.pool import ensure_workers
    except ImportError:
        logger.warning("ials.runs.pool is missing, so no worker was started")
        return None
    return len(ensure_workers())


def alive_workers() -> int:
    """Return the number of live worker processes registered in the store."""
    return len(store().list_workers(alive_only=True))


def permalink(**params: str) -> str:
    """Return a URL of this app that opens the view of ``params`` (e.g. ``run=ID``).

    The app routes ``/?run=ID``, ``/?compare=ID,ID`` and ``/?sweep=ID`` to the run,
    compare and sweep pages.
    Without the browser's URL (as in tests) the link is relative.
    """
    base = (st.context.url or "").rstrip("/")
    # st.context.url may end with the current page's URL path ("…/run"); drop it so the
    # link goes through the app's root, which routes the query parameters.
    head, _, last = base.rpartition("/")
    if last in PAGE_URL_PATHS and "://" in head:
        base = head
    return f"{base}/?{urlencode(params, safe=',')}"


def show_permalink(**params: str) -> None:
    """Show the permalink of the current view, ready to copy."""
    st.caption("Permalink: anyone on this server opens the same view with")
    st.code(permalink(**params), language=None)


def show_chart_grid(figures: list[tuple[str, object]], n_columns: int = 2) -> None:
    """Draw (key, plotly figure) pairs in a grid; stable keys keep each chart's zoom."""
    columns = st.columns(n_columns)
    for index, (key, figure) in enumerate(figures):
        with columns[index % n_columns]:
            st.plotly_chart(figure, key=key, config=PLOTLY_CONFIG)
