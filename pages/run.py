"""One run (``?run=ID``): status, progress, live loss and metric curves, settings, exports."""

from __future__ import annotations

import streamlit as st

from ials import charts, report, views
from pages import _common as common

common.route_through_app()


def choose_run() -> None:
    """Let the user pick a run when the URL names none."""
    runs = common.store().list_runs()
    if not runs:
        st.info("No runs yet.")
        st.page_link(common.NEW_RUN_PAGE, label="Start a new run", icon=":material/play_arrow:")
        return
    labels = {run["id"]: views.run_option_label(run) for run in runs}
    chosen = st.selectbox("Run", list(labels), format_func=labels.get, index=None,
                          placeholder="Choose a run")
    if chosen:
        st.query_params["run"] = chosen
        st.rerun()


def show_actions(run: dict) -> None:
    """Show the cancel, download and compare buttons; downloads are built when clicked."""
    run_id = run["id"]
    store = common.store()
    row = st.container(horizontal=True)
    if run["status"] in views.ACTIVE_STATUSES and not common.read_only():
        if row.button("Cancel run", icon=":material/stop:", key="cancel"):
            with common.show_errors("Cancelling the run"):
                status = store.request_cancel(run_id)
                st.toast(f"Run {run_id}: cancel requested, status {status}.")
                st.rerun()
    row.download_button(
        "Report (HTML)",
        data=lambda: report.run_report_html(store.get_run(run_id), store.epochs(run_id)),
        file_name=f"ials-run-{run_id}.html", mime="text/html", icon=":material/description:",
        on_click="ignore", key="download-report",
    )
    row.download_button(
        "Export JSON",
        data=lambda: report.run_to_json(store.get_run(run_id), store.epochs(run_id)),
        file_name=f"ials-run-{run_id}.json", mime="application/json",
        icon=":material/data_object:", on_click="ignore", key="download-json",
    )
    row.download_button(
        "Epochs (CSV)",
        data=lambda: report.epochs_to_csv(store.epochs(run_id)),
        file_name=f"ials-run-{run_id}-epochs.csv", mime="text/csv",
        icon=":material/table_view:", on_click="ignore", key="download-csv",
    )
    row.page_link(common.COMPARE_PAGE, label="Compare with…",
                  icon=":material/compare_arrows:", query_params={"compare": run_id})


def show_live(run_id: str, was_active: bool) -> None:
    """Show status, progress, metrics, curves and settings (refreshed while active)."""
    store = common.store()
    run = store.get_run(run_id)
    if run is None:
        st.error(f"Run {run_id} was deleted.")
        return
    if was_active and run["status"] not in views.ACTIVE_STATUSES:
        # The run just stopped: rerun the whole page so the refresh timer and the
        # cancel button go away and the final metrics show.
        st.rerun(scope="app")
    epochs = store.epochs(run_id)
    progress = views.run_progress(run, epochs)

    status_line = f"Status: **{run['status']}**"
    if run.get("cancel_requested") and run["status"] == "running":
        status_line += " (cancel requested; stops after the current epoch)"
    st.markdown(status_line)
    st.progress(progress.fraction, text=progress.text())
    if run["status"] == "failed":
        st.error(f"The run failed: {run.get('error') or 'no reason recorded.'}")
    if run["status"] == "queued":
        st.caption("Waiting for a free worker.")

    if run.get("final_metrics") or epochs:
        st.subheader("Metrics")
        st.dataframe(views.metrics_summary(run, epochs), width="stretch")

    if epochs:
        show_curves(run, epochs)
    else:
        st.caption("The curves appear after the first epoch.")
    with st.expander("Settings", expanded=True):
        st.dataframe(views.settings_rows(run), hide_index=True, width="stretch")


def show_curves(run: dict, epochs: list[dict]) -> None:
    run_id = run["id"]
    log_y = st.toggle("Log scale for the loss", value=True, key=f"log-y-{run_id}")
    st.plotly_chart(
        charts.loss_figure(epochs, log_y=log_y, uirevision=f"loss-{run_id}"),
        key=f"loss-chart-{run_id}", config=common.PLOTLY_CONFIG,
    )
    split = run["spec"].get("split", "validation")
    names = views.metric_names(epochs)
    if names:
        st.subheader(f"{split.capitalize()} metrics per epoch")
        common.show_chart_grid([
            (f"metric-chart-{run_id}-{name}",
             charts.metric_figure(epochs, name, uirevision=f"{name}-{run_id}"))
            for name in names
        ])


def show_run(run_id: str) -> None:
    run = common.store().get_run(run_id)
    if run is None:
        st.error(f"Run {run_id!r} not found in this server's run store. "
                 "It may have been deleted; pick another run from the Runs page.")
        st.page_link(common.RUNS_PAGE, label="All runs", icon=":material/table_rows:")
        return
    st.title(f"Run {views.run_title(run)}")
    st.caption(
        f"id {run['id']} · data set {run['spec'].get('dataset')} · created "
        f"{views.format_timestamp(run.get('created_at'))}"
    )
    if run.get("notes"):
        st.markdown(f"> {run['notes']}")
    show_actions(run)

    active = run["status"] in views.ACTIVE_STATUSES

    # A fragment rerun skips the page-level error handler below, so it has its own.
    @st.fragment(run_every=common.REFRESH_SECONDS if active else None)
    def live() -> None:
        with common.show_errors("Refreshing the run"):
            show_live(run_id, active)

    live()
    common.show_permalink(run=run_id)


with common.show_errors("Showing the run"):
    requested = st.query_params.get("run")
    if requested:
        show_run(requested)
    else:
        st.title("Run")
        choose_run()
