"""One sweep (``?sweep=ID``): progress, heatmap, quality curves, cells, per-epoch curves, advice.

Every metric is each run's value at its best epoch by the chosen validation metric. While
runs are queued or running, the live part refreshes every 2 s and the whole page reruns
when a run ends, so the advice follows the results.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ials import charts, sweep_charts, sweeps, views
from ials.advice import advise
from ials.sweep_report import sweep_report_html
from pages import _common as common

common.route_through_app()

SWEEPS_PAGE = "pages/sweeps.py"
REFRESH_SECONDS = 2.0
KIND_TITLES = {"grid": "Grid sweep", "ladder": "Dimension ladder", "repeat": "Seed repeats"}
CELL_TABLE_COLUMNS = {
    "alpha0": "α₀", "reg": "λ", "nu": "ν", "dim": "d", "mean": "mean", "std": "std",
    "n_done": "seeds done", "n_runs": "runs", "best_epoch": "best epoch",
    "test_mean": "test mean",
}


def choose_sweep() -> None:
    all_sweeps = common.store().list_sweeps()
    if not all_sweeps:
        st.info("No sweeps yet.")
        st.page_link(SWEEPS_PAGE, label="Launch a sweep", icon=":material/tune:")
        return
    labels = {s["id"]: f"{s.get('name') or s['id']} · {s['kind']} · {s['id']}" for s in all_sweeps}
    chosen = st.selectbox("Sweep", list(labels), format_func=labels.get, index=None,
                          placeholder="Choose a sweep")
    if chosen:
        st.query_params["sweep"] = chosen
        st.rerun()


def reg_label(results: pd.DataFrame) -> str:
    return "λ*" if len(results) and bool(results["normalized_reg"].iloc[0]) else "λ"


def show_progress(progress: sweeps.SweepProgress) -> None:
    text = f"{progress.done} / {progress.total} runs done"
    if progress.running:
        text += f", {progress.running} running"
    if progress.failed:
        text += f", {progress.failed} failed"
    if not progress.complete:
        text += (f", about {views.format_duration(progress.remaining_seconds)} left (estimate)"
                 if progress.remaining_seconds is not None else ", time left known after the first run")
    st.progress(progress.done / progress.total if progress.total else 1.0, text=text)


def show_grid(results: pd.DataFrame, cells: pd.DataFrame, metric: str, sweep: dict) -> None:
    label = reg_label(results)
    slices = cells[["dim", "nu"]].drop_duplicates().sort_values(["dim", "nu"])
    slice_labels = [f"d = {int(d)}, ν = {nu:g}" for d, nu in slices.itertuples(index=False)]
    choice = 0
    if len(slice_labels) > 1:
        choice = slice_labels.index(st.selectbox("Slice", slice_labels, key="slice"))
    dim, nu = slices.iloc[choice]
    in_slice = cells[(cells["dim"] == dim) & (cells["nu"] == nu)]
    figure = sweep_charts.heatmap_figure(in_slice, metric, reg_label=label)
    filled = sweep_charts.filled_cell_count(figure)
    st.plotly_chart(figure, key="heatmap", config=common.PLOTLY_CONFIG)
    st.caption(f"{filled} of {len(in_slice)} cells filled · a red frame marks the best cell")
    common.show_chart_grid([
        ("curve-alpha0", sweep_charts.curve_figure(in_slice, metric, "alpha0", label)),
        ("curve-reg", sweep_charts.curve_figure(in_slice, metric, "reg", label)),
    ])
    if results["nu"].nunique() > 1:
        st.markdown("**λ across ν**: on the normalized scale good values line up; on the raw "
                    "scale they move by orders of magnitude.")
        star, raw = sweep_charts.nu_scale_figures(sweeps.add_reg_scales(results), metric)
        common.show_chart_grid([("nu-star", star), ("nu-raw", raw)])


def show_ladder(cells: pd.DataFrame, metric: str) -> None:
    text = st.text_area("Reference lines (one 'label = value' per line)", key="reference_lines",
                        placeholder="EASE = 0.391\nMult-VAE = 0.395")
    lines = {}
    with common.show_errors("Reading the reference lines"):
        lines = sweeps.parse_reference_lines(text or "")
    st.session_state["ladder_lines"] = lines
    st.plotly_chart(sweep_charts.ladder_figure(cells, metric, lines), key="ladder",
                    config=common.PLOTLY_CONFIG)


#: Session keys of the cell picker: its value and whether the user changed it.
CELL_CHOICE_KEY = "cell_choice"
CELL_PICKED_KEY = "cell_choice_picked"


def show_cells(cells: pd.DataFrame, results: pd.DataFrame, metric: str) -> None:
    st.markdown(f"**Cells by {metric}** (mean ± std over seeds at each run's best epoch)")
    table = cells[list(CELL_TABLE_COLUMNS)].rename(columns=CELL_TABLE_COLUMNS)
    st.dataframe(table, hide_index=True, key="cells", placeholder="—", column_config={
        "mean": st.column_config.NumberColumn(format="%.4f"),
        "std": st.column_config.NumberColumn(format="%.4f"),
        "test mean": st.column_config.NumberColumn(format="%.4f"),
        "best epoch": st.column_config.NumberColumn(format="%d"),
    })
    done = cells[cells["n_done"] > 0]
    if done.empty:
        return
    labels = [f"α₀ {r.alpha0:g} · λ {r.reg:g} · ν {r.nu:g} · d {int(r.dim)}" for r in done.itertuples()]
    # `aggregate_cells` sorts the best cell first. The picker follows the best cell, also
    # while a live sweep finds a better one, until the user picks a cell.
    state = st.session_state
    if not state.get(CELL_PICKED_KEY) or state.get(CELL_CHOICE_KEY) not in labels:
        state[CELL_CHOICE_KEY] = labels[0]
    picked = st.selectbox("Per-epoch curves of cell", labels, key=CELL_CHOICE_KEY,
                          on_change=lambda: state.update({CELL_PICKED_KEY: True}))
    run_ids = done.iloc[labels.index(picked)]["run_ids"]
    store = common.store()
    series = [(f"seed {results.loc[results['run_id'] == rid, 'seed'].iloc[0]}", store.epochs(rid))
              for rid in run_ids]
    common.show_chart_grid([
        ("cell-metric", charts.compare_figure(series, metric, uirevision="cell-metric")),
        ("cell-loss", charts.compare_figure(series, "L", log_y=True, uirevision="cell-loss")),
    ])


def show_live(sweep_id: str, seen_done: int) -> None:
    store = common.store()
    sweep = store.get_sweep(sweep_id)
    runs = sweeps.sweep_runs(store, sweep_id)
    progress = sweeps.progress_of(runs, workers=max(common.alive_workers(), 1))
    metric = st.session_state.get("metric")
    started = any(run.get("epochs_done") for run in runs)
    if progress.done != seen_done or (not metric and started):
        # A run ended or the first epoch arrived: rerun the page so the metric choice,
        # the advice and the report follow.
        st.rerun()
    show_progress(progress)
    if not metric:
        st.info("Waiting for the first epoch of a run…")
        return
    results = sweeps.sweep_results(store, sweep_id, metric)
    cells = sweeps.aggregate_cells(results, metric)
    if sweep["kind"] == "ladder":
        show_ladder(cells, metric)
    elif sweep["kind"] == "repeat":
        st.plotly_chart(sweep_charts.repeat_figure(results, metric), key="repeat",
                        config=common.PLOTLY_CONFIG)
    else:
        show_grid(results, cells, metric, sweep)
    show_cells(cells, results, metric)


def show_advice(results: pd.DataFrame, metric: str, sweep: dict) -> list:
    items = advise(results, metric)
    st.subheader("Advice")
    if not items:
        st.caption("Advice appears once runs have finished.")
    for index, item in enumerate(items):
        with st.container(border=True):
            st.markdown(f"**{item.message}**")
            st.caption(item.reason)
            if item.next_sweep and st.button("Pre-fill the next sweep", key=f"advice-{index}",
                                             icon=":material/edit_note:"):
                base = sweeps.base_spec_of(sweep)
                st.session_state["sweep_prefill"] = sweeps.form_defaults(base, item.next_sweep)
                st.switch_page(SWEEPS_PAGE)
    return items


def show_actions(sweep: dict, metric: str, items: list) -> None:
    store = common.store()
    sweep_id = sweep["id"]
    columns = st.columns(3)
    columns[0].download_button(
        "Report (HTML)",
        data=lambda: sweep_report_html(
            store.get_sweep(sweep_id), sweeps.sweep_results(store, sweep_id, metric), metric,
            items, st.session_state.get("ladder_lines"),
        ),
        file_name=f"ials-sweep-{sweep_id}.html", mime="text/html", icon=":material/description:",
        on_click="ignore", key="download-report",
    )
    active = [r for r in store.list_runs(sweep_id=sweep_id, status=("queued", "running"))]
    if active and not common.read_only():
        if columns[1].button(f"Cancel {len(active)} unfinished runs", icon=":material/stop:"):
            with common.show_errors("Cancelling the sweep"):
                for run in active:
                    store.request_cancel(run["id"])
                st.rerun()


def show_sweep(sweep_id: str) -> None:
    store = common.store()
    sweep = store.get_sweep(sweep_id)
    if sweep is None:
        st.error(f"Sweep {sweep_id!r} not found in the run store.")
        choose_sweep()
        return
    st.title(sweep.get("name") or sweep_id)
    base = sweeps.base_spec_of(sweep)
    st.caption(f"{KIND_TITLES.get(sweep['kind'], sweep['kind'])} · {sweep_id} · data set "
               f"{base.dataset} · {base.model.epochs} epochs · solver {base.model.solver}")
    with st.expander("Permalink"):
        common.show_permalink(sweep=sweep_id)

    runs = sweeps.sweep_runs(store, sweep_id)
    epochs = {run["id"]: store.epochs(run["id"]) for run in runs[:20]}
    names = views.runs_metric_names(runs[:20], epochs)
    if names:
        default = views.primary_metric(names)
        if st.session_state.get("metric") not in names:
            st.session_state["metric"] = default
        st.selectbox("Validation metric", names, key="metric",
                     help="Picks each run's best epoch and the best cell.")
    progress = sweeps.progress_of(runs)
    fragment = st.fragment(run_every=None if progress.complete else REFRESH_SECONDS)(show_live)
    fragment(sweep_id, progress.done)
    metric = st.session_state.get("metric")
    if metric:
        results = sweeps.sweep_results(store, sweep_id, metric)
        items = show_advice(results, metric, sweep)
        show_actions(sweep, metric, items)


sweep_param = st.query_params.get("sweep")
with common.show_errors("Showing the sweep"):
    if sweep_param:
        show_sweep(sweep_param)
    else:
        st.title("Sweep")
        choose_sweep()
