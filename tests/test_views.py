"""Tables, labels, progress and form checks behind the pages (no Streamlit needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ials import charts, views
from ials.config import IALSConfig


def run_dict(run_id="r1", name=None, status="finished", **model):
    values = {"dim": 64, "alpha0": 0.1, "reg": 0.003, "nu": 1.0, "epochs": 8, "solver": "exact"}
    values.update(model)
    return {
        "id": run_id, "name": name, "status": status,
        "spec": {"dataset": "synthetic", "protocol": None, "split": "validation",
                 "split_seed": 0, "model": values},
        "protocol": "leave-last-out", "effective_reg": values["reg"],
        "epochs_done": 0, "epochs_total": values["epochs"], "final_metrics": None,
        "created_at": 1_700_000_000.0, "started_at": None, "finished_at": None,
    }


def epoch(number, hr, seconds=2.0):
    return {"epoch": number, "L_S": 1.0, "L_I": 1.0, "R": 1.0, "L": 3.0,
            "metrics": {"HR@10": hr}, "train_seconds": seconds, "eval_seconds": 0.0}


def test_best_epoch_prefers_earliest_tie():
    epochs = [epoch(1, 0.2), epoch(2, 0.5), epoch(3, 0.5), epoch(4, 0.4)]
    assert views.best_epoch(epochs, "HR@10") == (0.5, 2)
    assert views.best_epoch(epochs, "NDCG@10") == (None, None)


def test_progress_estimates_time_left():
    run = run_dict(status="running", epochs=8)
    run.update(started_at=100.0, epochs_done=2)
    progress = views.run_progress(run, [epoch(1, 0.1, 3.0), epoch(2, 0.2, 5.0)], now=130.0)
    assert progress.fraction == 0.25
    assert progress.elapsed_seconds == 30.0
    assert progress.remaining_seconds == 4.0 * 6  # mean of 3 s and 5 s, six epochs left
    assert progress.text() == "epoch 2 of 8 · elapsed 30 s · about 24 s left (estimate)"


def test_progress_finished_has_no_estimate():
    run = run_dict(status="finished")
    run.update(started_at=100.0, finished_at=190.0, epochs_done=8)
    progress = views.run_progress(run, [epoch(i, 0.1) for i in range(1, 9)], now=500.0)
    assert progress.fraction == 1.0
    assert progress.elapsed_seconds == 90.0
    assert progress.remaining_seconds is None


def test_run_labels_name_differing_settings():
    runs = [run_dict("a", alpha0=0.1), run_dict("b", alpha0=0.3, dim=128), run_dict("c")]
    assert views.differing_settings(runs) == ["alpha0", "dim"]
    labels = views.run_labels(runs)
    assert labels[0] == "α₀=0.1, d=64 (a)"
    assert labels[1] == "α₀=0.3, d=128"
    assert labels[2] == "α₀=0.1, d=64 (c)"


def test_run_labels_identical_settings_use_names():
    runs = [run_dict("a", name="first"), run_dict("b")]
    assert views.run_labels(runs) == ["first", "b"]


def test_compare_frame_marks_differences():
    runs = [run_dict("a", alpha0=0.1), run_dict("b", alpha0=0.3)]
    frame = views.compare_frame(runs, {"a": [epoch(1, 0.2)], "b": [epoch(1, 0.25), epoch(2, 0.3)]})
    assert bool(frame.loc["α₀", "differs"]) is True
    assert bool(frame.loc["d", "differs"]) is False
    assert list(frame.loc["best HR@10 (epoch)", ["a", "b"]]) == ["0.2000 (1)", "0.3000 (2)"]


def test_field_errors_name_each_invalid_field():
    errors = views.field_errors({"split": "train", "model": {"alpha0": 0.0, "dim": 0, "nu": 1.0}})
    assert set(errors) == {"split", "alpha0", "dim"}
    assert "alpha0" in errors["alpha0"]
    assert "> 0" in errors["alpha0"]
    assert "dim must be an integer ≥ 1" in errors["dim"]
    assert views.field_errors({"dataset": "synthetic", "model": {"alpha0": 0.2}}) == {}


def test_field_error_single_field():
    assert views.field_error("reg", -1.0).startswith("reg (regularization λ)")
    assert views.field_error("reg", 0.01) is None
    assert views.field_error("protocol", "k-fold").startswith("protocol must be one of")


def test_effective_reg_matches_formula():
    values = {"alpha0": 0.5, "reg": 0.01, "nu": 0.0, "normalized_reg": True, "nu_ref": 1}
    n_users, n_items, nnz = 30, 20, 100
    w_bar = 2 * (100 + 0.5 * 30 * 20) / 50
    assert views.effective_reg(values, n_users, n_items, nnz) == pytest.approx(0.01 * w_bar)
    assert views.effective_reg({**values, "alpha0": -1.0}, n_users, n_items, nnz) is None


def test_runs_frame_and_filters():
    finished = run_dict("aaa111", name="baseline")
    finished.update(final_metrics={"HR@10": 0.7}, epochs_done=2)
    queued = run_dict("bbb222", status="queued", solver="cg")
    frame = views.runs_frame([finished, queued], {"aaa111": [epoch(1, 0.5), epoch(2, 0.6)]})
    first = frame.set_index("id").loc["aaa111"]
    assert first["best"] == 0.6
    assert first["best epoch"] == 2
    assert first["test"] == 0.7
    assert first["epochs"] == "2/8"
    assert list(views.filter_runs_frame(frame, statuses=["queued"])["id"]) == ["bbb222"]
    assert list(views.filter_runs_frame(frame, text="BASE")["id"]) == ["aaa111"]
    assert list(views.filter_runs_frame(frame, text="cg")["id"]) == ["bbb222"]
    assert len(views.filter_runs_frame(frame, datasets=["ml-1m"])) == 0


def test_format_duration_units():
    assert views.format_duration(42.4) == "42 s"
    assert views.format_duration(185) == "3 min 05 s"
    assert views.format_duration(7620) == "2 h 07 min"
    assert views.format_duration(None) == "—"


def test_loss_figure_keeps_zoom_key():
    figure = charts.loss_figure([epoch(2, 0.1), epoch(1, 0.2)], log_y=True, uirevision="run-x")
    assert figure.layout.uirevision == "run-x"
    assert figure.layout.yaxis.type == "log"
    assert [trace.name for trace in figure.data] == [charts.LOSS_LABELS[c] for c in charts.LOSS_COMPONENTS]
    assert list(figure.data[0].x) == [1, 2]


@given(
    effective=st.floats(1e-6, 10.0),
    n_users=st.integers(1, 5000),
    n_items=st.integers(1, 5000),
    density=st.floats(0.0, 1.0),
    alpha0=st.floats(1e-4, 10.0),
    nu=st.floats(0.0, 2.0),
    nu_ref=st.sampled_from([0, 1]),
)
def test_reg_star_for_inverts_effective_reg(effective, n_users, n_items, density, alpha0,
                                            nu, nu_ref):
    nnz = int(density * n_users * n_items)
    reg_star = views.reg_star_for(effective, n_users, n_items, nnz, alpha0, nu, nu_ref)
    config = IALSConfig(alpha0=alpha0, reg=reg_star, nu=nu, nu_ref=nu_ref, normalized_reg=True)
    assert config.effective_reg(n_users, n_items, nnz) == pytest.approx(effective, rel=1e-9)


def test_reg_star_for_by_hand():
    # w̄ = 2(|S| + α₀|U||I|)/(|U| + |I|) = 2(10 + 0.5·4·6)/(4 + 6) = 4.4.
    assert views.reg_star_for(0.01, 4, 6, 10, alpha0=0.5, nu=0.0, nu_ref=1) == \
        pytest.approx(0.01 / 4.4)
    assert views.reg_star_for(0.01, 4, 6, 10, alpha0=0.5, nu=1.0, nu_ref=0) == \
        pytest.approx(0.01 * 4.4)


def test_reg_star_for_rejects_invalid_values():
    with pytest.raises(ValueError, match="alpha0"):
        views.reg_star_for(0.01, 4, 6, 10, alpha0=-1.0, nu=1.0, nu_ref=1)
    with pytest.raises(ValueError, match="0 users"):
        views.reg_star_for(0.01, 0, 6, 10, alpha0=0.5, nu=1.0, nu_ref=1)


@pytest.mark.parametrize(("largest", "step"), [(1, 1), (4, 1), (10, 1), (11, 2), (20, 2),
                                               (21, 5), (64, 10), (101, 20), (1000, 100)])
def test_integer_ticks_step(largest, step):
    settings = charts.integer_ticks(largest)
    assert settings["dtick"] == step
    assert settings["tickmode"] == "linear"
    assert settings["tickformat"] == "d"


def test_loss_figure_labels_whole_epochs():
    epochs = [dict(epoch(number, 0.1), L_S=2.0 / number) for number in range(1, 5)]
    figure = charts.loss_figure(epochs, log_y=True)
    assert figure.layout.xaxis.dtick == 1
    assert figure.layout.xaxis.tickmode == "linear"


def test_log_ticks_label_one_two_five():
    settings = charts.log_ticks([0.35, 0.9, 2.7])
    assert settings["tickvals"] == [0.5, 1.0, 2.0]
    assert settings["ticktext"] == ["0.5", "1", "2"]
    assert settings["type"] == "log"


def test_log_ticks_narrow_span_labels_digits():
    settings = charts.log_ticks([0.29, 0.52])
    assert settings["tickvals"] == [0.3, 0.4, 0.5]
    # One round value (0.4) is too few labels, so plotly places the ticks.
    assert "tickvals" not in charts.log_ticks([0.31, 0.48])


def test_log_ticks_wide_span_keeps_plotly_ticks():
    settings = charts.log_ticks([1e-4, None, float("nan"), 0.0, 10.0])
    assert "tickvals" not in settings
    assert settings["type"] == "log"


def test_training_counts_leave_no_cached_split(tmp_path):
    from ials import data

    counts = views.training_counts("synthetic-tiny", "leave-last-out", "validation", 0, tmp_path)
    assert len(data._splits) == 0  # the dashboard process keeps no training data
    assert len(data._interactions) == 0
    split = data.make_split(data.load_interactions("synthetic-tiny", tmp_path),
                            "leave-last-out", "validation", 0)
    assert counts.n_users == split.train.shape[0]
    assert counts.n_items == split.train.shape[1]
    assert counts.nnz == split.train.nnz
