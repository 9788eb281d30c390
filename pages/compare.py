"""Compare runs (``?compare=ID,ID``): overlaid curves and a side-by-side table."""

from __future__ import annotations

import streamlit as st

from ials import charts, report, views
from pages import _common as common

common.route_through_app()


def requested_ids() -> list[str]:
    raw = st.query_params.get("compare", "")
    ids = []
    for part in raw.split(","):
        part = part.strip()
        if part and part not in ids:
            ids.append(part)
    return ids


def choose_runs(all_runs: list[dict], requested: list[str]) -> list[str]:
    """Show a multiselect of runs, kept in sync with the ``compare`` query parameter."""
    labels = {run["id"]: views.run_option_label(run) for run in all_runs}
    missing = [run_id for run_id in requested if run_id not in labels]
    if missing:
        st.warning(f"Run(s) not found in this server's run store: {', '.join(missing)}.")
    chosen = st.multiselect(
        "Runs to compare", list(labels), default=[i for i in requested if i in labels],
        format_func=labels.get, placeholder="Choose two or more runs",
    )
    if chosen != requested:
        if chosen:
            st.query_params["compare"] = ",".join(chosen)
        else:
            st.query_params.pop("compare", None)
    return chosen


def show_curves(runs: list[dict], epochs_by_run: dict[str, list[dict]]) -> None:
    labels = views.run_labels(runs)
    series = [(label, epochs_by_run[run["id"]]) for label, run in zip(labels, runs)]
    key = "-".join(run["id"] for run in runs)
    st.subheader("Training loss per epoch")
    log_y = st.toggle("Log scale for the loss", value=True, key="compare-log-y")
    common.show_chart_grid([
        (f"compare-{component}",
         charts.compare_figure(series, component, log_y=log_y, uirevision=f"{key}-{component}"))
        for component in charts.LOSS_COMPONENTS
    ])
    names = views.runs_metric_names(runs, epochs_by_run)
    if names:
        st.subheader("Evaluation metrics per epoch")
        common.show_chart_grid([
            (f"compare-{name}", charts.compare_figure(series, name, uirevision=f"{key}-{name}"))
            for name in names
        ])


def show_table(runs: list[dict], epochs_by_run: dict[str, list[dict]]) -> None:
    st.subheader("Settings and metrics")
    only_differences = st.toggle("Only rows that differ", value=False)
    table = views.compare_frame(runs, epochs_by_run)
    if only_differences:
        table = table[table["differs"]]
    differs = table.pop("differs")
    styled = table.style.apply(
        lambda row: ["background-color: #fff3cd" if differs[row.name] else ""] * len(row),
        axis=1,
    )
    st.dataframe(styled, width="stretch", height=min(38 * (len(table) + 1), 900))
    st.caption("Highlighted rows differ among the selected runs.")


def main() -> None:
    st.title("Compare runs")
    store = common.store()
    all_runs = store.list_runs()
    if not all_runs:
        st.info("No runs yet. Runs appear here once they are queued.")
        st.page_link(common.NEW_RUN_PAGE, label="Start a new run", icon=":material/play_arrow:")
        return
    chosen = choose_runs(all_runs, requested_ids())
    if len(chosen) < 1:
        st.info("Choose runs above, or select rows on the Runs page and press Compare.")
        return
    by_id = {run["id"]: run for run in all_runs}
    runs = [by_id[run_id] for run_id in chosen]
    epochs_by_run = {run_id: store.epochs(run_id) for run_id in chosen}
    labels = views.run_labels(runs)
    st.caption("Legend entries name the settings that differ among these runs.")
    for label, run in zip(labels, runs):
        st.page_link(common.RUN_PAGE, label=f"{label} · {run['status']} · {run['id']}",
                     query_params={"run": run["id"]}, icon=":material/monitoring:")
    st.download_button(
        "Comparison report (HTML)",
        data=lambda: report.compare_report_html(
            [store.get_run(run_id) or by_id[run_id] for run_id in chosen],
            {run_id: store.epochs(run_id) for run_id in chosen},
        ),
        file_name=f"ials-compare-{'-'.join(chosen)}.html", mime="text/html",
        icon=":material/description:", on_click="ignore",
    )
    show_curves(runs, epochs_by_run)
    show_table(runs, epochs_by_run)
    common.show_permalink(compare=",".join(chosen))


with common.show_errors("Comparing the runs"):
    main()
