"""Tuning advice: read a sweep's results and suggest what to run next, with the reason.

`advise` applies the tuning rules of Rendle, Krichene, Zhang, Koren (2021), "Revisiting
the Performance of iALS on Item Recommendation Benchmarks", to the one-row-per-run table
of `ials.sweeps.sweep_results`:

- the best cell sits on a grid edge → extend the grid one log step past that edge;
- neighbouring cells near the top differ by much more than the seed noise → refine
  between them (not only around the single best point);
- quality against log α₀ or log λ through the best cell is not ∩-shaped → the range is
  too narrow, widen it;
- the seed noise is not measured → repeat the best setting with 3 seeds;
- the best setting is stable → double d and re-tune λ (and α₀) around it;
- per run: L_I far above L_S (α₀ too large, predictions pushed towards 0), R dominating
  the loss (over-regularized), quality still rising at the last epoch (more epochs).

Each threshold is a module constant with the reason next to it. Every `Advice` carries
a suggested next sweep as a plain dict (see `Advice.next_sweep`) that a UI can pre-fill a
form with. The function is pure: it reads the table and returns advice, nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ials.sweeps import BLOCK_SOLVER_MIN_DIM, aggregate_cells, pooled_noise_std, round_significant

# --- thresholds -------------------------------------------------------------------------

#: Two cells "differ by much more than the noise" when their difference exceeds this many
#: standard deviations of the difference of two single runs (√2 · seed noise): at 3 such
#: standard deviations a gap from noise alone has a two-sided chance of about 0.3 %.
REFINE_NOISE_MULTIPLE = 3.0
#: Without a noise estimate, a jump of more than this fraction of the best value counts as
#: abrupt (5 % of, e.g., HR@10 = 0.70 is 0.035). The noise rule requests seed repeats meanwhile.
REFINE_RELATIVE_JUMP = 0.05
#: Only pairs whose better cell is within this fraction of the best value get refined:
#: jumps deep in the bad region of the grid (e.g. from 0.05 to 0.20) do not move the best.
REFINE_TOP_FRACTION = 0.10
#: At most this many refine items, largest jump first, so the list stays readable.
REFINE_MAX_ITEMS = 3
#: New values a refine item puts between two neighbours (log-spaced, splitting the gap
#: into thirds).
REFINE_NEW_VALUES = 2
#: A side of a curve "drops" when its end is lower than the peak by more than this many
#: seed-noise standard deviations …
SHAPE_NOISE_MULTIPLE = 2.0
#: … and by more than this fraction of the peak; with no noise estimate only this counts.
#: 1 % separates a flat curve (the range is too narrow to matter) from a real ∩.
SHAPE_RELATIVE_DROP = 0.01
#: Curves need this many finished points along the axis before their shape is judged.
SHAPE_MIN_POINTS = 3
#: Log steps added past a grid edge (extend) or past both ends of a flat curve (widen).
EXTEND_STEPS = 2
#: Grid ratio used when an axis has a single value: √10, half a decade, close to the
#: 0.3/0.333 alternation of the default grids.
DEFAULT_LOG_RATIO = math.sqrt(10.0)
#: Seeds the noise-measuring repeat suggests; 3 gives a first standard deviation.
NOISE_REPEAT_SEEDS = 3
#: L_I at least this many times L_S (an order of magnitude) at the last epoch means the
#: unobserved loss dominates the observed loss, so α₀ is too large and pushes every
#: prediction towards 0. The 2021 study advises that L_I should not dominate L_S.
UNOBSERVED_OVER_OBSERVED_RATIO = 10.0
#: R at least this fraction of the total loss L = L_S + L_I + R at the last epoch: the
#: regularizer outweighs both data terms together, so λ is too large.
REGULARIZER_DOMINANT_FRACTION = 0.5
#: A finished run whose best epoch is its last and whose metric still rose by more than
#: this fraction of its value over the last epoch has not converged: train longer.
RISING_RELATIVE_GAIN = 0.005
#: λ values the scale-up sweep tries around the best λ (best · ratio^k, k = −2 … 2),
#: because a larger d mostly needs a different λ.
SCALE_UP_REG_STEPS = 2
#: α₀ values the scale-up sweep tries around the best α₀ (k = −1 … 1).
SCALE_UP_ALPHA_STEPS = 1

# --- advice kinds -----------------------------------------------------------------------

EXTEND_GRID = "extend-grid"
REFINE = "refine"
WIDEN_RANGE = "widen-range"
MEASURE_NOISE = "measure-noise"
DOUBLE_DIM = "double-dim"
UNOBSERVED_DOMINATES = "unobserved-loss-dominates"
OVER_REGULARIZED = "over-regularized"
MORE_EPOCHS = "more-epochs"

AXIS_LABELS = {"alpha0": "α₀", "reg": "λ"}
AXIS_GRID_KEYS = {"alpha0": "alpha0s", "reg": "regs"}


@dataclass(frozen=True)
class Advice:
    """One piece of tuning advice.

    Attributes
    ----------
    kind : str
        One of the kind constants of this module (``"extend-grid"``, ``"refine"`` …).
    message : str
        What to do, in one sentence.
    reason : str
        The numbers from the sweep that triggered the rule.
    next_sweep : dict or None
        Settings of the suggested next sweep: ``{"kind": "grid", "alpha0s": [...],
        "regs": [...], "nus": [...] or None, "dim": int, "epochs": int, "solver": str,
        "seeds": int}`` (keys that keep the current sweep's value may be missing), or
        ``{"kind": "repeat", "run_id": str, "n_seeds": int, "alpha0": float, "reg":
        float}``. None when the advice is informational.
    run_ids : tuple of str
        Runs the advice is about (per-run rules and the repeat suggestion).
    """

    kind: str
    message: str
    reason: str
    next_sweep: dict | None = None
    run_ids: tuple = field(default=())

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "message": self.message,
            "reason": self.reason,
            "next_sweep": self.next_sweep,
            "run_ids": list(self.run_ids),
        }


@dataclass
class _Context:
    """Inputs shared by the rules: the finished cells of the best (d, ν) slice and the noise."""

    metric: str
    cells: pd.DataFrame
    best: pd.Series
    alpha_grid: list
    reg_grid: list
    noise: float | None
    base: dict

    @property
    def best_value(self) -> float:
        return float(self.best["mean"])

    def value(self, alpha0: float, reg: float) -> float | None:
        match = self.cells[(self.cells["alpha0"] == alpha0) & (self.cells["reg"] == reg)]
        if match.empty or pd.isna(match.iloc[0]["mean"]):
            return None
        return float(match.iloc[0]["mean"])

    def jump_threshold(self) -> float:
        if self.noise is not None:
            return REFINE_NOISE_MULTIPLE * math.sqrt(2.0) * self.noise
        return REFINE_RELATIVE_JUMP * abs(self.best_value)

    def grid(self, axis: str) -> list:
        return self.alpha_grid if axis == "alpha0" else self.reg_grid


def advise(
    results_df: pd.DataFrame,
    metric: str,
    noise_std: float | None = None,
    runs_epochs: dict | None = None,
) -> list[Advice]:
    """Return tuning advice for a sweep's results, most important first.

    Parameters
    ----------
    results_df : pandas.DataFrame
        One row per run as returned by `ials.sweeps.sweep_results` (needs ``run_id,
        status, dim, nu, alpha0, reg, seed, epochs, best_epoch`` and the ``metric``
        column; ``L_S, L_I, R, L, last_gain`` feed the per-run rules).
    metric : str
        Validation metric to maximize, e.g. ``"HR@10"``; read at each run's best epoch.
    noise_std : float, optional
        Standard deviation of ``metric`` between seeds of one setting. Default: pooled
        from cells of ``results_df`` with ≥ 2 finished seeds (None if there are none).
    runs_epochs : dict, optional
        Run id → list of run-store epoch dicts (``epoch, L_S, L_I, R, L, metrics``). When
        given, the per-run rules read the curves from here instead of the table's columns.

    Returns
    -------
    list of Advice
        Empty when no run has finished.
    """
    if metric not in results_df.columns:
        raise ValueError(
            f"metric {metric!r} is not a column of the results; the table has "
            f"{', '.join(c for c in results_df.columns if '@' in c) or 'no metric columns'}."
        )
    if noise_std is not None and (not math.isfinite(noise_std) or noise_std < 0):
        raise ValueError(f"noise_std must be a finite number ≥ 0, got {noise_std}.")
    context = _build_context(results_df, metric, noise_std)
    if context is None:
        return []

    items: list[Advice] = []
    items += _edge_rule(context)
    refine_items, jumps_near_best = _refine_rule(context)
    items += refine_items
    items += _shape_rule(context)
    items += _noise_rule(context)
    items += _scale_up_rule(context, jumps_near_best)
    items += _per_run_rules(results_df, context, runs_epochs)
    return items


def _build_context(results_df: pd.DataFrame, metric: str, noise_std: float | None) -> _Context | None:
    cells = aggregate_cells(results_df, metric)
    finished = cells[cells["mean"].notna()]
    if finished.empty:
        return None
    best = finished.iloc[0]
    in_slice = (results_df["dim"] == best["dim"]) & (results_df["nu"] == best["nu"])
    slice_rows = results_df[in_slice]
    noise = noise_std if noise_std is not None else pooled_noise_std(results_df, metric)
    best_runs = results_df[results_df["run_id"] == best["best_run_id"]]
    base = {
        "dim": int(best["dim"]),
        "nu": float(best["nu"]),
        "epochs": int(best_runs.iloc[0]["epochs"]) if len(best_runs) else None,
        "solver": best_runs.iloc[0]["solver"] if len(best_runs) and "solver" in best_runs else None,
    }
    return _Context(
        metric=metric,
        cells=finished[(finished["dim"] == best["dim"]) & (finished["nu"] == best["nu"])],
        best=best,
        alpha_grid=sorted(float(v) for v in slice_rows["alpha0"].unique()),
        reg_grid=sorted(float(v) for v in slice_rows["reg"].unique()),
        noise=noise,
        base=base,
    )


# --- grid rules -------------------------------------------------------------------------


def _edge_rule(context: _Context) -> list[Advice]:
    items = []
    for axis in ("alpha0", "reg"):
        grid = context.grid(axis)
        if len(grid) < 2:
            continue
        best_value = float(context.best[axis])
        label = AXIS_LABELS[axis]
        if best_value == grid[0]:
            ratio = grid[0] / grid[1]
            side, edge_word = "below", "smallest"
            kept = grid[:2]
        elif best_value == grid[-1]:
            ratio = grid[-1] / grid[-2]
            side, edge_word = "above", "largest"
            kept = grid[-2:]
        else:
            continue
        new_values = [round_significant(best_value * ratio ** k) for k in range(1, EXTEND_STEPS + 1)]
        axis_grid = sorted(set(kept + new_values), reverse=True)
        other = "reg" if axis == "alpha0" else "alpha0"
        next_sweep = _grid_sweep(context, **{
            AXIS_GRID_KEYS[axis]: axis_grid,
            AXIS_GRID_KEYS[other]: sorted(context.grid(other), reverse=True),
        })
        items.append(Advice(
            kind=EXTEND_GRID,
            message=(
                f"Extend the {label} grid {side} {best_value:g}: try "
                f"{', '.join(f'{v:g}' for v in new_values)}."
            ),
            reason=(
                f"The best cell ({_cell_text(context.best)}, {context.metric} = "
                f"{context.best_value:.4f}) has the {edge_word} {label} of the grid, so the "
                f"optimum may lie {side} it."
            ),
            next_sweep=next_sweep,
        ))
    return items


def _neighbour_pairs(context: _Context):
    """Yield (axis, low, high, other value, value at low, value at high) for adjacent cells."""
    for axis in ("alpha0", "reg"):
        other = "reg" if axis == "alpha0" else "alpha0"
        grid = context.grid(axis)
        for other_value in context.grid(other):
            for low, high in zip(grid[:-1], grid[1:]):
                cell_low = {axis: low, other: other_value}
                cell_high = {axis: high, other: other_value}
                value_low = context.value(cell_low["alpha0"], cell_low["reg"])
                value_high = context.value(cell_high["alpha0"], cell_high["reg"])
                if value_low is None or value_high is None:
                    continue
                yield axis, low, high, other_value, value_low, value_high


def _refine_rule(context: _Context) -> tuple[list[Advice], list[float]]:
    """Return refine advice and the jumps between the best cell and its neighbours."""
    threshold = context.jump_threshold()
    floor = context.best_value - REFINE_TOP_FRACTION * abs(context.best_value)
    best_alpha, best_reg = float(context.best["alpha0"]), float(context.best["reg"])
    groups: dict = {}
    jumps_near_best = []
    for axis, low, high, other_value, value_low, value_high in _neighbour_pairs(context):
        jump = abs(value_high - value_low)
        best_point = (best_alpha, best_reg)
        cells = [
            (low, other_value) if axis == "alpha0" else (other_value, low),
            (high, other_value) if axis == "alpha0" else (other_value, high),
        ]
        if best_point in cells:
            jumps_near_best.append(jump)
        if jump <= threshold or max(value_low, value_high) < floor:
            continue
        group = groups.setdefault((axis, low, high), {"jump": 0.0, "others": [], "pairs": []})
        group["jump"] = max(group["jump"], jump)
        group["others"].append(other_value)
        group["pairs"].append((other_value, value_low, value_high))

    ranked = sorted(groups.items(), key=lambda item: -item[1]["jump"])[:REFINE_MAX_ITEMS]
    items = []
    for (axis, low, high), group in ranked:
        items.append(_refine_advice(context, axis, low, high, group, threshold))
    return items, jumps_near_best


def _refine_advice(context: _Context, axis: str, low: float, high: float, group: dict,
                   threshold: float) -> Advice:
    label = AXIS_LABELS[axis]
    other = "reg" if axis == "alpha0" else "alpha0"
    ratio = high / low
    new_values = [
        round_significant(low * ratio ** (k / (REFINE_NEW_VALUES + 1)))
        for k in range(1, REFINE_NEW_VALUES + 1)
    ]
    other_grid = context.grid(other)
    other_values = set()
    for value in group["others"]:
        index = other_grid.index(value)
        other_values.update(other_grid[max(index - 1, 0): index + 2])
    other_value, value_low, value_high = max(group["pairs"], key=lambda p: abs(p[2] - p[1]))
    noise_text = (
        f"{REFINE_NOISE_MULTIPLE:g}·√2 × seed noise {context.noise:.4f}"
        if context.noise is not None
        else f"{REFINE_RELATIVE_JUMP:.0%} of the best value (noise not measured)"
    )
    return Advice(
        kind=REFINE,
        message=(
            f"Refine {label} between {low:g} and {high:g}: try "
            f"{', '.join(f'{v:g}' for v in new_values)}."
        ),
        reason=(
            f"At {AXIS_LABELS[other]} = {other_value:g}, {context.metric} jumps from "
            f"{value_low:.4f} ({label} = {low:g}) to {value_high:.4f} ({label} = {high:g}), "
            f"more than the threshold {threshold:.4f} ({noise_text}), and the better cell is "
            f"within {REFINE_TOP_FRACTION:.0%} of the best."
        ),
        next_sweep=_grid_sweep(context, **{
            AXIS_GRID_KEYS[axis]: sorted([low, *new_values, high], reverse=True),
            AXIS_GRID_KEYS[other]: sorted(other_values, reverse=True),
        }),
    )


def _shape_rule(context: _Context) -> list[Advice]:
    items = []
    best_alpha, best_reg = float(context.best["alpha0"]), float(context.best["reg"])
    drop_needed = SHAPE_RELATIVE_DROP * abs(context.best_value)
    if context.noise is not None:
        drop_needed = max(drop_needed, SHAPE_NOISE_MULTIPLE * context.noise)
    for axis in ("alpha0", "reg"):
        grid = context.grid(axis)
        points = []
        for value in grid:
            cell = (value, best_reg) if axis == "alpha0" else (best_alpha, value)
            metric_value = context.value(*cell)
            if metric_value is not None:
                points.append((value, metric_value))
        if len(points) < SHAPE_MIN_POINTS:
            continue
        values = [v for _, v in points]
        peak_index = int(np.argmax(values))
        if peak_index in (0, len(points) - 1):
            continue  # a peak on the edge is the edge rule's case
        peak = values[peak_index]
        low_drop = peak - values[0]
        high_drop = peak - values[-1]
        flat_sides = [side for side, drop in (("low", low_drop), ("high", high_drop)) if drop <= drop_needed]
        if not flat_sides:
            continue
        items.append(_widen_advice(context, axis, points, flat_sides, low_drop, high_drop, drop_needed))
    return items


def _widen_advice(context: _Context, axis: str, points: list, flat_sides: list,
                  low_drop: float, high_drop: float, drop_needed: float) -> Advice:
    label = AXIS_LABELS[axis]
    grid = [value for value, _ in points]
    ratio = _log_ratio(grid)
    new_values = []
    if "low" in flat_sides:
        new_values += [round_significant(grid[0] / ratio ** k) for k in range(1, EXTEND_STEPS + 1)]
    if "high" in flat_sides:
        new_values += [round_significant(grid[-1] * ratio ** k) for k in range(1, EXTEND_STEPS + 1)]
    axis_grid = sorted(set(grid + new_values), reverse=True)
    other = "reg" if axis == "alpha0" else "alpha0"
    fixed = float(context.best[other])
    side_text = " and ".join(
        f"{'below' if side == 'low' else 'above'} {grid[0] if side == 'low' else grid[-1]:g}"
        for side in flat_sides
    )
    return Advice(
        kind=WIDEN_RANGE,
        message=f"Widen the {label} range {side_text}: try {', '.join(f'{v:g}' for v in new_values)}.",
        reason=(
            f"Quality against log {label} at {AXIS_LABELS[other]} = {fixed:g} is not ∩-shaped: "
            f"it drops by only {low_drop:.4f} towards {grid[0]:g} and {high_drop:.4f} towards "
            f"{grid[-1]:g} from its peak, and a drop needs more than {drop_needed:.4f}; the "
            f"range is too narrow to show where quality falls off."
        ),
        next_sweep=_grid_sweep(context, **{
            AXIS_GRID_KEYS[axis]: axis_grid,
            AXIS_GRID_KEYS[other]: sorted(context.grid(other), reverse=True),
        }),
    )


def _noise_rule(context: _Context) -> list[Advice]:
    if context.noise is not None:
        return []
    run_id = context.best["best_run_id"]
    return [Advice(
        kind=MEASURE_NOISE,
        message=(
            f"Repeat the best setting ({_cell_text(context.best)}) with "
            f"{NOISE_REPEAT_SEEDS} seeds to measure the noise."
        ),
        reason=(
            "No setting of this sweep has two finished seeds, so the seed noise of "
            f"{context.metric} is unknown, and differences smaller than that noise "
            "mean nothing."
        ),
        next_sweep={
            "kind": "repeat",
            "run_id": run_id,
            "n_seeds": NOISE_REPEAT_SEEDS,
            "alpha0": float(context.best["alpha0"]),
            "reg": float(context.best["reg"]),
        },
        run_ids=(run_id,),
    )]


def _scale_up_rule(context: _Context, jumps_near_best: list) -> list[Advice]:
    if context.noise is None:
        return []
    best_alpha, best_reg = float(context.best["alpha0"]), float(context.best["reg"])
    for axis, value in (("alpha0", best_alpha), ("reg", best_reg)):
        grid = context.grid(axis)
        if len(grid) < 3 or value in (grid[0], grid[-1]):
            return []
    threshold = context.jump_threshold()
    if not jumps_near_best or max(jumps_near_best) > threshold:
        return []
    dim = context.base["dim"] * 2
    alpha_ratio = _log_ratio(context.alpha_grid)
    reg_ratio = _log_ratio(context.reg_grid)
    alpha0s = [round_significant(best_alpha * alpha_ratio ** k)
               for k in range(SCALE_UP_ALPHA_STEPS, -SCALE_UP_ALPHA_STEPS - 1, -1)]
    regs = [round_significant(best_reg * reg_ratio ** k)
            for k in range(SCALE_UP_REG_STEPS, -SCALE_UP_REG_STEPS - 1, -1)]
    next_sweep = _grid_sweep(context, alpha0s=alpha0s, regs=regs, dim=dim)
    if context.base.get("solver") == "exact" and dim >= BLOCK_SOLVER_MIN_DIM:
        next_sweep["solver"] = "block"
    return [Advice(
        kind=DOUBLE_DIM,
        message=(
            f"Double d to {dim} and re-tune λ (and α₀) around the best setting "
            f"({_cell_text(context.best)})."
        ),
        reason=(
            f"The best cell is inside the grid on both axes, the seed noise is measured "
            f"({context.noise:.4f}), and every neighbour of the best differs from it by at "
            f"most {max(jumps_near_best):.4f} (threshold {threshold:.4f}): this grid has "
            "found the optimum at this d, and a larger d with proper regularization is "
            "usually better."
        ),
        next_sweep=next_sweep,
    )]


# --- per-run rules ----------------------------------------------------------------------


def _per_run_rules(results_df: pd.DataFrame, context: _Context, runs_epochs: dict | None) -> list[Advice]:
    finished = results_df[results_df["status"] == "finished"]
    flagged = {UNOBSERVED_DOMINATES: [], OVER_REGULARIZED: [], MORE_EPOCHS: []}
    for _, row in finished.iterrows():
        signals = _run_signals(row, context.metric, (runs_epochs or {}).get(row["run_id"]))
        if signals is None:
            continue
        L_S, L_I, R, L, last_gain, value, at_last_epoch = signals
        if L_S is not None and L_I is not None and L_S > 0 and L_I >= UNOBSERVED_OVER_OBSERVED_RATIO * L_S:
            flagged[UNOBSERVED_DOMINATES].append((row, L_I / L_S))
        if R is not None and L is not None and L > 0 and R >= REGULARIZER_DOMINANT_FRACTION * L:
            flagged[OVER_REGULARIZED].append((row, R / L))
        if (at_last_epoch and last_gain is not None and value is not None
                and last_gain > RISING_RELATIVE_GAIN * abs(value)):
            flagged[MORE_EPOCHS].append((row, last_gain))

    items = []
    best_run = context.best["best_run_id"]
    if flagged[UNOBSERVED_DOMINATES]:
        items.append(_unobserved_advice(context, flagged[UNOBSERVED_DOMINATES], best_run))
    if flagged[OVER_REGULARIZED]:
        items.append(_over_regularized_advice(context, flagged[OVER_REGULARIZED], best_run))
    if flagged[MORE_EPOCHS]:
        items.append(_more_epochs_advice(context, flagged[MORE_EPOCHS], best_run))
    return items


def _run_signals(row, metric: str, epochs: Sequence[dict] | None):
    """Return (L_S, L_I, R, L, last_gain, metric value, best epoch is the last) of a run."""
    if epochs:
        ordered = sorted(epochs, key=lambda record: record["epoch"])
        last = ordered[-1]
        losses = [_number(last.get(key)) for key in ("L_S", "L_I", "R", "L")]
        series = [(r["epoch"], (r.get("metrics") or {}).get(metric)) for r in ordered]
        series = [(epoch, float(v)) for epoch, v in series if v is not None]
        if not series:
            return (*losses, None, None, False)
        best_epoch, value = max(series, key=lambda item: item[1])
        best_epoch = min(epoch for epoch, v in series if v == value)
        gain = series[-1][1] - series[-2][1] if len(series) >= 2 else None
        return (*losses, gain, value, best_epoch == series[-1][0])
    losses = [_number(row.get(key)) for key in ("L_S", "L_I", "R", "L")]
    value = _number(row.get(metric))
    best_epoch = _number(row.get("best_epoch"))
    epochs_done = _number(row.get("epochs_done"))
    at_last = best_epoch is not None and epochs_done is not None and best_epoch == epochs_done
    return (*losses, _number(row.get("last_gain")), value, at_last)


def _unobserved_advice(context: _Context, flagged: list, best_run: str) -> Advice:
    alphas = sorted({float(row["alpha0"]) for row, _ in flagged}, reverse=True)
    worst = max(ratio for _, ratio in flagged)
    next_sweep = None
    message = _drop_message(context, flagged, "alpha0", "L_I dominates L_S")
    if any(row["run_id"] == best_run for row, _ in flagged):
        next_sweep = _sweep_below(context, "alpha0", min(alphas))
        message = f"Lower α₀: even the best cell has L_I ≫ L_S; try α₀ below {min(alphas):g}."
    return Advice(
        kind=UNOBSERVED_DOMINATES,
        message=message,
        reason=(
            f"In {len(flagged)} run(s) (α₀ ∈ {{{', '.join(f'{v:g}' for v in alphas)}}}) the "
            f"unobserved loss L_I is at least {UNOBSERVED_OVER_OBSERVED_RATIO:g}× the observed "
            f"loss L_S at the last epoch (up to {worst:.0f}×): α₀ is large enough to push all "
            "predictions towards 0."
        ),
        next_sweep=next_sweep,
        run_ids=tuple(row["run_id"] for row, _ in flagged),
    )


def _over_regularized_advice(context: _Context, flagged: list, best_run: str) -> Advice:
    regs = sorted({float(row["reg"]) for row, _ in flagged}, reverse=True)
    worst = max(share for _, share in flagged)
    next_sweep = None
    message = _drop_message(context, flagged, "reg", "the regularizer dominates")
    if any(row["run_id"] == best_run for row, _ in flagged):
        next_sweep = _sweep_below(context, "reg", min(regs))
        message = f"Lower λ: even the best cell is over-regularized; try λ below {min(regs):g}."
    return Advice(
        kind=OVER_REGULARIZED,
        message=message,
        reason=(
            f"In {len(flagged)} run(s) (λ ∈ {{{', '.join(f'{v:g}' for v in regs)}}}) the "
            f"regularizer R is at least {REGULARIZER_DOMINANT_FRACTION:.0%} of the loss L at "
            f"the last epoch (up to {worst:.0%}): it outweighs L_S and L_I together."
        ),
        next_sweep=next_sweep,
        run_ids=tuple(row["run_id"] for row, _ in flagged),
    )


def _more_epochs_advice(context: _Context, flagged: list, best_run: str) -> Advice:
    epochs = int(max(row["epochs"] for row, _ in flagged))
    includes_best = any(row["run_id"] == best_run for row, _ in flagged)
    next_sweep = _grid_sweep(
        context,
        alpha0s=[float(context.best["alpha0"])],
        regs=[float(context.best["reg"])],
        epochs=epochs * 2,
    )
    who = "including the best cell" if includes_best else "not including the best cell"
    return Advice(
        kind=MORE_EPOCHS,
        message=f"Train longer: {len(flagged)} run(s), {who}, still improved at the last epoch; try {epochs * 2} epochs.",
        reason=(
            f"Their best epoch is the last one and {context.metric} rose by more than "
            f"{RISING_RELATIVE_GAIN:.1%} of its value over that epoch (largest rise "
            f"{max(gain for _, gain in flagged):.4f}), so they have not converged."
        ),
        next_sweep=next_sweep,
        run_ids=tuple(row["run_id"] for row, _ in flagged),
    )


# --- helpers ----------------------------------------------------------------------------


def _drop_message(context: _Context, flagged: list, axis: str, finding: str) -> str:
    """Build the message that drops the flagged range of ``axis`` but never the best cell.

    The range is ``axis ≥`` its smallest flagged value. When that range contains the best
    cell's value, it is narrowed to the other axis's flagged values. When even that
    range contains the best cell, the message advises keeping the range.
    """
    other = "reg" if axis == "alpha0" else "alpha0"
    low = min(float(row[axis]) for row, _ in flagged)
    region = f"{AXIS_LABELS[axis]} ≥ {low:g}"
    if float(context.best[axis]) < low:
        return f"Drop {region} from the search: {finding} there."
    others = sorted({float(row[other]) for row, _ in flagged})
    if float(context.best[other]) in others:
        return (f"Keep the {AXIS_LABELS[axis]} range: {finding} in {len(flagged)} run(s) at "
                f"{region}, but not in the best cell.")
    values = ", ".join(f"{v:g}" for v in others)
    return f"Drop {region} at {AXIS_LABELS[other]} ∈ {{{values}}} from the search: {finding} there."


def _sweep_below(context: _Context, axis: str, flagged_from: float) -> dict:
    """Return a grid sweep whose ``axis`` values stay below ``flagged_from`` and extend past the grid."""
    grid = context.grid(axis)
    ratio = _log_ratio(grid)
    lower = [round_significant(min(grid) / ratio ** k) for k in range(1, EXTEND_STEPS + 1)]
    below_flagged = [v for v in grid if v < flagged_from]
    other = "reg" if axis == "alpha0" else "alpha0"
    return _grid_sweep(context, **{
        AXIS_GRID_KEYS[axis]: sorted(set(below_flagged + lower), reverse=True),
        AXIS_GRID_KEYS[other]: sorted(context.grid(other), reverse=True),
    })


def _grid_sweep(context: _Context, **settings) -> dict:
    sweep = {
        "kind": "grid",
        "dim": context.base["dim"],
        "nus": [context.base["nu"]],
        "epochs": context.base["epochs"],
        "seeds": 1,
    }
    sweep.update(settings)
    return sweep


def _log_ratio(grid: Sequence[float]) -> float:
    """Return the median ratio between adjacent sorted grid values (≥ 1)."""
    values = sorted(v for v in grid if v > 0)
    if len(values) < 2:
        return DEFAULT_LOG_RATIO
    ratios = [b / a for a, b in zip(values[:-1], values[1:])]
    return float(np.median(ratios))


def _cell_text(cell) -> str:
    return f"α₀ = {float(cell['alpha0']):g}, λ = {float(cell['reg']):g}"


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
