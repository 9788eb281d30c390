"""Sweep expansion, result tables, cell aggregation and progress (pure parts)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ials.config import IALSConfig, RunSpec
from ials import sweeps


def base_spec(**model) -> RunSpec:
    return RunSpec(dataset="synthetic-small", model=IALSConfig(dim=8, epochs=4, **model))


def fake_run(run_id, alpha0, reg, seed=0, nu=1.0, dim=8, status="finished", curve=(0.1, 0.3, 0.2),
             started=100.0, finished=160.0, final=None, losses=None):
    """Return (run row, epoch rows) shaped like the run store's dicts."""
    spec = base_spec(alpha0=alpha0, reg=reg, seed=seed, nu=nu)
    spec = RunSpec.from_dict({**spec.to_dict(), "model": {**spec.model.to_dict(), "dim": dim}})
    epochs = []
    for epoch, value in enumerate(curve, start=1):
        loss = (losses or {}).get(epoch, {"L_S": 10.0, "L_I": 5.0, "R": 1.0})
        epochs.append({
            "epoch": epoch, **loss, "L": sum(loss.values()),
            "metrics": {"HR@10": value, "NDCG@10": value / 2},
            "train_seconds": 1.0, "eval_seconds": 0.1,
        })
    run = {
        "id": run_id, "name": run_id, "status": status, "spec": spec.to_dict(),
        "effective_reg": None, "created_at": started - 1, "started_at": started,
        "finished_at": finished if status == "finished" else None,
        "epochs_done": len(epochs), "epochs_total": spec.model.epochs,
        "final_metrics": final, "worker_id": "w1",
        "dataset_info": {"train_users": 100, "items": 50, "train_interactions": 1000},
    }
    return run, epochs


def frame(items, metric="HR@10"):
    runs = [run for run, _ in items]
    epochs = {run["id"]: epoch_rows for run, epoch_rows in items}
    return sweeps.results_frame(runs, epochs, metric)


# --- log_grid ---------------------------------------------------------------------------


def test_log_grid_endpoints_and_spacing():
    grid = sweeps.log_grid(0.001, 1.0, 4)
    assert grid == [0.001, 0.01, 0.1, 1.0]


def test_log_grid_descending():
    assert sweeps.log_grid(1.0, 0.01, 3) == [1.0, 0.1, 0.01]


def test_log_grid_rounds_to_three_digits():
    grid = sweeps.log_grid(0.01, 1.0, 5)
    assert grid == [0.01, 0.0316, 0.1, 0.316, 1.0]


@pytest.mark.parametrize("low, high, n", [(0, 1, 3), (-1, 1, 3), (1, math.inf, 3), (0.1, 1, 0), (0.1, 1, 1)])
def test_log_grid_rejects_bad_input(low, high, n):
    with pytest.raises(ValueError):
        sweeps.log_grid(low, high, n)


@settings(max_examples=50, deadline=None)
@given(
    low=st.floats(min_value=1e-6, max_value=1e3),
    factor=st.floats(min_value=1.5, max_value=1e4),
    n=st.integers(min_value=2, max_value=12),
)
def test_log_grid_ratios_are_constant(low, factor, n):
    high = low * factor
    grid = sweeps.log_grid(low, high, n)
    assert len(grid) == n
    ratios = np.diff(np.log(grid))
    # Rounding to 3 significant digits moves each value by at most 0.5 %, so each log
    # ratio by at most about 2 × 0.005.
    assert np.allclose(ratios, math.log(factor) / (n - 1), atol=0.011)


# --- expand_grid ------------------------------------------------------------------------


def test_expand_grid_counts_and_order():
    specs = sweeps.expand_grid(base_spec(seed=5), [0.1, 0.01], [0.3, 0.03, 0.003], nus=[0.0, 1.0], seeds=2)
    assert len(specs) == 2 * 3 * 2 * 2
    first = specs[0].model
    assert (first.nu, first.alpha0, first.reg, first.seed) == (0.0, 0.1, 0.3, 5)
    assert specs[1].model.seed == 6
    assert specs[2].model.reg == 0.03
    combos = {(s.model.nu, s.model.alpha0, s.model.reg, s.model.seed) for s in specs}
    assert len(combos) == len(specs)


def test_expand_grid_keeps_fixed_settings():
    spec = base_spec(solver="cg", cg_steps=2)
    for cell in sweeps.expand_grid(spec, [1.0], [0.1, 0.01]):
        assert cell.model.dim == 8
        assert cell.model.epochs == 4
        assert cell.model.solver == "cg"
        assert cell.model.nu == spec.model.nu
        assert cell.dataset == "synthetic-small"


def test_expand_grid_explicit_seed_list():
    specs = sweeps.expand_grid(base_spec(), [0.1], [0.01], seeds=[3, 9])
    assert [s.model.seed for s in specs] == [3, 9]


@pytest.mark.parametrize("alphas, regs, match", [
    ([], [0.1], "empty"),
    ([0.1, 0.1], [0.1], "repeats"),
    ([0.1], [-0.1], "> 0"),
    ([0.1], [float("nan")], "finite"),
    (["a"], [0.1], "numbers"),
])
def test_expand_grid_rejects_bad_grid(alphas, regs, match):
    with pytest.raises(ValueError, match=match):
        sweeps.expand_grid(base_spec(), alphas, regs)


def test_expand_grid_rejects_too_many_runs():
    grid = sweeps.log_grid(0.001, 1.0, 50)
    with pytest.raises(ValueError, match="limit"):
        sweeps.expand_grid(base_spec(), grid, grid)


def test_expand_grid_rejects_bad_seed_count():
    with pytest.raises(ValueError, match="seeds"):
        sweeps.expand_grid(base_spec(), [0.1], [0.1], seeds=0)


def test_default_grids_match_study():
    assert len(sweeps.expand_grid(base_spec(), sweeps.DEFAULT_ALPHA0S, sweeps.DEFAULT_REGS)) == 36


# --- ladders ----------------------------------------------------------------------------


def test_ladder_switches_to_block_solver():
    specs = sweeps.ladder_specs(base_spec(), dims=[512, 64, 128, 256])
    assert [s.model.dim for s in specs] == [64, 128, 256, 512]
    assert [s.model.solver for s in specs] == ["exact", "exact", "block", "block"]
    assert specs[-1].model.block_size == sweeps.LADDER_BLOCK_SIZE


def test_ladder_keeps_solver_when_disabled():
    specs = sweeps.ladder_specs(base_spec(), dims=[64, 512], block_from=None)
    assert {s.model.solver for s in specs} == {"exact"}


def test_ladder_with_reg_grid_and_seeds():
    specs = sweeps.ladder_specs(base_spec(), dims=[64, 128], regs=[0.01, 0.001], seeds=3)
    assert len(specs) == 2 * 2 * 3


@pytest.mark.parametrize("dims", [[], [0], [64, 64], [1.5]])
def test_ladder_rejects_bad_dims(dims):
    with pytest.raises(ValueError):
        sweeps.ladder_specs(base_spec(), dims=dims)


# --- results ----------------------------------------------------------------------------


def test_best_epoch_first_max_wins():
    epochs = [{"epoch": 1, "metrics": {"HR@10": 0.2}}, {"epoch": 2, "metrics": {"HR@10": 0.5}},
              {"epoch": 3, "metrics": {"HR@10": 0.5}}, {"epoch": 4, "metrics": {"HR@10": float("nan")}}]
    assert sweeps.best_epoch(epochs, "HR@10")["epoch"] == 2
    assert sweeps.best_epoch(epochs, "Recall@20") is None


def test_results_frame_reads_best_epoch():
    item = fake_run("r1", 0.1, 0.01, curve=(0.1, 0.4, 0.3), final={"HR@10": 0.35, "NDCG@10": 0.2},
                    losses={3: {"L_S": 7.0, "L_I": 2.0, "R": 1.0}})
    df = frame([item])
    row = df.iloc[0]
    assert row["best_epoch"] == 2
    assert row["HR@10"] == pytest.approx(0.4)
    assert row["NDCG@10"] == pytest.approx(0.2)
    assert row["test_HR@10"] == pytest.approx(0.35)
    assert row["L_S"] == 7.0
    assert row["L"] == 10.0
    assert row["last_gain"] == pytest.approx(-0.1)
    assert row["seconds"] == pytest.approx(60.0)
    assert df.attrs["metric"] == "HR@10"


def test_results_frame_run_without_epochs():
    df = frame([fake_run("q", 0.1, 0.01, status="queued", curve=())])
    assert df.iloc[0]["status"] == "queued"
    assert pd.isna(df.iloc[0]["HR@10"])
    assert pd.isna(df.iloc[0]["best_epoch"])


def test_results_frame_empty_has_columns():
    df = sweeps.results_frame([], {}, "HR@10")
    assert df.empty
    assert {"alpha0", "reg", "HR@10", "best_epoch"} <= set(df.columns)


def test_aggregate_cells_mean_and_std():
    items = [
        fake_run("a0", 0.1, 0.01, seed=0, curve=(0.40,)),
        fake_run("a1", 0.1, 0.01, seed=1, curve=(0.44,)),
        fake_run("a2", 0.1, 0.01, seed=2, curve=(0.42,)),
        fake_run("b0", 0.3, 0.01, seed=0, curve=(0.30,)),
        fake_run("b1", 0.3, 0.01, seed=1, status="running", curve=(0.9,)),
    ]
    cells = sweeps.aggregate_cells(frame(items))
    top = cells.iloc[0]
    assert (top["alpha0"], top["reg"]) == (0.1, 0.01)
    assert top["mean"] == pytest.approx(0.42)
    assert top["std"] == pytest.approx(np.std([0.40, 0.44, 0.42], ddof=1))
    assert top["n_done"] == 3
    assert top["best_run_id"] == "a1"
    other = cells.iloc[1]
    assert other["n_runs"] == 2
    assert other["n_done"] == 1
    assert other["mean"] == pytest.approx(0.30)
    assert pd.isna(other["std"])


def test_aggregate_cells_best_epoch_is_an_epoch():
    items = [
        fake_run("a0", 0.1, 0.01, seed=0, curve=(0.1, 0.4, 0.3, 0.2)),  # best at epoch 2
        fake_run("a1", 0.1, 0.01, seed=1, curve=(0.1, 0.2, 0.3, 0.4)),  # best at epoch 4
    ]
    cells = sweeps.aggregate_cells(frame(items))
    # The lower median of {2, 4} is 2; a mean would give the non-epoch 3.0 or 3.5.
    assert cells.iloc[0]["best_epoch"] == 2
    assert sweeps.best_setting(frame(items))["best_epoch"] == 2


def test_aggregate_cells_can_include_running():
    items = [fake_run("a", 0.1, 0.01, curve=(0.3,)), fake_run("b", 0.3, 0.01, status="running", curve=(0.9,))]
    cells = sweeps.aggregate_cells(frame(items), include_unfinished=True)
    assert cells.iloc[0]["alpha0"] == 0.3


def test_pooled_noise_std_matches_hand_computation():
    items = [
        fake_run("a0", 0.1, 0.01, seed=0, curve=(0.40,)),
        fake_run("a1", 0.1, 0.01, seed=1, curve=(0.44,)),
        fake_run("b0", 0.3, 0.01, seed=0, curve=(0.30,)),
        fake_run("b1", 0.3, 0.01, seed=1, curve=(0.31,)),
        fake_run("b2", 0.3, 0.01, seed=2, curve=(0.35,)),
        fake_run("c0", 1.0, 0.01, seed=0, curve=(0.1,)),
    ]
    squares = np.sum((np.array([0.40, 0.44]) - 0.42) ** 2) + np.sum((np.array([0.30, 0.31, 0.35]) - 0.32) ** 2)
    expected = math.sqrt(squares / (1 + 2))
    assert sweeps.pooled_noise_std(frame(items)) == pytest.approx(expected)


def test_pooled_noise_std_none_without_repeats():
    items = [fake_run("a", 0.1, 0.01), fake_run("b", 0.3, 0.01)]
    assert sweeps.pooled_noise_std(frame(items)) is None


def test_best_setting_picks_highest_mean():
    items = [
        fake_run("a", 0.1, 0.01, curve=(0.2, 0.5)),
        fake_run("b", 0.3, 0.001, curve=(0.6, 0.55)),
    ]
    best = sweeps.best_setting(frame(items))
    assert best["alpha0"] == 0.3
    assert best["reg"] == 0.001
    assert best["value"] == pytest.approx(0.6)
    assert best["best_epoch"] == 1
    assert best["run_id"] == "b"


def test_best_setting_none_without_finished_runs():
    assert sweeps.best_setting(frame([fake_run("q", 0.1, 0.01, status="queued", curve=())])) is None


def test_add_reg_scales_round_trip():
    items = [fake_run("a", 0.1, 0.01, nu=0.0), fake_run("b", 0.1, 0.01, nu=1.0)]
    df = sweeps.add_reg_scales(frame(items))
    w_bar = 2 * (1000 + 0.1 * 100 * 50) / (100 + 50)
    nu0 = df[df["nu"] == 0.0].iloc[0]
    assert nu0["lambda_raw"] == pytest.approx(0.01)
    # Raw λ = λ*·w̄^(ν* − ν) with ν* = 1, so λ* = λ / w̄ at ν = 0.
    assert nu0["lambda_star"] == pytest.approx(0.01 / w_bar)
    nu1 = df[df["nu"] == 1.0].iloc[0]
    assert nu1["lambda_star"] == pytest.approx(0.01)


# --- progress ---------------------------------------------------------------------------


def test_progress_estimate_from_finished_runs():
    runs = [
        {"status": "finished", "started_at": 0.0, "finished_at": 10.0, "worker_id": "a"},
        {"status": "finished", "started_at": 0.0, "finished_at": 30.0, "worker_id": "b"},
        {"status": "running", "started_at": 95.0, "worker_id": "a"},
        {"status": "running", "started_at": 60.0, "worker_id": "b"},
        {"status": "queued"}, {"status": "queued"}, {"status": "failed"},
    ]
    progress = sweeps.progress_of(runs, now=100.0)
    assert progress.total == 7
    assert progress.done == 3
    assert progress.queued == 2
    assert progress.mean_run_seconds == pytest.approx(20.0)
    # Work left: 2 queued × 20 s + (20 − 5) s + max(20 − 40, 0) s = 55 s over 2 workers.
    assert progress.remaining_seconds == pytest.approx(27.5)
    assert not progress.complete


def test_progress_unknown_until_first_finish():
    progress = sweeps.progress_of([{"status": "queued"}, {"status": "running", "started_at": 1.0}])
    assert progress.remaining_seconds is None
    assert progress.done == 0


def test_progress_explicit_worker_count():
    runs = [{"status": "finished", "started_at": 0.0, "finished_at": 10.0}] + [{"status": "queued"}] * 4
    assert sweeps.progress_of(runs, workers=4, now=0.0).remaining_seconds == pytest.approx(10.0)


# --- launching into a real store ----------------------------------------------------------


@pytest.fixture
def store(tmp_path, monkeypatch):
    from ials import limits
    from ials.runs.store import RunStore

    for name in limits.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return RunStore(tmp_path / "runs")


def test_launch_sweep_queues_every_cell(store):
    sweep_id = sweeps.launch_sweep(store, base_spec(), [0.1, 0.01], [0.01, 0.001], seeds=2)
    sweep = store.get_sweep(sweep_id)
    assert sweep["kind"] == "grid"
    assert len(sweep["run_ids"]) == 8
    assert sweep["config"]["alpha0s"] == [0.1, 0.01]
    assert sweep["config"]["seeds"] == [0, 1]
    runs = store.list_runs(sweep_id=sweep_id)
    assert {r["status"] for r in runs} == {"queued"}
    cells = {(r["spec"]["model"]["alpha0"], r["spec"]["model"]["reg"], r["spec"]["model"]["seed"]) for r in runs}
    assert len(cells) == 8


def test_launch_sweep_invalid_grid_writes_nothing(store):
    with pytest.raises(ValueError):
        sweeps.launch_sweep(store, base_spec(), [0.1], [0.01, -1.0])
    assert store.list_sweeps() == []
    assert store.list_runs() == []


def test_sweep_results_of_queued_sweep(store):
    sweep_id = sweeps.launch_sweep(store, base_spec(), [0.1], [0.01, 0.001])
    df = sweeps.sweep_results(store, sweep_id, "HR@10")
    assert len(df) == 2
    assert set(df["status"]) == {"queued"}
    assert df["HR@10"].isna().all()
    progress = sweeps.sweep_progress(store, sweep_id)
    assert (progress.total, progress.queued, progress.done) == (2, 2, 0)


def test_launch_repeats_counts_source_run(store):
    source = store.create_run(base_spec(seed=4).to_dict())
    sweep_id = sweeps.launch_repeats(store, source, n_seeds=3)
    sweep = store.get_sweep(sweep_id)
    assert sweep["kind"] == "repeat"
    assert sweep["config"]["seeds"] == [4, 5, 6]
    new_seeds = sorted(r["spec"]["model"]["seed"] for r in store.list_runs(sweep_id=sweep_id))
    assert new_seeds == [5, 6]
    ids = [r["id"] for r in sweeps.sweep_runs(store, sweep_id)]
    assert ids[0] == source
    assert len(ids) == 3


def test_launch_repeats_from_spec(store):
    sweep_id = sweeps.launch_repeats(store, base_spec(seed=1), n_seeds=2)
    assert sorted(r["spec"]["model"]["seed"] for r in store.list_runs(sweep_id=sweep_id)) == [1, 2]


def test_launch_repeats_rejects_unknown_run(store):
    with pytest.raises(ValueError, match="not found"):
        sweeps.launch_repeats(store, "nosuchrun", n_seeds=3)


def test_launch_ladder_and_nu_comparison(store):
    ladder = sweeps.launch_ladder(store, base_spec(), dims=[8, 16])
    assert store.get_sweep(ladder)["kind"] == "ladder"
    assert sorted(r["spec"]["model"]["dim"] for r in store.list_runs(sweep_id=ladder)) == [8, 16]
    comparison = sweeps.launch_nu_comparison(store, base_spec(), regs=[0.01, 0.001])
    runs = store.list_runs(sweep_id=comparison)
    assert len(runs) == 3 * 2
    assert all(r["spec"]["model"]["normalized_reg"] for r in runs)
    assert {r["spec"]["model"]["nu"] for r in runs} == {0.0, 0.5, 1.0}


# --- charts -------------------------------------------------------------------------------


def test_heatmap_frames_best_cell_and_leaves_gaps():
    from ials import sweep_charts

    items = [
        fake_run("a", 0.1, 0.01, curve=(0.5,)),
        fake_run("b", 0.1, 0.001, curve=(0.3,)),
        fake_run("c", 0.01, 0.01, curve=(0.2,)),
        fake_run("d", 0.01, 0.001, status="running", curve=(0.9,)),
    ]
    cells = sweeps.aggregate_cells(frame(items))
    figure = sweep_charts.heatmap_figure(cells, "HR@10")
    assert sweep_charts.filled_cell_count(figure) == 3
    heatmap = figure.data[0]
    assert list(heatmap.x) == ["0.001", "0.01"]
    assert list(heatmap.y) == ["0.01", "0.1"]
    assert heatmap.z[1][1] == pytest.approx(0.5)
    assert np.isnan(heatmap.z[0][0])
    [frame_shape] = figure.layout.shapes
    assert (frame_shape.x0, frame_shape.x1, frame_shape.y0, frame_shape.y1) == (0.5, 1.5, 0.5, 1.5)


def test_curve_figure_one_line_per_other_value():
    from ials import sweep_charts

    items = [fake_run(f"r{i}{j}s{s}", a, r, seed=s, curve=(0.1 * (i + j + 1) + 0.01 * s,))
             for i, a in enumerate([0.1, 0.01]) for j, r in enumerate([0.01, 0.001, 0.0001])
             for s in (0, 1)]
    cells = sweeps.aggregate_cells(frame(items))
    figure = sweep_charts.curve_figure(cells, "HR@10", "alpha0")
    assert len(figure.data) == 3  # one line per λ
    assert all(len(trace.x) == 2 for trace in figure.data)
    assert figure.data[0].error_y.array[0] == pytest.approx(np.std([0.0, 0.01], ddof=1))
    with pytest.raises(ValueError, match="axis"):
        sweep_charts.curve_figure(cells, "HR@10", "nu")


def test_curve_figure_labels_grid_values():
    from ials import sweep_charts

    items = [fake_run(f"r{i}", a, 0.01, curve=(0.1 * (i + 1),))
             for i, a in enumerate([0.3, 0.1, 0.03, 0.01])]
    figure = sweep_charts.curve_figure(sweeps.aggregate_cells(frame(items)), "HR@10", "alpha0")
    assert figure.layout.xaxis.type == "log"
    assert list(figure.layout.xaxis.tickvals) == [0.01, 0.03, 0.1, 0.3]
    assert list(figure.layout.xaxis.ticktext) == ["0.01", "0.03", "0.1", "0.3"]


def test_repeat_figure_labels_whole_seeds():
    from ials import sweep_charts

    items = [fake_run(f"s{seed}", 0.1, 0.01, seed=seed, curve=(0.3 + 0.01 * seed,))
             for seed in range(3)]
    figure = sweep_charts.repeat_figure(frame(items), "HR@10")
    assert figure.layout.xaxis.dtick == 1
    assert figure.layout.xaxis.tickformat == "d"


def test_ladder_figure_log2_ticks_and_reference():
    from ials import sweep_charts

    items = [fake_run(f"d{d}", 0.1, 0.01, dim=d, curve=(0.1 * k,)) for k, d in enumerate([64, 128, 256], start=1)]
    figure = sweep_charts.ladder_figure(sweeps.aggregate_cells(frame(items)), "HR@10", {"EASE": 0.25})
    assert list(figure.data[0].x) == [6.0, 7.0, 8.0]
    assert list(figure.layout.xaxis.ticktext) == ["64", "128", "256"]
    assert figure.layout.shapes[0].y0 == 0.25


def test_nu_scale_figures_use_both_scales():
    from ials import sweep_charts

    items = [fake_run(f"n{nu}{r}", 0.1, r, nu=nu, curve=(0.3,)) for nu in (0.0, 1.0) for r in (0.01, 0.001)]
    star, raw = sweep_charts.nu_scale_figures(sweeps.add_reg_scales(frame(items)), "HR@10")
    assert len(star.data) == 2
    w_bar = 2 * (1000 + 0.1 * 100 * 50) / (100 + 50)
    nu0_star = sorted(star.data[0].x)
    assert nu0_star[1] == pytest.approx(0.01 / w_bar)
    assert sorted(raw.data[0].x) == pytest.approx([0.001, 0.01])


def test_sweep_report_is_standalone_html():
    from ials.advice import advise
    from ials.sweep_report import sweep_report_html

    items = [fake_run("a", 0.1, 0.01, curve=(0.5,)), fake_run("b", 0.01, 0.01, curve=(0.3,))]
    results = frame(items)
    sweep = {"id": "s1", "kind": "grid", "name": "my <sweep>", "config": {"alpha0s": [0.1, 0.01]}}
    page = sweep_report_html(sweep, results, "HR@10", advise(results, "HR@10"))
    assert page.startswith("<!DOCTYPE html>")
    assert "my &lt;sweep&gt;" in page
    assert "<script src=" not in page
    assert "Repeat the best setting" in page
    assert page.count("plotly-graph-div") >= 3


def test_parse_helpers():
    assert sweeps.parse_grid("1, 0.3 0.1", "α₀") == [1.0, 0.3, 0.1]
    with pytest.raises(ValueError, match="'x' is not a number"):
        sweeps.parse_grid("1, x", "α₀")
    assert sweeps.parse_int_list("64, 128", "d") == [64, 128]
    assert sweeps.parse_reference_lines("EASE = 0.391\n\nMult-VAE=0.4") == {"EASE": 0.391, "Mult-VAE": 0.4}
    with pytest.raises(ValueError, match="line 1"):
        sweeps.parse_reference_lines("EASE 0.391")


def test_form_defaults_from_advice():
    spec = base_spec(alpha0=0.3)
    values = sweeps.form_defaults(spec, {"kind": "grid", "alpha0s": [0.1, 0.03], "dim": 16, "epochs": 8})
    assert values["alpha0s"] == "0.1, 0.03"
    assert values["regs"] == sweeps.format_grid(sweeps.DEFAULT_REGS)
    assert values["dim"] == 16
    assert values["dataset"] == "synthetic-small"
    repeat = sweeps.form_defaults(spec, {"kind": "repeat", "run_id": "abc", "n_seeds": 3})
    assert (repeat["kind"], repeat["repeat_run_id"], repeat["n_seeds"]) == ("repeat", "abc", 3)


def test_demo_cap_cancels_partial_sweep(store, monkeypatch):
    monkeypatch.setenv("IALS_DEMO", "1")
    monkeypatch.setenv("IALS_DEMO_MAX_CONCURRENT", "2")
    with pytest.raises(ValueError, match="rejected run 3 of 4"):
        sweeps.launch_sweep(store, base_spec(), [0.1, 0.01], [0.01, 0.001], session_id="s")
    runs = store.list_runs()
    assert len(runs) == 2
    assert {r["status"] for r in runs} == {"cancelled"}
