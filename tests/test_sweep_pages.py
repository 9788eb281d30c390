"""Sweep pages through Streamlit's AppTest, on a real SQLite run store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ials import sweeps
from ials.config import IALSConfig, RunSpec
from ials.runs.store import RunStore, make_worker_id

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60
SWEEPS_PAGE = "pages/sweeps.py"
SWEEP_PAGE = "pages/sweep.py"

# HR@10 per (α₀, λ) at the last epoch; the best cell is α₀ = 0.1, λ = 0.01.
SURFACE = {(0.1, 0.01): 0.40, (0.1, 0.001): 0.30, (0.01, 0.01): 0.25, (0.01, 0.001): 0.20}


@pytest.fixture
def store(project_dirs, monkeypatch) -> RunStore:
    from ials import limits

    for name in limits.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return RunStore(project_dirs.runs_dir)


def base_spec() -> RunSpec:
    return RunSpec(dataset="synthetic-small", model=IALSConfig(dim=8, epochs=2))


def train_like_worker(store: RunStore, run_id: str, value: float) -> None:
    """Claim, prepare, write two epochs and finish a run as a worker would."""
    claimed = store.claim_next_run(make_worker_id())
    assert claimed["id"] == run_id
    store.record_prepared(run_id, {
        "protocol": "leave-last-out", "effective_reg": 0.01, "dataset_fingerprint": "f",
        "package_version": "0.1.0",
        "dataset_info": {"train_users": 60, "items": 50, "train_interactions": 900},
    })
    for epoch, fraction in ((1, 0.5), (2, 1.0)):
        store.add_epoch(run_id, {
            "epoch": epoch, "loss": {"L_S": 50.0, "L_I": 10.0, "R": 2.0, "L": 62.0},
            "metrics": {"HR@10": value * fraction, "NDCG@10": value * fraction / 2},
            "train_seconds": 0.1, "eval_seconds": 0.1,
        })
    store.finish_run(run_id, "finished", final_metrics={"HR@10": value, "NDCG@10": value / 2})


def finished_sweep(store: RunStore) -> str:
    sweep_id = sweeps.launch_sweep(store, base_spec(), [0.1, 0.01], [0.01, 0.001])
    for run in sorted(store.list_runs(sweep_id=sweep_id), key=lambda r: r["created_at"]):
        model = run["spec"]["model"]
        train_like_worker(store, run["id"], SURFACE[(model["alpha0"], model["reg"])])
    return sweep_id


def open_page(page: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def text_input(at: AppTest, label: str):
    return next(t for t in at.text_input if t.label == label)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [t.value for t in at.title] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


# --- sweeps page ------------------------------------------------------------------------


def test_sweeps_page_form_defaults(store):
    at = open_page(SWEEPS_PAGE)
    assert "No sweeps yet" in all_text(at)
    assert text_input(at, "α₀ values").value == "1, 0.3, 0.1, 0.03, 0.01, 0.003"
    assert text_input(at, "λ values").value == "0.1, 0.03, 0.01, 0.003, 0.001, 0.0003"


def test_sweeps_page_launches_grid(store, spawned):
    at = open_page(SWEEPS_PAGE)
    text_input(at, "α₀ values").set_value("0.1, 0.01")
    text_input(at, "λ values").set_value("0.01 0.001")
    button(at, "Launch sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    [sweep] = store.list_sweeps()
    assert len(sweep["run_ids"]) == 4
    assert sweep["config"]["alpha0s"] == [0.1, 0.01]
    assert spawned, "launching must start workers"
    assert at.query_params["sweep"] == [sweep["id"]] or at.query_params["sweep"] == sweep["id"]


def test_sweeps_page_rejects_bad_grid(store, spawned):
    at = open_page(SWEEPS_PAGE)
    text_input(at, "λ values").set_value("0.01, abc")
    button(at, "Launch sweep").click().run()
    assert any("'abc' is not a number" in e.value for e in at.error), [e.value for e in at.error]
    assert store.list_sweeps() == []
    assert not spawned


def test_bad_grid_logs_one_warning_line(store, project_dirs, spawned):
    import streamlit as st

    st.cache_resource.clear()  # app.py sets up logging once per process
    at = open_page(SWEEPS_PAGE)
    text_input(at, "α₀ values").set_value("abc")
    button(at, "Launch sweep").click().run()
    assert any("'abc' is not a number" in e.value for e in at.error), [e.value for e in at.error]
    log = (project_dirs.runs_dir / "logs" / "ials.log").read_text(encoding="utf-8")
    [line] = [line for line in log.splitlines() if "Launching the sweep failed" in line]
    assert " WARNING " in line
    assert "'abc' is not a number" in line
    assert "Traceback" not in log


def test_sweeps_page_lists_sweeps(store):
    finished_sweep(store)
    at = open_page(SWEEPS_PAGE)
    assert "4 / 4 runs done" in str([p.proto for p in at.get("progress")])


def test_log_grid_button_fills_field(store):
    at = open_page(SWEEPS_PAGE)
    button(at, "Fill").click().run()  # the α₀ popover: 6 values from 1 down to 0.001
    assert text_input(at, "α₀ values").value == "1, 0.251, 0.0631, 0.0158, 0.00398, 0.001"


# --- sweep page -------------------------------------------------------------------------


def test_sweep_page_shows_heatmap_and_advice(store):
    sweep_id = finished_sweep(store)
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    text = all_text(at)
    assert "4 of 4 cells filled" in text
    assert "4 / 4 runs done" in str([p.proto for p in at.get("progress")])
    assert "Extend the α₀ grid above 0.1" in text
    assert "Repeat the best setting" in text
    cells = at.dataframe[0].value
    assert list(cells["α₀"][:1]) == [0.1]
    assert list(cells["λ"][:1]) == [0.01]
    assert cells["mean"].iloc[0] == pytest.approx(0.40)
    assert cells["best epoch"].iloc[0] == 2


def cell_picker(at: AppTest):
    return next(s for s in at.selectbox if s.label == "Per-epoch curves of cell")


def test_cell_picker_follows_best_cell(store):
    # Queued worst cell first: α₀ = 0.01 (HR@10 0.25), then α₀ = 0.1 (0.40).
    sweep_id = sweeps.launch_sweep(store, base_spec(), [0.01, 0.1], [0.01])
    first, second = sorted(store.list_runs(sweep_id=sweep_id), key=lambda r: r["created_at"])
    assert first["spec"]["model"]["alpha0"] == 0.01
    train_like_worker(store, first["id"], SURFACE[(0.01, 0.01)])
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    assert cell_picker(at).value == "α₀ 0.01 · λ 0.01 · ν 1 · d 8"

    train_like_worker(store, second["id"], SURFACE[(0.1, 0.01)])
    at.run()
    assert cell_picker(at).value == "α₀ 0.1 · λ 0.01 · ν 1 · d 8"


def test_cell_picker_keeps_user_choice(store):
    sweep_id = finished_sweep(store)
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    assert cell_picker(at).value == "α₀ 0.1 · λ 0.01 · ν 1 · d 8"
    cell_picker(at).select("α₀ 0.01 · λ 0.001 · ν 1 · d 8").run()
    at.run()
    assert cell_picker(at).value == "α₀ 0.01 · λ 0.001 · ν 1 · d 8"
    assert not at.exception


def test_sweep_page_metric_choice_changes_values(store):
    sweep_id = finished_sweep(store)
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    at.selectbox(key="metric").set_value("NDCG@10").run()
    assert at.dataframe[0].value["mean"].iloc[0] == pytest.approx(0.20)


def test_advice_button_prefills_form(store):
    sweep_id = finished_sweep(store)
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    first = next(b for b in at.button if b.label == "Pre-fill the next sweep")
    first.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Pre-filled from the advice" in all_text(at)
    assert text_input(at, "α₀ values").value == "10, 1, 0.1, 0.01"
    assert text_input(at, "λ values").value == "0.01, 0.001"


def test_root_url_routes_to_sweep_page(store):
    sweep_id = finished_sweep(store)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sweep"] = sweep_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == store.get_sweep(sweep_id)["name"]
    assert at.query_params["sweep"] in (sweep_id, [sweep_id])
    assert "4 of 4 cells filled" in all_text(at)


def test_sweep_permalink_uses_root_url(store):
    sweep_id = finished_sweep(store)
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    links = [code.value for code in at.code]
    assert links == [f"/?sweep={sweep_id}"]


def test_sweeps_page_protocols_follow_dataset(store, project_dirs):
    folder = project_dirs.data_dir / "mysplit"
    folder.mkdir()
    (folder / "train.csv").write_text("user,item\nu1,i1\nu2,i2\n")
    (folder / "test.csv").write_text("user,item\nu1,i2\n")
    (folder / "dataset.json").write_text(json.dumps(
        {"format": "predefined-split", "train_file": "train.csv", "test_file": "test.csv",
         "description": "Two-user split."}))
    at = open_page(SWEEPS_PAGE)
    protocol = at.selectbox(key="sweep_form_protocol")
    assert protocol.options[0] == "default (leave-last-out)"
    assert "predefined-split" not in protocol.options
    assert "heldout-users" in protocol.options
    protocol.set_value("heldout-users").run()

    at.selectbox(key="sweep_form_dataset").set_value("mysplit").run()
    assert not at.exception, [e.value for e in at.exception]
    protocol = at.selectbox(key="sweep_form_protocol")
    assert protocol.options == ["default (predefined-split)", "predefined-split"]
    assert protocol.value == "default"


def test_unknown_sweep_shows_error(store):
    at = open_page(SWEEP_PAGE, sweep="nosuchsweep")
    assert any("not found" in e.value for e in at.error)


def test_ladder_page_with_reference_lines(store):
    sweep_id = sweeps.launch_ladder(store, base_spec(), dims=[8, 16])
    for index, run in enumerate(sorted(store.list_runs(sweep_id=sweep_id), key=lambda r: r["created_at"])):
        train_like_worker(store, run["id"], 0.3 + 0.1 * index)
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    at.text_area(key="reference_lines").set_value("EASE = 0.45").run()
    assert not at.error, [e.value for e in at.error]
    at.text_area(key="reference_lines").set_value("EASE 0.45").run()
    assert any("label = 0.391" in e.value for e in at.error)


def test_repeat_sweep_shows_mean_and_std(store):
    source = store.create_run(base_spec().to_dict())
    train_like_worker(store, source, 0.40)
    sweep_id = sweeps.launch_repeats(store, source, n_seeds=3)
    for run, value in zip(sorted(store.list_runs(sweep_id=sweep_id), key=lambda r: r["created_at"]), (0.42, 0.44)):
        train_like_worker(store, run["id"], value)
    at = open_page(SWEEP_PAGE, sweep=sweep_id)
    cells = at.dataframe[0].value
    assert cells["seeds done"].iloc[0] == 3
    assert cells["mean"].iloc[0] == pytest.approx(0.42)
    assert cells["std"].iloc[0] == pytest.approx(0.02)
