"""Landing page: what the dashboard does, where to go next and the latest runs."""

from __future__ import annotations

import streamlit as st

from ials import views
from pages import _common as common

common.route_through_app()

#: Runs listed on the landing page, newest first.
RECENT_RUNS = 8


def main() -> None:
    st.title("iALS tuning dashboard")
    st.markdown(
        "Train matrix factorization with implicit alternating least squares (iALS), "
        "follow the loss and the ranking metrics after every epoch, and compare settings. "
        "Training runs in background workers, so closing this tab does not stop a run."
    )
    links = st.container(horizontal=True)
    links.page_link(common.NEW_RUN_PAGE, label="Start a run", icon=":material/play_arrow:")
    links.page_link(common.RUNS_PAGE, label="All runs", icon=":material/table_rows:")
    links.page_link(common.COMPARE_PAGE, label="Compare runs", icon=":material/compare_arrows:")
    links.page_link("pages/sweeps.py", label="Tune with a sweep", icon=":material/tune:")

    st.subheader("Latest runs")
    runs = common.store().list_runs()[:RECENT_RUNS]
    if not runs:
        st.caption("No runs yet. The synthetic data set needs no download, so a first run "
                   "works offline.")
    for run in runs:
        progress = f"{run.get('epochs_done') or 0}/{run.get('epochs_total')} epochs"
        st.page_link(
            common.RUN_PAGE, query_params={"run": run["id"]}, icon=":material/monitoring:",
            label=f"{views.run_title(run)} · {run['status']} · {run['spec'].get('dataset')} · "
                  f"{progress} · {views.format_timestamp(run.get('created_at'))}",
        )

    st.subheader("Tuning in brief")
    st.markdown(
        "- Metrics are computed after every epoch, so the number of epochs is not a "
        "hyperparameter to search: start with 16, or 8 during a broad search.\n"
        "- Tune the unobserved weight α₀ and the regularization λ together, on log-spaced "
        "grids; if the best value sits on the edge of the grid, extend the grid.\n"
        "- Loss values of different settings are not comparable, so never pick a model by "
        "its loss. The loss shows a setting in the wrong region, e.g. L_I ≫ L_S when "
        "everything is predicted as 0.\n"
        "- Repeat a setting with other seeds before trusting a small difference.\n"
        "- Grow the embedding dimension d while quality improves, re-tuning λ at each step."
    )


with common.show_errors("Showing the start page"):
    main()
