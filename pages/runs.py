"""All runs: a sortable, filterable table with open, compare, cancel, delete, rename,
notes and import."""

from __future__ import annotations

import json

import streamlit as st

from ials import views
from pages import _common as common

common.route_through_app()

COLUMN_CONFIG = {
    "id": st.column_config.TextColumn("id", width="small"),
    "name": st.column_config.TextColumn("name"),
    "dataset": st.column_config.TextColumn("data set"),
    "status": st.column_config.TextColumn("status", width="small"),
    "alpha0": st.column_config.NumberColumn("α₀", format="%.3g", help="unobserved weight"),
    "reg": st.column_config.NumberColumn("λ", format="%.3g", help="effective regularization"),
    "nu": st.column_config.NumberColumn("ν", format="%.3g", help="frequency exponent"),
    "dim": st.column_config.NumberColumn("d", help="embedding dimension"),
    "solver": st.column_config.TextColumn("solver", width="small"),
    "epochs": st.column_config.TextColumn("epochs", help="epochs done / planned"),
    "metric": st.column_config.TextColumn("metric", help="headline metric of the run"),
    "best": st.column_config.NumberColumn("best", format="%.4f",
                                          help="best per-epoch value of the metric"),
    "best epoch": st.column_config.NumberColumn("at epoch"),
    "test": st.column_config.NumberColumn("test", format="%.4f",
                                          help="the metric on the test set after the last epoch"),
    "duration": st.column_config.NumberColumn("duration (s)", format="%.0f"),
    "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
}


#: Names and outcomes first, so they stay visible when the table scrolls sideways.
COLUMN_ORDER = [
    "name", "status", "dataset", "metric", "best", "best epoch", "test", "alpha0", "reg",
    "nu", "dim", "solver", "epochs", "duration", "created", "id",
]


TABLE_KEY = "runs-table"
#: Session key of the run ids in the table's row order at the last render.
TABLE_IDS_KEY = "runs-table-ids"
#: Seconds between refreshes of the table while a run is queued or running.
REFRESH_SECONDS = 2.0


def load_table():
    store = common.store()
    runs = store.list_runs()
    epochs_by_run = {run["id"]: store.epochs(run["id"]) for run in runs}
    return runs, views.runs_frame(runs, epochs_by_run)


def show_filters(runs: list[dict]) -> tuple[list[str], list[str], str]:
    """Show the filter fields; return the chosen statuses, data sets and search text."""
    columns = st.columns([3, 3, 4, 2], vertical_alignment="bottom")
    statuses = columns[0].multiselect("Status", views.STATUSES, placeholder="any status")
    names = sorted({run["spec"].get("dataset") for run in runs} - {None})
    datasets = columns[1].multiselect("Data set", names, placeholder="any data set")
    text = columns[2].text_input("Search", placeholder="id, name, data set or solver")
    columns[3].button("Refresh", icon=":material/refresh:", width="stretch")
    return statuses, datasets, text


def keep_selection(shown_ids: list[str]) -> None:
    """Keep the selected runs selected when the table's rows change.

    st.dataframe stores its selection as row positions, so a new run, a deleted run or
    another filter would otherwise shift the selection onto other runs.
    """
    previous = st.session_state.get(TABLE_IDS_KEY)
    st.session_state[TABLE_IDS_KEY] = shown_ids
    state = st.session_state.get(TABLE_KEY)
    if previous is None or previous == shown_ids or not state:
        return
    selected = {previous[row] for row in state["selection"]["rows"] if row < len(previous)}
    rows = [index for index, run_id in enumerate(shown_ids) if run_id in selected]
    st.session_state[TABLE_KEY] = {"selection": {"rows": rows, "columns": [], "cells": []}}


def show_table(filters: tuple[list[str], list[str], str], refreshing: bool) -> None:
    """Show the filtered table and the actions on its selected rows.

    With ``refreshing``, this runs as a fragment every `REFRESH_SECONDS`; once no run is
    queued or running it reruns the page, which stops the timer.
    """
    # A timed rerun runs only this function, outside main()'s error display.
    with common.show_errors("Refreshing the runs"):
        table_and_actions(filters, refreshing)


def table_and_actions(filters: tuple[list[str], list[str], str], refreshing: bool) -> None:
    runs, frame = load_table()
    active = [run for run in runs if run["status"] in views.ACTIVE_STATUSES]
    if refreshing and not active:
        st.rerun()
    shown = views.filter_runs_frame(frame, *filters)
    note = f" · {len(active)} active, refreshing every {REFRESH_SECONDS:g} s" if active else ""
    st.caption(f"{len(shown)} of {len(frame)} runs{note} · select rows to act on them · "
               "click a column header to sort")
    shown_ids = list(shown["id"])
    keep_selection(shown_ids)
    event = st.dataframe(
        shown, key=TABLE_KEY, hide_index=True, column_config=COLUMN_CONFIG,
        column_order=COLUMN_ORDER,
        on_select="rerun", selection_mode="multi-row", width="stretch", placeholder="—",
    )
    by_id = {run["id"]: run for run in runs}
    selected = [by_id[shown_ids[row]] for row in event.selection.rows if row < len(shown_ids)]
    show_actions(selected)


def show_actions(selected: list[dict]) -> None:
    ids = [run["id"] for run in selected]
    store = common.store()
    locked = common.read_only()
    columns = st.columns(4)
    if columns[0].button("Open", icon=":material/open_in_new:", disabled=len(ids) != 1,
                         width="stretch", help="Open the selected run"):
        st.switch_page(common.RUN_PAGE, query_params={"run": ids[0]})
    if columns[1].button("Compare", icon=":material/compare_arrows:", disabled=len(ids) < 2,
                         width="stretch", help="Overlay the selected runs (select 2 or more)"):
        st.switch_page(common.COMPARE_PAGE, query_params={"compare": ",".join(ids)})
    active = [run["id"] for run in selected if run["status"] in views.ACTIVE_STATUSES]
    if columns[2].button("Cancel", icon=":material/stop:", disabled=locked or not active,
                         width="stretch", help="Cancel the selected queued or running runs"):
        with common.show_errors("Cancelling runs"):
            for run_id in active:
                store.request_cancel(run_id)
            st.toast(f"Cancel requested for {len(active)} run(s).")
            st.rerun()
    if columns[3].button("Delete…", icon=":material/delete:", disabled=locked or not ids,
                         width="stretch", help="Delete the selected runs and their epochs"):
        st.session_state["runs_to_delete"] = ids
    confirm_delete()
    if len(selected) == 1 and not locked:
        edit_run(selected[0])


def confirm_delete() -> None:
    ids = st.session_state.get("runs_to_delete")
    if not ids:
        return
    st.warning(f"Delete {len(ids)} run(s) ({', '.join(ids)}) and their epochs? "
               "This cannot be undone.")
    left, right = st.columns(2)
    if left.button("Delete for good", type="primary", key="confirm-delete"):
        del st.session_state["runs_to_delete"]
        with common.show_errors("Deleting runs"):
            for run_id in ids:
                common.store().delete_run(run_id)
            st.toast(f"Deleted {len(ids)} run(s).")
            st.rerun()
    if right.button("Keep them", key="keep-runs"):
        del st.session_state["runs_to_delete"]
        st.rerun()


def edit_run(run: dict) -> None:
    with st.expander(f"Rename or add notes to {run['id']}"):
        with st.form(f"edit-{run['id']}"):
            name = st.text_input("Name", value=run.get("name") or "")
            notes = st.text_area("Notes", value=run.get("notes") or "")
            if st.form_submit_button("Save"):
                with common.show_errors("Saving the name and notes"):
                    common.store().rename_run(run["id"], name.strip() or None)
                    common.store().set_notes(run["id"], notes)
                    st.toast("Saved.")
                    st.rerun()


def import_runs() -> None:
    with st.expander("Import a run from JSON"):
        uploaded = st.file_uploader("Run file exported from a run page", type=["json"],
                                    disabled=common.read_only())
        if uploaded is not None and st.button("Import", icon=":material/upload:"):
            with common.show_errors("Importing the run"):
                payload = json.loads(uploaded.getvalue().decode("utf-8"))
                run_id = common.store().import_run(payload, session_id=common.session_id())
                st.success(f"Imported as run {run_id}.")
                st.page_link(common.RUN_PAGE, label="Open it", query_params={"run": run_id})


def main() -> None:
    st.title("Runs")
    runs = common.store().list_runs()
    if not runs:
        st.info("No runs yet. Start one on the synthetic data set, which needs no download.")
        st.page_link(common.NEW_RUN_PAGE, label="New run", icon=":material/play_arrow:")
        import_runs()
        return
    filters = show_filters(runs)
    refreshing = any(run["status"] in views.ACTIVE_STATUSES for run in runs)
    st.fragment(run_every=REFRESH_SECONDS if refreshing else None)(show_table)(filters, refreshing)
    import_runs()


with common.show_errors("Listing the runs"):
    main()
