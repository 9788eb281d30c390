"""Sweeps: grids over α₀ and λ (and ν, seeds), dimension ladders and seed repeats.

The tuning workflow of Rendle, Krichene, Zhang, Koren (2021), "Revisiting the
Performance of iALS on Item Recommendation Benchmarks": tune the unobserved weight α₀
and the regularization λ together on log-spaced grids with d, solver and epochs fixed,
measure the noise by repeating a setting with other seeds, then double d and re-tune.

A sweep is a row in the run store (`RunStore.create_sweep`) whose runs carry its
``sweep_id``; the workers train them like any other queued run. This module builds the
run specs and queues them; `ials.sweep_results` (re-exported here) turns the finished runs
back into one table row per run (`sweep_results`) or per grid cell (`aggregate_cells`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from ials.config import IALSConfig, RunSpec
from ials.sweep_results import (  # noqa: F401  (re-exported: the sweep API in one place)
    CELL_KEYS,
    SweepProgress,
    add_reg_scales,
    aggregate_cells,
    best_epoch,
    best_setting,
    metric_names,
    pooled_noise_std,
    progress_of,
    results_frame,
    sweep_epochs,
    sweep_progress,
    sweep_results,
    sweep_runs,
)

logger = logging.getLogger(__name__)

#: Starting grid of the unobserved weight α₀ suggested by the 2021 study (usually < 1,
#: smaller for sparser data).
DEFAULT_ALPHA0S = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003)
#: Starting grid of the regularization λ suggested by the 2021 study (for ν = 1).
DEFAULT_REGS = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0003)
#: Frequency exponents ν of the normalized-λ comparison (plain L2, halfway, frequency-scaled).
DEFAULT_NU_COMPARISON = (0.0, 0.5, 1.0)
#: Epochs per run during a broad search; 8 instead of 16 halves the cost.
BROAD_SEARCH_EPOCHS = 8
#: Epochs per run for the final search.
FINAL_SEARCH_EPOCHS = 16
#: Embedding dimensions of a dimension ladder: start low and double.
DEFAULT_LADDER_DIMS = (64, 128, 256, 512, 1024)
#: From this d on a ladder switches the exact solver to the block solver (iALS++): the
#: exact solve costs O(d³) per row, the block solver O(d·b² + b³) per block.
BLOCK_SOLVER_MIN_DIM = 256
#: Block size b that a ladder uses once it switches to the block solver.
LADDER_BLOCK_SIZE = 128
#: Significant digits that `log_grid` keeps, so grid values print and compare cleanly.
GRID_SIGNIFICANT_DIGITS = 3
#: Largest number of runs one sweep may queue; a guard against typing 60 values by mistake.
MAX_SWEEP_RUNS = 2000
#: Sweep kinds the run store accepts.
SWEEP_KINDS = ("grid", "ladder", "repeat")


# --- grids ------------------------------------------------------------------------------


def log_grid(low: float, high: float, n: int) -> list[float]:
    """Return ``n`` log-spaced values from ``low`` to ``high`` (both included).

    Values are rounded to `GRID_SIGNIFICANT_DIGITS` significant digits and returned in
    the order ``low`` → ``high`` (descending when ``low > high``).

    Raises
    ------
    ValueError
        If a bound is not a finite number > 0, ``n`` < 1, or ``n`` = 1 with
        ``low != high``.
    """
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"log_grid {name} must be a number > 0, got {value!r}.")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"log_grid {name} must be a finite number > 0, got {value}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"log_grid n (number of values) must be an integer ≥ 1, got {n!r}.")
    if n == 1:
        if low != high:
            raise ValueError(
                f"log_grid with n = 1 needs low == high, got {low} and {high}; "
                "ask for n ≥ 2 values to span a range."
            )
        return [round_significant(low)]
    exponents = np.linspace(math.log10(low), math.log10(high), n)
    return [round_significant(10.0 ** e) for e in exponents]


def round_significant(value: float, digits: int = GRID_SIGNIFICANT_DIGITS) -> float:
    """Round ``value`` to ``digits`` significant digits (0 stays 0)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def validate_grid(name: str, values: Iterable[float], label: str, positive: bool = True) -> list[float]:
    """Return ``values`` as a list of floats after checking each one.

    Raises
    ------
    ValueError
        If the grid is empty, contains a value that is not a finite number (> 0 when
        ``positive``, else ≥ 0), or repeats a value.
    """
    grid = list(values)
    if not grid:
        raise ValueError(f"the {label} grid ({name}) is empty; give at least one value.")
    checked = []
    for value in grid:
        bound = "> 0" if positive else "≥ 0"
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{label} grid ({name}) values must be numbers {bound}, got {value!r}.")
        value = float(value)
        if not math.isfinite(value) or (value <= 0 if positive else value < 0):
            raise ValueError(f"{label} grid ({name}) values must be finite numbers {bound}, got {value}.")
        checked.append(value)
    repeated = sorted({v for v in checked if checked.count(v) > 1})
    if repeated:
        raise ValueError(
            f"the {label} grid ({name}) repeats {', '.join(f'{v:g}' for v in repeated)}; "
            "list each value once (use seeds to repeat a setting)."
        )
    return checked


def seed_list(base_seed: int, seeds: int | Sequence[int]) -> list[int]:
    """Return the model seeds of a sweep.

    ``seeds`` is either a count n (seeds ``base_seed … base_seed + n − 1``) or an explicit
    list of distinct integers ≥ 0.
    """
    if isinstance(seeds, bool):
        raise ValueError(f"seeds must be a count ≥ 1 or a list of seeds, got {seeds!r}.")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"seeds (number of seeds per cell) must be ≥ 1, got {seeds}.")
        return [int(base_seed) + k for k in range(int(seeds))]
    return distinct_integers(seeds, "seed list", low=0)


def distinct_integers(values: Iterable[int], label: str, low: int) -> list[int]:
    """Return ``values`` as ints after checking that the list is non-empty, ≥ ``low`` and distinct."""
    checked = list(values)
    if not checked:
        raise ValueError(f"the {label} is empty; give at least one value.")
    for value in checked:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{label} values must be integers ≥ {low}, got {value!r}.")
    if len(set(checked)) != len(checked):
        raise ValueError(f"the {label} {checked} repeats a value; list each value once.")
    return [int(v) for v in checked]


def expand_grid(
    base_spec: RunSpec,
    alpha0s: Iterable[float],
    regs: Iterable[float],
    nus: Iterable[float] | None = None,
    seeds: int | Sequence[int] = 1,
) -> list[RunSpec]:
    """Return one validated `RunSpec` per grid cell and seed.

    d, solver, epochs and every other setting come from ``base_spec``. ``nus=None`` keeps
    the base spec's ν. ``seeds`` is a count (seeds from the base spec's seed upwards) or a
    list of seeds. The order is ν, then α₀, then λ, then seed (seed varies fastest), which
    is also the order the workers pick runs up in.

    Raises
    ------
    ValueError
        On an empty or invalid grid, a repeated value, more than `MAX_SWEEP_RUNS` runs, or
        a cell whose spec does not validate.
    """
    base_spec.validate()
    alpha_grid = validate_grid("alpha0", alpha0s, "unobserved weight α₀")
    reg_grid = validate_grid("reg", regs, "regularization λ")
    nu_grid = [base_spec.model.nu] if nus is None else validate_grid(
        "nu", nus, "frequency exponent ν", positive=False
    )
    seed_grid = seed_list(base_spec.model.seed, seeds)
    total = len(nu_grid) * len(alpha_grid) * len(reg_grid) * len(seed_grid)
    if total > MAX_SWEEP_RUNS:
        raise ValueError(
            f"this sweep would queue {total} runs, more than the limit of {MAX_SWEEP_RUNS}; "
            "use fewer grid values or seeds."
        )
    specs = []
    for nu in nu_grid:
        for alpha0 in alpha_grid:
            for reg in reg_grid:
                for seed in seed_grid:
                    model = replace(base_spec.model, alpha0=alpha0, reg=reg, nu=nu, seed=seed)
                    specs.append(replace(base_spec, model=model).validate())
    return specs


def ladder_specs(
    base_spec: RunSpec,
    dims: Iterable[int] = DEFAULT_LADDER_DIMS,
    regs: Iterable[float] | None = None,
    seeds: int | Sequence[int] = 1,
    block_from: int | None = BLOCK_SOLVER_MIN_DIM,
    block_size: int = LADDER_BLOCK_SIZE,
) -> list[RunSpec]:
    """Return the run specs of a dimension ladder: one run per d (× λ × seed).

    ``regs`` re-tunes λ at every d (None keeps the base λ). From ``block_from`` on, a base
    spec with the exact solver switches to the block solver with ``block_size``
    (``block_from=None`` keeps the base solver everywhere).
    """
    base_spec.validate()
    dim_list = distinct_integers(dims, "dimension ladder (embedding dimensions d)", low=1)
    reg_grid = [base_spec.model.reg] if regs is None else validate_grid(
        "reg", regs, "regularization λ"
    )
    seed_grid = seed_list(base_spec.model.seed, seeds)
    total = len(dim_list) * len(reg_grid) * len(seed_grid)
    if total > MAX_SWEEP_RUNS:
        raise ValueError(
            f"this ladder would queue {total} runs, more than the limit of {MAX_SWEEP_RUNS}."
        )
    specs = []
    for d in sorted(int(v) for v in dim_list):
        solver = base_spec.model.solver
        size = base_spec.model.block_size
        if block_from is not None and solver == "exact" and d >= block_from:
            solver, size = "block", block_size
        for reg in reg_grid:
            for seed in seed_grid:
                model = replace(
                    base_spec.model, dim=d, reg=reg, seed=seed, solver=solver, block_size=size
                )
                specs.append(replace(base_spec, model=model).validate())
    return specs


# --- launching --------------------------------------------------------------------------


def launch_sweep(
    store,
    base_spec: RunSpec,
    alpha0s: Iterable[float] = DEFAULT_ALPHA0S,
    regs: Iterable[float] = DEFAULT_REGS,
    nus: Iterable[float] | None = None,
    seeds: int | Sequence[int] = 1,
    name: str | None = None,
    session_id: str | None = None,
) -> str:
    """Create a grid sweep in ``store`` and queue one run per cell and seed.

    All specs are validated before anything is written, so invalid input creates no
    sweep. Returns the sweep id.
    """
    alpha_grid = list(alpha0s)
    reg_grid = list(regs)
    nu_grid = None if nus is None else list(nus)
    specs = expand_grid(base_spec, alpha_grid, reg_grid, nu_grid, seeds)
    config = {
        "base_spec": base_spec.to_dict(),
        "alpha0s": [float(v) for v in alpha_grid],
        "regs": [float(v) for v in reg_grid],
        "nus": None if nu_grid is None else [float(v) for v in nu_grid],
        "seeds": seed_list(base_spec.model.seed, seeds),
    }
    default_name = f"α₀×λ {len(alpha_grid)}×{len(reg_grid)} on {base_spec.dataset}, d={base_spec.model.dim}"
    return _queue(store, "grid", config, name or default_name, specs, session_id)


def launch_ladder(
    store,
    base_spec: RunSpec,
    dims: Iterable[int] = DEFAULT_LADDER_DIMS,
    regs: Iterable[float] | None = None,
    seeds: int | Sequence[int] = 1,
    block_from: int | None = BLOCK_SOLVER_MIN_DIM,
    block_size: int = LADDER_BLOCK_SIZE,
    name: str | None = None,
    session_id: str | None = None,
) -> str:
    """Create a dimension ladder (see `ladder_specs`) in ``store`` and queue its runs."""
    dim_list = [int(d) for d in dims]
    specs = ladder_specs(base_spec, dim_list, regs, seeds, block_from, block_size)
    config = {
        "base_spec": base_spec.to_dict(),
        "dims": sorted(dim_list),
        "regs": None if regs is None else [float(v) for v in regs],
        "seeds": seed_list(base_spec.model.seed, seeds),
        "block_from": block_from,
        "block_size": block_size,
    }
    default_name = f"d ladder {min(dim_list)}–{max(dim_list)} on {base_spec.dataset}"
    return _queue(store, "ladder", config, name or default_name, specs, session_id)


def launch_repeats(store, run_id_or_spec, n_seeds: int = 3, name: str | None = None,
                   session_id: str | None = None) -> str:
    """Queue seed repeats of one setting to measure the noise of the validation metric.

    ``run_id_or_spec`` is a run id in ``store`` or a `RunSpec` (or its dict). ``n_seeds``
    is the total number of seeds of the setting. A source run counts as one of them: it
    stays where it is, the sweep's config names it, `sweep_results` includes it, and
    ``n_seeds − 1`` new runs get the next seeds not used by it. A spec queues ``n_seeds``
    runs from its own seed upwards.
    """
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 2:
        raise ValueError(
            f"n_seeds must be an integer ≥ 2 (noise needs at least two seeds), got {n_seeds!r}."
        )
    source_run_id = None
    if isinstance(run_id_or_spec, str):
        run = store.get_run(run_id_or_spec)
        if run is None:
            raise ValueError(f"run {run_id_or_spec!r} not found in the run store {store.path}.")
        spec = RunSpec.from_dict(run["spec"]).validate()
        source_run_id = run["id"]
        new_seeds = [spec.model.seed + k for k in range(1, n_seeds)]
    else:
        spec = run_id_or_spec if isinstance(run_id_or_spec, RunSpec) else RunSpec.from_dict(run_id_or_spec)
        spec.validate()
        new_seeds = [spec.model.seed + k for k in range(n_seeds)]
    specs = [replace(spec, model=replace(spec.model, seed=s)).validate() for s in new_seeds]
    config = {
        "base_spec": spec.to_dict(),
        "source_run_id": source_run_id,
        "seeds": ([spec.model.seed] if source_run_id else []) + new_seeds,
    }
    model = spec.model
    default_name = f"{n_seeds} seeds of α₀={model.alpha0:g} λ={model.reg:g} d={model.dim}"
    return _queue(store, "repeat", config, name or default_name, specs, session_id)


def launch_nu_comparison(
    store,
    base_spec: RunSpec,
    regs: Iterable[float] = DEFAULT_REGS,
    nus: Iterable[float] = DEFAULT_NU_COMPARISON,
    seeds: int | Sequence[int] = 1,
    name: str | None = None,
    session_id: str | None = None,
) -> str:
    """Queue a ν × λ* sweep on the normalized λ scale at the base spec's α₀.

    Plotted against λ* the good values line up across ν; plotted against the effective λ
    of the same runs (`add_reg_scales`) they move by orders of magnitude, which is what
    the normalized scale removes.
    """
    normalized = replace(base_spec, model=replace(base_spec.model, normalized_reg=True))
    default_name = f"normalized λ* across ν on {base_spec.dataset}, d={base_spec.model.dim}"
    return launch_sweep(
        store, normalized, [base_spec.model.alpha0], regs, nus, seeds, name or default_name,
        session_id,
    )


def _queue(store, kind: str, config: dict, name: str, specs: list[RunSpec],
           session_id: str | None = None) -> str:
    """Create the sweep and queue its runs; on a rejected run, cancel the ones queued so far.

    The store rejects a run with a `ValueError` when a demo cap (runs at once, runs per
    hour) is reached, which can happen halfway through a sweep.
    """
    sweep_id = store.create_sweep(kind, config, name)
    queued = []
    for spec in specs:
        try:
            queued.append(store.create_run(
                spec.to_dict(), name=run_label(spec), sweep_id=sweep_id, session_id=session_id,
            ))
        except ValueError as error:
            for run_id in queued:
                store.request_cancel(run_id)
            logger.warning("sweep %s: run %d of %d rejected (%s); cancelled the %d queued",
                           sweep_id, len(queued) + 1, len(specs), error, len(queued))
            raise ValueError(
                f"the run store rejected run {len(queued) + 1} of {len(specs)} of this sweep: "
                f"{error} The {len(queued)} runs queued before it were cancelled."
            ) from error
    logger.info("queued %s sweep %s (%r) with %d runs", kind, sweep_id, name, len(specs))
    return sweep_id


def run_label(spec: RunSpec) -> str:
    """Return a short run name that states the swept settings."""
    model = spec.model
    reg_name = "λ*" if model.normalized_reg else "λ"
    return (
        f"α₀={model.alpha0:g} {reg_name}={model.reg:g} ν={model.nu:g} "
        f"d={model.dim} seed={model.seed}"
    )


def base_spec_of(sweep: dict) -> RunSpec:
    """Return the base `RunSpec` a stored sweep was launched from."""
    return RunSpec.from_dict(sweep["config"]["base_spec"])


def default_base_spec(dataset: str, dim: int = 128, epochs: int = BROAD_SEARCH_EPOCHS) -> RunSpec:
    """Return a base spec for a broad search: d = 128, 8 epochs, exact solver, ν = 1."""
    return RunSpec(dataset=dataset, model=IALSConfig(dim=dim, epochs=epochs)).validate()


# --- form helpers (used by the dashboard, kept here so they are testable) ------------------


def parse_grid(text: str, label: str, positive: bool = True) -> list[float]:
    """Parse grid values separated by commas or spaces, e.g. ``"1, 0.3, 0.1"``.

    Raises `ValueError` naming the entry that is not a number, or the `validate_grid`
    error.
    """
    entries = [entry for entry in str(text).replace(",", " ").split() if entry]
    values = []
    for entry in entries:
        try:
            values.append(float(entry))
        except ValueError:
            raise ValueError(f"{label}: {entry!r} is not a number; separate values with commas.") from None
    return validate_grid(label, values, label, positive=positive)


def parse_int_list(text: str, label: str, low: int = 1) -> list[int]:
    """Parse integers separated by commas or spaces, e.g. ``"64, 128, 256"``."""
    entries = [entry for entry in str(text).replace(",", " ").split() if entry]
    values = []
    for entry in entries:
        try:
            values.append(int(entry))
        except ValueError:
            raise ValueError(f"{label}: {entry!r} is not an integer.") from None
    return distinct_integers(values, label, low=low)


def parse_reference_lines(text: str) -> dict[str, float]:
    """Parse ``label = value`` lines (e.g. ``EASE = 0.391``) into a dict; blank lines are skipped."""
    lines = {}
    for number, line in enumerate(str(text).splitlines(), start=1):
        if not line.strip():
            continue
        label, separator, value = line.rpartition("=")
        if not separator or not label.strip():
            raise ValueError(f"reference line {number} ({line.strip()!r}) must look like 'label = 0.391'.")
        try:
            lines[label.strip()] = float(value)
        except ValueError:
            raise ValueError(f"reference line {number}: {value.strip()!r} is not a number.") from None
    return lines


def format_grid(values: Iterable[float]) -> str:
    """Return grid values as the comma-separated text `parse_grid` reads."""
    return ", ".join(f"{float(v):g}" for v in values)


def form_defaults(base_spec: RunSpec | None = None, next_sweep: dict | None = None) -> dict:
    """Return the new-sweep form's field values, optionally from a sweep and an advice item.

    ``base_spec`` supplies the data set and fixed settings; ``next_sweep`` is an
    `ials.advice.Advice.next_sweep` dict whose grids and settings override them. Keys:
    ``kind, dataset, protocol, split, split_seed, dim, epochs, solver, block_size,
    cg_steps, sigma, normalized_reg, nu_ref, alpha0, reg, alpha0s, regs, nus, seeds,
    dims, repeat_run_id, n_seeds`` (grids as text).
    """
    spec = base_spec or default_base_spec("synthetic-small")
    model = spec.model
    values = {
        "kind": "grid",
        "dataset": spec.dataset,
        "protocol": spec.protocol,
        "split": spec.split,
        "split_seed": spec.split_seed,
        "dim": model.dim,
        "epochs": model.epochs,
        "solver": model.solver,
        "block_size": model.block_size,
        "cg_steps": model.cg_steps,
        "sigma": model.sigma,
        "normalized_reg": model.normalized_reg,
        "nu_ref": model.nu_ref,
        "alpha0": model.alpha0,
        "reg": model.reg,
        "alpha0s": format_grid(DEFAULT_ALPHA0S),
        "regs": format_grid(DEFAULT_REGS),
        "nus": format_grid([model.nu]),
        "seeds": 1,
        "dims": ", ".join(str(d) for d in DEFAULT_LADDER_DIMS),
        "repeat_run_id": None,
        "n_seeds": 3,
    }
    if not next_sweep:
        return values
    if next_sweep.get("kind") == "repeat":
        values.update(kind="repeat", repeat_run_id=next_sweep.get("run_id"),
                      n_seeds=int(next_sweep.get("n_seeds", 3)))
        return values
    for key in ("alpha0s", "regs", "nus"):
        if next_sweep.get(key):
            values[key] = format_grid(next_sweep[key])
    for key in ("dim", "epochs", "solver", "seeds"):
        if next_sweep.get(key) is not None:
            values[key] = next_sweep[key]
    return values
