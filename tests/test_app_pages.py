"""Page logic of the dashboard through Streamlit's AppTest, on a real SQLite run store.

Runs are inserted through the `RunStore` API the workers use (claim, prepare, epochs,
finish), so the pages read exactly what a worker would have written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ials import report, views
from ials.config import IALSConfig, RunSpec
from ials.runs.store import RunStore, make_worker_id

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


def make_run(store: RunStore, name=None, alpha0=0.1, epochs_done=3, status="finished",
             split="validation") -> str:
    """Insert a run as a worker would: queued, claimed, prepared, epochs, finished."""
    model = IALSConfig(dim=8, epochs=4, alpha0=alpha0, reg=0.01)
    spec = RunSpec(dataset="synthetic-tiny", split=split, model=model).to_dict()
    run_id = store.create_run(spec, name=name)
    if status == "queued":
        return run_id
    claimed = store.claim_next_run(make_worker_id())
    assert claimed["id"] == run_id
    store.record_prepared(run_id, {
        "protocol": "leave-last-out", "effective_reg": 0.0123,
        "dataset_fingerprint": "f1ng3rpr1nt", "package_version": "0.1.0",
        "dataset_info": {"train_users": 60, "items": 50, "train_interactions": 900},
    })
    for epoch in range(1, epochs_done + 1):
        store.add_epoch(run_id, {
            "epoch": epoch,
            "loss": {"L_S": 100.0 / epoch, "L_I": 10.0 / epoch, "R": 1.0 + epoch, "L": 111.0 / epoch + epoch},
            "metrics": {"HR@10": 0.1 * epoch, "NDCG@10": 0.05 * epoch},
            "train_seconds": 0.5, "eval_seconds": 0.25,
        })
    if status == "finished":
        store.finish_run(run_id, "finished", final_metrics={"HR@10": 0.4321, "NDCG@10": 0.2109})
    elif status in ("failed", "cancelled"):
        store.finish_run(run_id, status, error="numba kernel exploded" if status == "failed" else None)
    return run_id


@pytest.fixture
def store(project_dirs) -> RunStore:
    return RunStore(project_dirs.runs_dir)


def open_page(page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page)
        at.query_params.update(query)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def launch_button(at: AppTest):
    return next(b for b in at.button if b.label == "Launch")


def number_input(at: AppTest, label_start: str):
    return next(n for n in at.number_input if n.label.startswith(label_start))


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [t.value for t in at.title] + [c.value for c in at.code]
    return "\n".join(str(p) for p in parts)


# --- new run ---------------------------------------------------------------------------


def test_new_run_defaults_to_synthetic(store):
    at = open_page("pages/new_run.py")
    assert at.selectbox[0].value == "synthetic"
    assert not at.error
    assert launch_button(at).disabled is False
    assert all(n.help for n in at.number_input), "every hyperparameter needs inline help"


def test_new_run_invalid_alpha0_disables_launch(store):
    at = open_page("pages/new_run.py")
    number_input(at, "Unobserved weight").set_value(-0.5).run()
    messages = [e.value for e in at.error]
    assert any("alpha0" in m and "-0.5" in m for m in messages), messages
    assert launch_button(at).disabled is True
    number_input(at, "Unobserved weight").set_value(0.3).run()
    assert not at.error
    assert launch_button(at).disabled is False


def test_new_run_invalid_dim_shows_message(store):
    at = open_page("pages/new_run.py")
    number_input(at, "Embedding dimension").set_value(0).run()
    assert any("dim must be an integer ≥ 1" in e.value for e in at.error)
    assert launch_button(at).disabled is True


def test_new_run_normalized_reg_shows_effective(store, project_dirs):
    at = open_page("pages/new_run.py")
    next(t for t in at.toggle if t.label == "Normalized λ").set_value(True).run()
    number_input(at, "Normalized λ*").set_value(0.002).run()
    number_input(at, "Frequency exponent").set_value(0.0).run()
    shown = next(m for m in at.metric if m.label.startswith("Effective λ"))
    # With ν = 0 and ν* = 1, λ = λ*·w̄ where w̄ = 2(|S| + α₀|U||I|)/(|U| + |I|).
    counts = views.training_counts("synthetic", "leave-last-out", "validation", 0,
                                   project_dirs.data_dir)
    users, items, nnz = counts.n_users, counts.n_items, counts.nnz
    w_bar = 2 * (nnz + 0.1 * users * items) / (users + items)
    assert float(shown.value) == pytest.approx(0.002 * w_bar, rel=1e-3)
    assert f"{users:,} users × {items:,} items" in texts(at)


def test_new_run_toggle_keeps_effective_reg(store, project_dirs):
    counts = views.training_counts("synthetic", "leave-last-out", "validation", 0,
                                   project_dirs.data_dir)
    users, items, nnz = counts.n_users, counts.n_items, counts.nnz
    w_bar = 2 * (nnz + 0.1 * users * items) / (users + items)

    def effective_shown(at) -> float:
        return float(next(m for m in at.metric if m.label.startswith("Effective λ")).value)

    at = open_page("pages/new_run.py")
    number_input(at, "Frequency exponent").set_value(0.5).run()
    number_input(at, "Regularization λ").set_value(0.004).run()
    toggle = next(t for t in at.toggle if t.label == "Normalized λ")
    toggle.set_value(True).run()
    # λ* = λ / w̄^(ν* − ν) with ν* = 1 and ν = 0.5.
    assert number_input(at, "Normalized λ*").value == pytest.approx(0.004 / w_bar ** 0.5)
    assert effective_shown(at) == pytest.approx(0.004, rel=1e-3)
    assert "Converted λ = 4.000e-03 to λ*" in texts(at)
    assert not at.exception

    number_input(at, "Normalized λ*").set_value(0.002).run()
    assert "Converted" not in texts(at), "the note shows only right after a conversion"
    next(t for t in at.toggle if t.label == "Normalized λ").set_value(False).run()
    assert number_input(at, "Regularization λ").value == pytest.approx(0.002 * w_bar ** 0.5)
    assert effective_shown(at) == pytest.approx(0.002 * w_bar ** 0.5, rel=1e-3)
    assert "Converted λ* = 2.000e-03 to its effective λ" in texts(at)


def test_new_run_launch_creates_queued_run(store, spawned):
    at = open_page("pages/new_run.py")
    at.selectbox[0].select("synthetic-small").run()
    number_input(at, "Embedding dimension").set_value(8).run()
    number_input(at, "Epochs").set_value(3).run()
    next(t for t in at.text_input if t.label.startswith("Run name")).input("first try").run()
    launch_button(at).click().run()
    assert not at.exception
    runs = store.list_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run["status"] == "queued"
    assert run["name"] == "first try"
    assert run["spec"]["dataset"] == "synthetic-small"
    assert run["spec"]["model"]["dim"] == 8
    assert run["spec"]["model"]["epochs"] == 3
    assert len(spawned) == 1
    assert at.query_params.get("run") == run["id"]
    assert at.title[0].value == "Run first try"


def test_new_run_read_only_disables_launch(store, monkeypatch):
    monkeypatch.setenv("IALS_READ_ONLY", "1")
    at = open_page("pages/new_run.py")
    assert launch_button(at).disabled is True
    assert any("read-only" in i.value for i in at.info)


# --- run page ----------------------------------------------------------------------------


def test_run_page_shows_finished_run(store):
    run_id = make_run(store, name="baseline")
    at = open_page("pages/run.py", run=run_id)
    assert at.title[0].value == "Run baseline"
    assert "Status: **finished**" in texts(at)
    metrics = at.dataframe[0].value
    assert list(metrics.columns) == ["HR@10", "NDCG@10"]
    assert list(metrics.loc["final (test)"]) == ["0.4321", "0.2109"]
    assert list(metrics.loc["best per epoch (validation)"]) == ["0.3000", "0.1500"]
    assert list(metrics.loc["at epoch"]) == ["3", "3"]
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # loss + one per metric
    settings = at.dataframe[1].value
    values = dict(zip(settings["setting"], settings["value"]))
    assert values["effective λ"] == "0.0123"
    assert values["data set fingerprint"] == "f1ng3rpr1nt"
    assert values["package version"] == "0.1.0"
    assert values["α₀"] == "0.1"
    assert f"?run={run_id}" in texts(at)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Report (HTML)", "Export JSON", "Epochs (CSV)"]
    assert not [b for b in at.button if b.label == "Cancel run"]


def test_run_page_running_run_can_be_cancelled(store):
    run_id = make_run(store, status="running", epochs_done=2)
    at = open_page("pages/run.py", run=run_id)
    assert "Status: **running**" in texts(at)
    progress = at.get("progress")[0]
    assert "epoch 2 of 4" in progress.proto.text
    next(b for b in at.button if b.label == "Cancel run").click().run()
    assert store.get_run(run_id)["cancel_requested"] is True
    assert "cancel requested" in texts(at)


def test_run_page_failed_run_shows_error(store):
    run_id = make_run(store, status="failed", epochs_done=1)
    at = open_page("pages/run.py", run=run_id)
    assert any("numba kernel exploded" in e.value for e in at.error)


def test_run_page_unknown_id_shows_message(store):
    at = open_page("pages/run.py", run="doesnotexist")
    assert any("not found" in e.value for e in at.error)


def test_permalink_routes_to_run_page(store):
    run_id = make_run(store, name="shared")
    at = open_page(None, run=run_id)
    assert at.title[0].value == "Run shared"


def test_permalink_routes_to_compare_page(store):
    first, second = make_run(store, alpha0=0.1), make_run(store, alpha0=0.3)
    at = open_page(None, compare=f"{first},{second}")
    assert at.title[0].value == "Compare runs"
    assert at.multiselect[0].value == [first, second]


# --- runs page ---------------------------------------------------------------------------


def test_runs_page_lists_and_filters(store):
    finished = make_run(store, name="good one")
    queued = make_run(store, name="waiting", status="queued")
    at = open_page("pages/runs.py")
    table = at.dataframe[0].value
    assert set(table["id"]) == {finished, queued}
    row = table.set_index("id").loc[finished]
    assert row["best"] == pytest.approx(0.3)
    assert row["best epoch"] == 3
    assert row["test"] == pytest.approx(0.4321)
    assert row["metric"] == "HR@10"
    next(m for m in at.multiselect if m.label == "Status").select("queued").run()
    assert list(at.dataframe[0].value["id"]) == [queued]


def test_runs_page_compare_and_delete(store):
    first, second = make_run(store, alpha0=0.1), make_run(store, alpha0=0.3)
    at = open_page("pages/runs.py")
    ids = list(at.dataframe[0].value["id"])
    at.session_state["runs-table"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    compare = next(b for b in at.button if b.label == "Compare")
    assert compare.disabled is False
    next(b for b in at.button if b.label == "Delete…").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Delete for good").click().run()
    assert store.list_runs() == []
    assert set(ids) == {first, second}


def test_runs_page_selection_follows_run(store):
    chosen = make_run(store, name="chosen")
    at = open_page("pages/runs.py")
    at.session_state["runs-table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert [e.label for e in at.expander][0] == f"Rename or add notes to {chosen}"

    newer = make_run(store, name="newer", status="queued")
    at.run()
    table = at.dataframe[0].value
    assert list(table["id"]) == [newer, chosen]
    assert [e.label for e in at.expander][0] == f"Rename or add notes to {chosen}"


def test_runs_page_notes_active_runs(store):
    make_run(store, name="done")
    make_run(store, name="waiting", status="queued")
    at = open_page("pages/runs.py")
    assert any("2 of 2 runs · 1 active, refreshing every 2 s" in c.value for c in at.caption)


def test_runs_page_without_active_runs_has_no_note(store):
    make_run(store, name="done")
    at = open_page("pages/runs.py")
    assert any(c.value.startswith("1 of 1 runs · select rows") for c in at.caption)


def test_runs_page_rename_and_notes(store):
    run_id = make_run(store)
    at = open_page("pages/runs.py")
    at.session_state["runs-table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    next(t for t in at.text_input if t.label == "Name").input("renamed")
    at.text_area[0].input("λ looks too small")
    next(b for b in at.button if b.label == "Save").click().run()
    run = store.get_run(run_id)
    assert run["name"] == "renamed"
    assert run["notes"] == "λ looks too small"


def test_runs_page_imports_json(store):
    run_id = make_run(store, name="exported")
    payload = report.run_to_json(store.get_run(run_id), store.epochs(run_id))
    at = open_page("pages/runs.py")
    at.file_uploader[0].upload("run.json", payload.encode(), "application/json").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.error, [e.value for e in at.error]
    runs = store.list_runs()
    assert len(runs) == 2
    imported = next(run for run in runs if run["id"] != run_id)
    assert imported["name"] == "exported"
    assert len(store.epochs(imported["id"])) == 3


def test_runs_page_rejects_bad_json(store):
    make_run(store)
    at = open_page("pages/runs.py")
    bad = json.dumps({"format": "other"}).encode()
    at.file_uploader[0].upload("run.json", bad, "application/json").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert any("not an exported run" in e.value for e in at.error)
    assert not at.exception


# --- compare page ------------------------------------------------------------------------


def test_compare_page_overlays_two_runs(store):
    first = make_run(store, alpha0=0.1, name="a")
    second = make_run(store, alpha0=0.3, name="b", epochs_done=2, status="running")
    at = open_page("pages/compare.py", compare=f"{first},{second}")
    charts = at.get("plotly_chart")
    assert len(charts) == 6  # four loss components + two metrics
    figure = json.loads(charts[0].proto.spec)
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["α₀=0.1", "α₀=0.3"]
    table = at.dataframe[0].value
    assert list(table.loc["α₀"]) == ["0.1", "0.3"]
    assert list(table.loc["d"]) == ["8", "8"]
    assert table.loc["final test HR@10"].tolist() == ["0.4321", "—"]
    assert f"?compare={first},{second}" in texts(at)


def test_compare_page_reports_missing_ids(store):
    first = make_run(store)
    at = open_page("pages/compare.py", compare=f"{first},gone")
    assert any("gone" in w.value for w in at.warning)
    assert at.multiselect[0].value == [first]


# --- logging ------------------------------------------------------------------------------


def test_app_logs_to_runs_dir(store, project_dirs, spawned):
    import streamlit as st

    st.cache_resource.clear()  # app.py sets up logging once per process
    at = open_page("pages/new_run.py")
    launch_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    [run] = store.list_runs()
    log = (project_dirs.runs_dir / "logs" / "ials.log").read_text(encoding="utf-8")
    assert " app __main__: dashboard started: runs directory " in log
    assert f"run {run['id']} queued" in log


# --- start page and sidebar -------------------------------------------------------------------------------


def test_sidebar_shows_demo_banner_and_workers(store, monkeypatch):
    monkeypatch.setenv("IALS_DEMO", "1")
    monkeypatch.setenv("IALS_DEMO_MAX_DIM", "128")
    at = open_page(None)
    assert any("Demo limits: embedding dimension d ≤ 128" in i.value for i in at.info)
    assert any("0 workers running" in c.value for c in at.caption)


def test_home_lists_latest_runs(store):
    make_run(store, name="older")
    make_run(store, name="newer", status="queued")
    at = open_page(None)
    assert at.title[0].value == "iALS tuning dashboard"
    labels = [link.proto.label for link in at.get("page_link") if "·" in link.proto.label]
    assert labels[0].startswith("newer · queued · synthetic-tiny · 0/4 epochs")
    assert labels[1].startswith("older · finished · synthetic-tiny · 3/4 epochs")


# --- Streamlit settings ------------------------------------------------------------------


def test_streamlit_config_keys_exist():
    import tomllib

    from streamlit import config

    path = Path(APP).parent / ".streamlit" / "config.toml"
    settings = tomllib.loads(path.read_text(encoding="utf-8"))
    options = config._config_options_template
    for section, values in settings.items():
        for name in values:
            assert f"{section}.{name}" in options, f"unknown Streamlit option {section}.{name}"
    assert settings["browser"]["gatherUsageStats"] is False
    assert settings["client"]["toolbarMode"] == "viewer"
