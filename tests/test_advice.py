"""Tuning advice rules on constructed result grids."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ials import advice
from ials.sweeps import DEFAULT_ALPHA0S, DEFAULT_REGS

ALPHAS = sorted(DEFAULT_ALPHA0S)  # 0.003 … 1
REGS = sorted(DEFAULT_REGS)  # 0.0003 … 0.1
METRIC = "HR@10"


def grid_results(value_at, alphas=ALPHAS, regs=REGS, seed_offsets=(0.0,), epochs=8, dim=64,
                 losses=None, last_gain=0.0, status="finished"):
    """Return a results table with one finished run per cell and seed.

    ``value_at(i, j)`` gives the metric of the cell at α₀ index i and λ index j (indices
    into the ascending grids); each seed adds its offset to it.
    """
    rows = []
    for i, alpha0 in enumerate(alphas):
        for j, reg in enumerate(regs):
            for seed, offset in enumerate(seed_offsets):
                loss = (losses or {}).get((i, j), {"L_S": 10.0, "L_I": 4.0, "R": 1.0})
                rows.append({
                    "run_id": f"a{i}r{j}s{seed}", "status": status, "dim": dim, "nu": 1.0,
                    "alpha0": alpha0, "reg": reg, "seed": seed, "solver": "exact",
                    "epochs": epochs, "epochs_done": epochs, "best_epoch": epochs - 2,
                    METRIC: value_at(i, j) + offset, **loss, "L": sum(loss.values()),
                    "last_gain": last_gain,
                })
    frame = pd.DataFrame(rows)
    frame.attrs["metric"] = METRIC
    return frame


def bowl(center_i, center_j, curvature=0.008, peak=0.5):
    """Return a smooth ∩-shaped surface with its peak at grid indices (center_i, center_j)."""
    return lambda i, j: peak - curvature * ((i - center_i) ** 2 + (j - center_j) ** 2)


def kinds(items):
    return [item.kind for item in items]


def of_kind(items, kind):
    return [item for item in items if item.kind == kind]


# --- edge -------------------------------------------------------------------------------


def test_edge_best_extends_alpha_grid_down():
    items = advice.advise(grid_results(bowl(-1, 2)), METRIC, noise_std=0.005)
    extend = of_kind(items, advice.EXTEND_GRID)
    assert len(extend) == 1
    suggestion = extend[0].next_sweep
    assert suggestion["kind"] == "grid"
    assert suggestion["alpha0s"] == [0.01, 0.003, 0.0009, 0.00027]
    assert suggestion["regs"] == sorted(REGS, reverse=True)
    assert suggestion["dim"] == 64
    assert suggestion["epochs"] == 8
    assert "0.003" in extend[0].reason
    assert "smallest" in extend[0].reason


def test_edge_best_extends_reg_grid_up():
    items = advice.advise(grid_results(bowl(2, 7)), METRIC, noise_std=0.005)
    extend = of_kind(items, advice.EXTEND_GRID)
    assert len(extend) == 1
    new_values = extend[0].next_sweep["regs"]
    assert new_values[0] == pytest.approx(0.1 * (0.1 / 0.03) ** 2, rel=0.01)
    assert 0.1 in new_values
    assert 0.03 in new_values
    assert advice.DOUBLE_DIM not in kinds(items)


def test_corner_best_extends_both_axes():
    items = advice.advise(grid_results(bowl(6, -1)), METRIC, noise_std=0.005)
    extend = of_kind(items, advice.EXTEND_GRID)
    assert len(extend) == 2
    alpha_item, reg_item = extend
    assert max(alpha_item.next_sweep["alpha0s"]) > max(ALPHAS)
    assert alpha_item.next_sweep["regs"] == sorted(REGS, reverse=True)
    assert min(reg_item.next_sweep["regs"]) < min(REGS)
    assert reg_item.next_sweep["alpha0s"] == sorted(ALPHAS, reverse=True)


def test_interior_best_has_no_edge_advice():
    items = advice.advise(grid_results(bowl(2, 3)), METRIC, noise_std=0.005)
    assert advice.EXTEND_GRID not in kinds(items)


# --- abrupt step ------------------------------------------------------------------------


def test_abrupt_step_refines_between_neighbours():
    def cliff(i, j):
        smooth = bowl(2, 3)(i, j)
        return smooth if i <= 3 else smooth - 0.25  # α₀ 0.1 → 0.3 falls off a cliff

    items = advice.advise(grid_results(cliff), METRIC, noise_std=0.005)
    refine = of_kind(items, advice.REFINE)
    assert refine, kinds(items)
    top = refine[0]
    assert "between 0.1 and 0.3" in top.message
    assert top.next_sweep["alpha0s"] == [0.3, 0.208, 0.144, 0.1]
    # The λ values next to every row where the cliff is near the top are kept.
    assert 0.003 in top.next_sweep["regs"]
    assert "jumps" in top.reason


def test_refine_ignores_jumps_in_bad_region():
    def cliff_far_from_best(i, j):
        smooth = bowl(2, 3, curvature=0.03)(i, j)
        return smooth if i <= 4 else 0.05  # α₀ 0.3 → 1: both cells below 90 % of the best

    items = advice.advise(grid_results(cliff_far_from_best), METRIC, noise_std=0.005)
    assert of_kind(items, advice.REFINE)
    for item in of_kind(items, advice.REFINE):
        assert "0.3 and 1" not in item.message


def test_refine_threshold_scales_with_noise():
    # A 3 × 3 grid whose neighbouring cells all differ by 0.03.
    small = grid_results(bowl(1, 1, curvature=0.03), alphas=[0.01, 0.03, 0.1], regs=[0.003, 0.01, 0.03])
    # Abrupt for noise 0.005 (threshold 3·√2·0.005 = 0.021) …
    assert of_kind(advice.advise(small, METRIC, noise_std=0.005), advice.REFINE)
    # … but within noise 0.01 (threshold 0.042).
    assert not of_kind(advice.advise(small, METRIC, noise_std=0.01), advice.REFINE)


def test_refine_items_are_capped():
    def checkerboard(i, j):
        return 0.5 - 0.04 * ((i + j) % 2)

    items = advice.advise(grid_results(checkerboard), METRIC, noise_std=0.001)
    assert len(of_kind(items, advice.REFINE)) == advice.REFINE_MAX_ITEMS


# --- flat -------------------------------------------------------------------------------


def test_flat_reg_curve_widens_range():
    def flat_in_reg(i, j):
        return 0.5 - 0.03 * (i - 2) ** 2 + (0.001 if j == 3 else 0.0)

    items = advice.advise(grid_results(flat_in_reg), METRIC, noise_std=0.002)
    widen = of_kind(items, advice.WIDEN_RANGE)
    assert len(widen) == 1
    assert "λ" in widen[0].message
    regs = widen[0].next_sweep["regs"]
    assert min(regs) < min(REGS)
    assert max(regs) > max(REGS)
    assert "not ∩-shaped" in widen[0].reason


def test_one_flat_side_widens_that_side_only():
    def flat_above(i, j):
        return 0.5 - 0.03 * (j - 2) ** 2 * (j < 2) - 0.0005 * (j > 2) - 0.03 * (i - 2) ** 2

    items = advice.advise(grid_results(flat_above), METRIC, noise_std=0.002)
    widen = of_kind(items, advice.WIDEN_RANGE)
    assert len(widen) == 1
    regs = widen[0].next_sweep["regs"]
    assert min(regs) == min(REGS)
    assert max(regs) > max(REGS)


def test_cap_shaped_curves_need_no_widening():
    items = advice.advise(grid_results(bowl(2, 3, curvature=0.02)), METRIC, noise_std=0.002)
    assert advice.WIDEN_RANGE not in kinds(items)


# --- noise and scale-up -----------------------------------------------------------------


def test_unmeasured_noise_asks_for_three_seeds():
    items = advice.advise(grid_results(bowl(2, 3)), METRIC)
    noise = of_kind(items, advice.MEASURE_NOISE)
    assert len(noise) == 1
    suggestion = noise[0].next_sweep
    assert suggestion == {"kind": "repeat", "run_id": "a2r3s0", "n_seeds": 3, "alpha0": 0.03, "reg": 0.01}
    assert advice.DOUBLE_DIM not in kinds(items)


def test_noise_from_seed_repeats_in_table():
    results = grid_results(bowl(2, 3), seed_offsets=(-0.01, 0.01))
    items = advice.advise(results, METRIC)
    assert advice.MEASURE_NOISE not in kinds(items)
    assert advice.DOUBLE_DIM in kinds(items)


def test_stable_best_doubles_dimension():
    items = advice.advise(grid_results(bowl(2, 3)), METRIC, noise_std=0.01)
    scale = of_kind(items, advice.DOUBLE_DIM)
    assert len(scale) == 1
    suggestion = scale[0].next_sweep
    assert suggestion["dim"] == 128
    # One median grid step (×3.33) either side of the best α₀ = 0.03.
    assert suggestion["alpha0s"] == [0.1, 0.03, 0.009]
    assert len(suggestion["regs"]) == 5
    assert 0.01 in suggestion["regs"]
    assert "solver" not in suggestion
    assert kinds(items) == [advice.DOUBLE_DIM]


def test_scale_up_switches_to_block_solver_at_256():
    items = advice.advise(grid_results(bowl(2, 3), dim=128), METRIC, noise_std=0.01)
    assert of_kind(items, advice.DOUBLE_DIM)[0].next_sweep["solver"] == "block"


def test_noisy_grid_prefers_scale_up_over_refine():
    # Steps of up to 0.05 between cells, but the seeds disagree by about as much.
    results = grid_results(bowl(2, 3, curvature=0.05), seed_offsets=(-0.04, 0.04))
    items = advice.advise(results, METRIC)
    assert advice.REFINE not in kinds(items)
    assert advice.DOUBLE_DIM in kinds(items)


def test_edge_best_blocks_scale_up():
    items = advice.advise(grid_results(bowl(0, 3)), METRIC, noise_std=0.01)
    assert advice.DOUBLE_DIM not in kinds(items)


# --- per-run rules ----------------------------------------------------------------------


def test_unobserved_loss_dominating_is_flagged():
    losses = {(i, j): {"L_S": 1.0, "L_I": 20.0, "R": 0.5} for i in (5,) for j in range(6)}
    items = advice.advise(grid_results(bowl(2, 3), losses=losses), METRIC, noise_std=0.01)
    flagged = of_kind(items, advice.UNOBSERVED_DOMINATES)
    assert len(flagged) == 1
    assert len(flagged[0].run_ids) == 6
    assert "α₀ ∈ {1}" in flagged[0].reason
    assert flagged[0].next_sweep is None


def test_unobserved_loss_at_best_suggests_lower_alpha():
    losses = {(i, j): {"L_S": 1.0, "L_I": 15.0, "R": 0.5} for i in range(6) for j in range(6)}
    items = advice.advise(grid_results(bowl(2, 3), losses=losses), METRIC, noise_std=0.01)
    flagged = of_kind(items, advice.UNOBSERVED_DOMINATES)[0]
    assert flagged.next_sweep is not None
    assert max(flagged.next_sweep["alpha0s"]) < min(ALPHAS)


def test_ratio_just_below_threshold_is_not_flagged():
    losses = {(5, 0): {"L_S": 1.0, "L_I": 9.9, "R": 0.1}}
    items = advice.advise(grid_results(bowl(2, 3), losses=losses), METRIC, noise_std=0.01)
    assert advice.UNOBSERVED_DOMINATES not in kinds(items)


def test_regularizer_dominating_is_flagged():
    losses = {(0, 5): {"L_S": 1.0, "L_I": 1.0, "R": 2.5}}
    items = advice.advise(grid_results(bowl(2, 3), losses=losses), METRIC, noise_std=0.01)
    flagged = of_kind(items, advice.OVER_REGULARIZED)
    assert len(flagged) == 1
    assert flagged[0].run_ids == ("a0r5s0",)


OVER_REGULARIZED_LOSS = {"L_S": 1.0, "L_I": 1.0, "R": 2.5}
UNOBSERVED_LOSS = {"L_S": 1.0, "L_I": 20.0, "R": 0.5}


@pytest.mark.parametrize("kind, loss, best, flagged_cells, expected", [
    # Best cell (α₀ 0.03, λ 0.003) lies below every flagged λ: drop the whole range.
    (advice.OVER_REGULARIZED, OVER_REGULARIZED_LOSS, (2, 2), [(0, 4), (0, 5)],
     "Drop λ ≥ 0.03 from the search: the regularizer dominates there."),
    # Best cell (α₀ 0.1, λ 0.01) has a flagged λ but an unflagged α₀, as in a 6 × 6
    # sweep on ML-1M at d = 64: drop the range only at the flagged α₀.
    (advice.OVER_REGULARIZED, OVER_REGULARIZED_LOSS, (3, 3),
     [(0, 3), (0, 4), (0, 5), (1, 4), (1, 5)],
     "Drop λ ≥ 0.01 at α₀ ∈ {0.003, 0.01} from the search: the regularizer dominates there."),
    # Best cell (α₀ 0.01, λ 0.01) sits inside the flagged λ and α₀ ranges: keep them.
    (advice.OVER_REGULARIZED, OVER_REGULARIZED_LOSS, (1, 3), [(0, 2), (1, 4)],
     "Keep the λ range: the regularizer dominates in 2 run(s) at λ ≥ 0.003, "
     "but not in the best cell."),
    # Best cell (α₀ 0.1, λ 0.01) has a flagged α₀ but an unflagged λ.
    (advice.UNOBSERVED_DOMINATES, UNOBSERVED_LOSS, (3, 3), [(3, 0), (4, 1)],
     "Drop α₀ ≥ 0.1 at λ ∈ {0.0003, 0.001} from the search: L_I dominates L_S there."),
])
def test_drop_advice_never_drops_best_cell(kind, loss, best, flagged_cells, expected):
    losses = {cell: loss for cell in flagged_cells}
    items = advice.advise(grid_results(bowl(*best), losses=losses), METRIC, noise_std=0.01)
    [flagged] = of_kind(items, kind)
    assert len(flagged.run_ids) == len(flagged_cells)
    assert flagged.message == expected
    assert flagged.next_sweep is None


def test_rising_curve_asks_for_more_epochs():
    results = grid_results(bowl(2, 3), last_gain=0.01)
    results["best_epoch"] = results["epochs_done"]
    items = advice.advise(results, METRIC, noise_std=0.01)
    more = of_kind(items, advice.MORE_EPOCHS)
    assert len(more) == 1
    assert more[0].next_sweep["epochs"] == 16
    assert more[0].next_sweep["alpha0s"] == [0.03]
    assert "including the best cell" in more[0].message


def test_converged_curve_needs_no_more_epochs():
    results = grid_results(bowl(2, 3), last_gain=0.0005)
    results["best_epoch"] = results["epochs_done"]
    assert advice.MORE_EPOCHS not in kinds(advice.advise(results, METRIC, noise_std=0.01))


def test_per_run_rules_read_epoch_curves():
    results = grid_results(bowl(2, 3))
    curves = {
        "a2r3s0": [
            {"epoch": 1, "L_S": 5.0, "L_I": 60.0, "R": 1.0, "L": 66.0, "metrics": {METRIC: 0.3}},
            {"epoch": 2, "L_S": 4.0, "L_I": 50.0, "R": 1.0, "L": 55.0, "metrics": {METRIC: 0.5}},
        ]
    }
    items = advice.advise(results, METRIC, noise_std=0.01, runs_epochs=curves)
    assert of_kind(items, advice.UNOBSERVED_DOMINATES)[0].run_ids == ("a2r3s0",)
    assert of_kind(items, advice.MORE_EPOCHS)[0].run_ids == ("a2r3s0",)


# --- input ------------------------------------------------------------------------------


def test_no_finished_runs_gives_no_advice():
    assert advice.advise(grid_results(bowl(2, 3), status="running"), METRIC) == []


def test_unknown_metric_is_rejected():
    with pytest.raises(ValueError, match="Recall@20"):
        advice.advise(grid_results(bowl(2, 3)), "Recall@20")


def test_negative_noise_is_rejected():
    with pytest.raises(ValueError, match="noise_std"):
        advice.advise(grid_results(bowl(2, 3)), METRIC, noise_std=-1.0)


def test_single_cell_gives_noise_advice_only():
    results = grid_results(lambda i, j: 0.4, alphas=[0.1], regs=[0.01])
    assert kinds(advice.advise(results, METRIC)) == [advice.MEASURE_NOISE]


def test_advice_serializes_to_dict():
    item = of_kind(advice.advise(grid_results(bowl(2, 3)), METRIC), advice.MEASURE_NOISE)[0]
    payload = item.to_dict()
    assert set(payload) == {"kind", "message", "reason", "next_sweep", "run_ids"}
    assert isinstance(payload["run_ids"], list)
    assert not math.isnan(payload["next_sweep"]["alpha0"])
