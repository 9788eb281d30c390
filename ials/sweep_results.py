"""Sweep results: one row per run, mean ± std per grid cell, noise and progress.

Every metric is read at the run's best epoch by the validation metric, so the number of
epochs leaves the search space. The functions on plain run-store rows (`results_frame`,
`progress_of`) are pure; the ``sweep_*`` ones read a `RunStore`.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ials.config import RunSpec, mean_row_weight

#: Columns that identify one grid cell; the seed varies within a cell.
CELL_KEYS = ("dim", "nu", "alpha0", "reg")


# --- results ----------------------------------------------------------------------------


def best_epoch(epochs: Sequence[dict], metric: str) -> dict | None:
    """Return the epoch record with the highest ``metric`` (the first one on ties).

    ``epochs`` are run-store epoch dicts (``epoch``, ``metrics`` …). Records without the
    metric or with a non-finite value are skipped; returns None when none is left.
    """
    best = None
    for record in epochs:
        value = (record.get("metrics") or {}).get(metric)
        if value is None or not math.isfinite(float(value)):
            continue
        if best is None or float(value) > float(best["metrics"][metric]):
            best = record
    return best


def results_frame(runs: Sequence[dict], epochs_by_run: dict, metric: str) -> pd.DataFrame:
    """Build the one-row-per-run table of `sweep_results` from plain run-store rows.

    Columns: ``run_id, name, status, alpha0, reg, nu, normalized_reg, nu_ref,
    effective_reg, seed, dim, solver, epochs, epochs_done, best_epoch``, one column per
    validation metric at the best epoch (``metric`` among them), ``test_<metric>`` for each
    final test metric, the loss ``L_S, L_I, R, L`` of the last epoch, ``last_gain`` (the
    change of ``metric`` over the last epoch), ``seconds`` (wall clock of a finished run)
    and the dataset counts ``train_users, items, train_interactions`` when recorded.
    ``df.attrs["metric"]`` names the metric.
    """
    rows = [_result_row(run, epochs_by_run.get(run["id"], []), metric) for run in runs]
    base_columns = [
        "run_id", "name", "status", "alpha0", "reg", "nu", "normalized_reg", "nu_ref",
        "effective_reg", "seed", "dim", "solver", "epochs", "epochs_done", "best_epoch",
        metric, f"test_{metric}", "L_S", "L_I", "R", "L", "last_gain", "seconds",
        "created_at", "started_at", "finished_at",
    ]
    frame = pd.DataFrame(rows)
    for column in base_columns:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=float)
    extra = [c for c in frame.columns if c not in base_columns]
    frame = frame[base_columns + extra]
    frame.attrs["metric"] = metric
    return frame


def _result_row(run: dict, epochs: Sequence[dict], metric: str) -> dict:
    spec = RunSpec.from_dict(run["spec"])
    model = spec.model
    row = {
        "run_id": run["id"],
        "name": run.get("name"),
        "status": run.get("status"),
        "alpha0": model.alpha0,
        "reg": model.reg,
        "nu": model.nu,
        "normalized_reg": model.normalized_reg,
        "nu_ref": model.nu_ref,
        "effective_reg": run.get("effective_reg"),
        "seed": model.seed,
        "dim": model.dim,
        "solver": model.solver,
        "epochs": model.epochs,
        "epochs_done": run.get("epochs_done") or len(epochs),
        "created_at": run.get("created_at"),
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
    }
    info = run.get("dataset_info") or {}
    for key in ("train_users", "items", "train_interactions"):
        if key in info:
            row[key] = info[key]
    best = best_epoch(epochs, metric)
    if best is not None:
        row["best_epoch"] = best["epoch"]
        row.update({name: value for name, value in (best.get("metrics") or {}).items()})
    final = run.get("final_metrics") or {}
    row.update({f"test_{name}": value for name, value in final.items()})
    if epochs:
        last = max(epochs, key=lambda record: record["epoch"])
        for key in ("L_S", "L_I", "R", "L"):
            row[key] = last.get(key)
        ordered = sorted(epochs, key=lambda record: record["epoch"])
        if len(ordered) >= 2:
            after = (ordered[-1].get("metrics") or {}).get(metric)
            before = (ordered[-2].get("metrics") or {}).get(metric)
            if after is not None and before is not None:
                row["last_gain"] = float(after) - float(before)
    if run.get("status") == "finished" and _has_times(run):
        row["seconds"] = float(run["finished_at"]) - float(run["started_at"])
    return row


def sweep_runs(store, sweep_id: str) -> list[dict]:
    """Return the runs of a sweep, oldest first, plus the source run of a repeat sweep."""
    sweep = store.get_sweep(sweep_id)
    if sweep is None:
        raise ValueError(f"sweep {sweep_id!r} not found in the run store {store.path}.")
    runs = sorted(store.list_runs(sweep_id=sweep_id), key=lambda r: (r.get("created_at") or 0))
    source = (sweep.get("config") or {}).get("source_run_id")
    if source and all(run["id"] != source for run in runs):
        source_run = store.get_run(source)
        if source_run is not None:
            runs.insert(0, source_run)
    return runs


def sweep_results(store, sweep_id: str, metric: str) -> pd.DataFrame:
    """Return one row per run of the sweep (see `results_frame` for the columns)."""
    runs = sweep_runs(store, sweep_id)
    epochs_by_run = {run["id"]: store.epochs(run["id"]) for run in runs}
    return results_frame(runs, epochs_by_run, metric)


def sweep_epochs(store, sweep_id: str) -> pd.DataFrame:
    """Return the per-epoch curves of every run in a sweep in long form.

    Columns: ``run_id, epoch, L_S, L_I, R, L`` and one column per metric.
    """
    rows = []
    for run in sweep_runs(store, sweep_id):
        for record in store.epochs(run["id"]):
            row = {"run_id": run["id"], "epoch": record["epoch"]}
            row.update({key: record.get(key) for key in ("L_S", "L_I", "R", "L")})
            row.update(record.get("metrics") or {})
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["run_id", "epoch", "L_S", "L_I", "R", "L"])


def metric_names(results: pd.DataFrame) -> list[str]:
    """Return the validation metric columns of a `results_frame` (e.g. ``HR@10``)."""
    return [c for c in results.columns if "@" in c and not c.startswith("test_")]


def aggregate_cells(results: pd.DataFrame, metric: str | None = None,
                    include_unfinished: bool = False) -> pd.DataFrame:
    """Return mean ± standard deviation over seeds per grid cell (d, ν, α₀, λ).

    Only finished runs count unless ``include_unfinished`` (then any run with a recorded
    epoch counts, using its best epoch so far). Columns: the cell keys, ``n_runs`` (runs
    queued for the cell), ``n_done`` (runs counted), ``mean``, ``std`` (sample standard
    deviation, NaN with one seed), ``best_epoch`` (see below), ``test_mean``,
    ``test_std``, ``best_run_id`` (the counted run with the highest metric) and
    ``run_ids``. Sorted by ``mean``, best first, cells without a result last.

    ``best_epoch`` is the median over seeds, taking the lower middle value for an even
    count, so it is an epoch some run reached. Its column is float, so that a cell
    without a result has NaN.
    """
    metric = metric or results.attrs.get("metric")
    if not metric:
        raise ValueError("aggregate_cells needs the metric name; pass metric='HR@10' or similar.")
    keys = list(CELL_KEYS)
    if results.empty:
        return pd.DataFrame(columns=keys + [
            "n_runs", "n_done", "mean", "std", "best_epoch", "test_mean", "test_std",
            "best_run_id", "run_ids",
        ])
    counted = results[metric].notna() if metric in results.columns else pd.Series(False, index=results.index)
    if not include_unfinished:
        counted &= results["status"] == "finished"
    rows = []
    for cell, group in results.groupby(keys, sort=True):
        used = group[counted.loc[group.index]]
        values = used[metric].astype(float) if len(used) else pd.Series(dtype=float)
        test_column = f"test_{metric}"
        tests = used[test_column].dropna().astype(float) if test_column in used.columns else pd.Series(dtype=float)
        row = dict(zip(keys, cell))
        row.update({
            "n_runs": len(group),
            "n_done": len(used),
            "mean": values.mean() if len(values) else np.nan,
            "std": values.std(ddof=1) if len(values) >= 2 else np.nan,
            "best_epoch": (float(statistics.median_low(used["best_epoch"].astype(int)))
                           if len(used) else np.nan),
            "test_mean": tests.mean() if len(tests) else np.nan,
            "test_std": tests.std(ddof=1) if len(tests) >= 2 else np.nan,
            "best_run_id": used.loc[values.idxmax(), "run_id"] if len(values) else None,
            "run_ids": list(group["run_id"]),
        })
        rows.append(row)
    cells = pd.DataFrame(rows)
    cells = cells.sort_values("mean", ascending=False, na_position="last").reset_index(drop=True)
    cells.attrs["metric"] = metric
    return cells


def pooled_noise_std(results: pd.DataFrame, metric: str | None = None) -> float | None:
    """Estimate the seed noise of ``metric``: the pooled standard deviation within cells.

    Pools the within-cell variance of every cell with ≥ 2 finished seeds, weighted by its
    degrees of freedom. Returns None when no cell has two finished seeds.
    """
    metric = metric or results.attrs.get("metric")
    if results.empty or metric not in results.columns:
        return None
    finished = results[(results["status"] == "finished") & results[metric].notna()]
    squares, dof = 0.0, 0
    for _, group in finished.groupby(list(CELL_KEYS)):
        if len(group) >= 2:
            values = group[metric].astype(float)
            squares += float(((values - values.mean()) ** 2).sum())
            dof += len(group) - 1
    if dof == 0:
        return None
    return math.sqrt(squares / dof)


def best_setting(results: pd.DataFrame, metric: str | None = None) -> dict | None:
    """Return the best cell by mean ``metric`` over its finished seeds, or None.

    Keys: ``alpha0, reg, nu, dim, metric, value, std, best_epoch, n_seeds, run_id``.
    """
    metric = metric or results.attrs.get("metric")
    cells = aggregate_cells(results, metric)
    cells = cells[cells["mean"].notna()]
    if cells.empty:
        return None
    top = cells.iloc[0]
    return {
        "alpha0": float(top["alpha0"]),
        "reg": float(top["reg"]),
        "nu": float(top["nu"]),
        "dim": int(top["dim"]),
        "metric": metric,
        "value": float(top["mean"]),
        "std": None if pd.isna(top["std"]) else float(top["std"]),
        "best_epoch": int(top["best_epoch"]),
        "n_seeds": int(top["n_done"]),
        "run_id": top["best_run_id"],
    }


def add_reg_scales(results: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with ``lambda_raw`` (effective λ) and ``lambda_star`` (λ* at ν* = nu_ref).

    Uses the run's recorded effective λ when present, else computes it from the data set
    counts (``train_users``, ``items``, ``train_interactions``) with the normalized-λ
    formula λ = λ*·w̄^(ν* − ν). Rows without either stay NaN.
    """
    frame = results.copy()
    raw, star = [], []
    for _, row in frame.iterrows():
        w_bar = _row_weight(row)
        if bool(row.get("normalized_reg")):
            lam_star = float(row["reg"])
            lam = row.get("effective_reg")
            if (lam is None or pd.isna(lam)) and w_bar is not None:
                lam = lam_star * w_bar ** (row["nu_ref"] - row["nu"])
        else:
            lam = float(row["reg"])
            lam_star = lam / w_bar ** (row["nu_ref"] - row["nu"]) if w_bar is not None else np.nan
        raw.append(np.nan if lam is None or pd.isna(lam) else float(lam))
        star.append(lam_star)
    frame["lambda_raw"] = raw
    frame["lambda_star"] = star
    return frame


def _row_weight(row) -> float | None:
    counts = [row.get(key) for key in ("train_users", "items", "train_interactions")]
    if any(value is None or pd.isna(value) for value in counts):
        return None
    n_users, n_items, nnz = (int(value) for value in counts)
    return mean_row_weight(n_users, n_items, nnz, float(row["alpha0"]))


# --- progress ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepProgress:
    """How far a sweep has come.

    ``remaining_seconds`` is an estimate: the mean wall-clock time of the finished runs
    times the work left (queued runs plus the unfinished part of running ones), divided
    by the number of workers. None until a run has finished.
    """

    total: int
    finished: int
    failed: int
    cancelled: int
    running: int
    queued: int
    mean_run_seconds: float | None
    remaining_seconds: float | None

    @property
    def done(self) -> int:
        return self.finished + self.failed + self.cancelled

    @property
    def complete(self) -> bool:
        return self.done == self.total


def progress_of(runs: Sequence[dict], workers: int | None = None, now: float | None = None) -> SweepProgress:
    """Return the `SweepProgress` of a list of run-store rows.

    ``workers`` defaults to the number of distinct workers running a run of the list
    (at least 1).
    """
    now = time.time() if now is None else now
    counts = {status: 0 for status in ("finished", "failed", "cancelled", "running", "queued")}
    for run in runs:
        status = run.get("status")
        if status in counts:
            counts[status] += 1
    durations = [
        float(run["finished_at"]) - float(run["started_at"])
        for run in runs
        if run.get("status") == "finished" and _has_times(run)
    ]
    if workers is None:
        workers = len({run.get("worker_id") for run in runs if run.get("status") == "running"})
    workers = max(int(workers), 1)
    mean_seconds = float(np.mean(durations)) if durations else None
    remaining = None
    if mean_seconds is not None:
        work = counts["queued"] * mean_seconds
        for run in runs:
            if run.get("status") == "running" and run.get("started_at") is not None:
                work += max(mean_seconds - (now - float(run["started_at"])), 0.0)
        remaining = work / workers
    return SweepProgress(
        total=len(runs),
        finished=counts["finished"],
        failed=counts["failed"],
        cancelled=counts["cancelled"],
        running=counts["running"],
        queued=counts["queued"],
        mean_run_seconds=mean_seconds,
        remaining_seconds=remaining,
    )


def _has_times(run: dict) -> bool:
    return run.get("started_at") is not None and run.get("finished_at") is not None


def sweep_progress(store, sweep_id: str, workers: int | None = None) -> SweepProgress:
    """Return the `SweepProgress` of a sweep in ``store`` (see `progress_of`).

    A repeat sweep's source run counts, as in `sweep_results`.
    """
    return progress_of(sweep_runs(store, sweep_id), workers)
