"""Tables, labels and form checks behind the dashboard pages.

The Streamlit pages stay thin: everything they show that needs computing (run tables,
progress estimates, setting differences, per-field validation) comes from here, so it
works and is tested without Streamlit. Runs and epochs are the dicts of
`ials.runs.store.RunStore`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

import pandas as pd

from ials.config import IALSConfig, RunSpec, mean_row_weight

#: One sentence per hyperparameter, shown as inline help on the new-run page.
HELP = {
    "dataset": "Interaction data set to train on; the synthetic demo works offline.",
    "protocol": "How users and interactions are held out for evaluation; "
    "the default is the data set's benchmark protocol.",
    "split": "Evaluate each epoch on the validation set (for tuning) or on the test set "
    "(only for the final number of an already tuned setting).",
    "split_seed": "Seed of the protocol's random choices (held-out users, sampled "
    "negatives); keep it fixed to compare settings on one split.",
    "alpha0": "Unobserved weight α₀: how strongly all unobserved user-item pairs are "
    "pulled toward a score of 0 (usually below 1, smaller for sparser data).",
    "reg": "Regularization λ: weight of the L2 penalty on the embeddings.",
    "normalized_reg": "Enter λ* on a scale tied to a reference exponent ν*, so good values "
    "stay put while ν changes; the solver uses the effective λ shown next to it.",
    "nu_ref": "Reference exponent ν* of the normalized scale: λ = λ*·w̄^(ν* − ν), "
    "with w̄ the mean row weight of the training matrix.",
    "nu": "Frequency exponent ν: each row's penalty is scaled by (count + α₀·size of the "
    "other side)^ν; 0 is plain L2, 1 is frequency-scaled.",
    "dim": "Embedding dimension d: length of each user and item vector.",
    "sigma": "Init scale σ*: embeddings start from N(0, σ²) with σ = σ*/√d.",
    "epochs": "Number of epochs T; one epoch solves all users, then all items, and the "
    "metrics are computed after each one.",
    "solver": "exact solves each row's d×d system; block (iALS++) solves b coordinates "
    "at a time; cg runs a few conjugate-gradient steps per row.",
    "block_size": "Block size b of the block solver; b ≥ d is the exact solve.",
    "cg_steps": "Conjugate-gradient steps per row and epoch (warm-started).",
    "seed": "Seed of the embedding initialization.",
    "name": "Optional name shown in the run list instead of the run id.",
}

#: Display labels of run settings: spec keys first, then `IALSConfig` fields.
SETTING_LABELS = {
    "dataset": "data set",
    "protocol": "protocol",
    "split": "split",
    "split_seed": "split seed",
    "alpha0": "α₀",
    "reg": "λ",
    "normalized_reg": "normalized λ",
    "nu_ref": "ν*",
    "nu": "ν",
    "dim": "d",
    "sigma": "σ*",
    "epochs": "epochs",
    "solver": "solver",
    "block_size": "block size",
    "cg_steps": "CG steps",
    "seed": "seed",
    "dtype": "dtype",
}

#: Metrics tried in this order as a run's headline number (the first one it reports).
PRIMARY_METRICS = ("HR@10", "Recall@20", "NDCG@10", "NDCG@100", "Recall@50")

ACTIVE_STATUSES = ("queued", "running")
STATUSES = ("queued", "running", "finished", "failed", "cancelled")


# --- formatting -----------------------------------------------------------------------


def format_number(value: Any) -> str:
    """Format a setting or metric compactly: 4 significant digits, '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.4g}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    """Format seconds as '42 s', '3 min 05 s' or '2 h 07 min'; '—' for missing."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_timestamp(unix_seconds: float | None) -> str:
    """Format unix seconds as local 'YYYY-MM-DD HH:MM:SS'; '—' for missing."""
    if unix_seconds is None:
        return "—"
    return datetime.fromtimestamp(unix_seconds).strftime("%Y-%m-%d %H:%M:%S")


def run_title(run: dict) -> str:
    """Return the run's name, or its id when it has none."""
    return run.get("name") or run["id"]


def run_option_label(run: dict) -> str:
    """Return 'name · status · id', the label of a run in pickers."""
    return f"{run_title(run)} · {run['status']} · {run['id']}"


# --- metrics of one run ---------------------------------------------------------------


def metric_names(epochs: Sequence[dict], final_metrics: dict | None = None) -> list[str]:
    """Return the metric names of a run's epochs and final metrics, in first-seen order."""
    names: list[str] = []
    for metrics in [record.get("metrics") or {} for record in epochs] + [final_metrics or {}]:
        for name in metrics:
            if name not in names:
                names.append(name)
    return names


def runs_metric_names(runs: Sequence[dict], epochs_by_run: dict[str, Sequence[dict]]) -> list[str]:
    """Return the metric names of several runs (epochs and final metrics), first-seen order."""
    names: list[str] = []
    for run in runs:
        for name in metric_names(epochs_by_run.get(run["id"], []), run.get("final_metrics")):
            if name not in names:
                names.append(name)
    return names


def primary_metric(names: Iterable[str]) -> str | None:
    """Pick the headline metric among ``names``: the first of `PRIMARY_METRICS` present."""
    names = list(names)
    for candidate in PRIMARY_METRICS:
        if candidate in names:
            return candidate
    return names[0] if names else None


def best_epoch(epochs: Sequence[dict], metric: str) -> tuple[float | None, int | None]:
    """Return (best value, its epoch) of ``metric`` over ``epochs``; higher is better.

    Ties go to the earliest epoch. Returns ``(None, None)`` when no epoch has the metric.
    """
    best_value, best_at = None, None
    for record in sorted(epochs, key=lambda r: r["epoch"]):
        value = (record.get("metrics") or {}).get(metric)
        if value is None or value != value:
            continue
        if best_value is None or value > best_value:
            best_value, best_at = float(value), int(record["epoch"])
    return best_value, best_at


def metrics_summary(run: dict, epochs: Sequence[dict]) -> pd.DataFrame:
    """Build the run page's metric table: one column per metric, one row each for the
    final test value, the best per-epoch value and the epoch it was reached at."""
    names = metric_names(epochs, run.get("final_metrics"))
    split = run["spec"].get("split", "validation")
    final = run.get("final_metrics") or {}
    best = {name: best_epoch(epochs, name) for name in names}
    rows = {
        "final (test)": [format_metric(final.get(name)) for name in names],
        f"best per epoch ({split})": [format_metric(best[name][0]) for name in names],
        "at epoch": ["—" if best[name][1] is None else str(best[name][1]) for name in names],
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=names)


@dataclass(frozen=True)
class Progress:
    """Progress of a run: epochs done, time spent and an estimate of the time left."""

    epochs_done: int
    epochs_total: int
    fraction: float
    elapsed_seconds: float | None
    remaining_seconds: float | None

    def text(self) -> str:
        parts = [f"epoch {self.epochs_done} of {self.epochs_total}"]
        if self.elapsed_seconds is not None:
            parts.append(f"elapsed {format_duration(self.elapsed_seconds)}")
        if self.remaining_seconds is not None:
            parts.append(f"about {format_duration(self.remaining_seconds)} left (estimate)")
        return " · ".join(parts)


def run_progress(run: dict, epochs: Sequence[dict], now: float | None = None) -> Progress:
    """Compute a run's progress; the time left is the mean epoch time × epochs left.

    The mean epoch time counts training plus evaluation seconds of the recorded epochs,
    so the data loading before epoch 1 does not inflate it. No estimate is given before
    the first epoch or once the run has stopped.
    """
    now = time.time() if now is None else now
    total = int(run.get("epochs_total") or run["spec"]["model"]["epochs"])
    done = int(run.get("epochs_done") or len(epochs))
    started = run.get("started_at")
    ended = run.get("finished_at")
    elapsed = None
    if started is not None:
        elapsed = max(0.0, (ended or now) - started)
    remaining = None
    if run.get("status") == "running" and epochs and done < total:
        spent = [
            (record.get("train_seconds") or 0.0) + (record.get("eval_seconds") or 0.0)
            for record in epochs
        ]
        remaining = sum(spent) / len(spent) * (total - done)
    fraction = min(1.0, done / total) if total > 0 else 0.0
    return Progress(done, total, fraction, elapsed, remaining)


def run_duration(run: dict, now: float | None = None) -> float | None:
    """Return seconds from start to finish (to now while running); None before start."""
    started = run.get("started_at")
    if started is None:
        return None
    ended = run.get("finished_at")
    if ended is None and run.get("status") not in ACTIVE_STATUSES:
        return None
    return max(0.0, (ended or (time.time() if now is None else now)) - started)


def epochs_frame(epochs: Sequence[dict]) -> pd.DataFrame:
    """Flatten epochs into one row per epoch: losses, one column per metric, seconds."""
    names = metric_names(epochs)
    rows = []
    for record in sorted(epochs, key=lambda r: r["epoch"]):
        row = {"epoch": record["epoch"]}
        for component in ("L_S", "L_I", "R", "L"):
            row[component] = record.get(component)
        metrics = record.get("metrics") or {}
        for name in names:
            row[name] = metrics.get(name)
        row["train_seconds"] = record.get("train_seconds")
        row["eval_seconds"] = record.get("eval_seconds")
        rows.append(row)
    columns = ["epoch", "L_S", "L_I", "R", "L", *names, "train_seconds", "eval_seconds"]
    return pd.DataFrame(rows, columns=columns)


# --- settings ---------------------------------------------------------------------------


def flat_settings(run: dict) -> dict[str, Any]:
    """Return the run's spec as one flat dict: data set, protocol, split, then the model.

    The protocol is the one the worker resolved when the spec left it to the data set's
    default.
    """
    spec = run["spec"]
    settings = {
        "dataset": spec.get("dataset"),
        "protocol": run.get("protocol") or spec.get("protocol") or "default",
        "split": spec.get("split"),
        "split_seed": spec.get("split_seed"),
    }
    settings.update(spec.get("model") or {})
    return settings


def settings_rows(run: dict) -> pd.DataFrame:
    """Build the run page's settings table: setting, value, including effective λ."""
    flat = flat_settings(run)
    rows = [(SETTING_LABELS.get(key, key), format_number(flat[key])) for key in _setting_keys([flat])]
    rows.append(("effective λ", format_number(run.get("effective_reg"))))
    info = run.get("dataset_info") or {}
    for key in ("train_users", "items", "train_interactions"):
        if key in info:
            rows.append((key.replace("_", " "), format_number(info[key])))
    rows.append(("data set fingerprint", run.get("dataset_fingerprint") or "—"))
    rows.append(("package version", run.get("package_version") or "—"))
    rows.append(("worker", run.get("worker_id") or "—"))
    rows.append(("created", format_timestamp(run.get("created_at"))))
    rows.append(("started", format_timestamp(run.get("started_at"))))
    rows.append(("finished", format_timestamp(run.get("finished_at"))))
    return pd.DataFrame(rows, columns=["setting", "value"])


def differing_settings(runs: Sequence[dict]) -> list[str]:
    """Return the setting keys whose values differ among ``runs``, in display order."""
    flats = [flat_settings(run) for run in runs]
    return [key for key in _setting_keys(flats) if len({repr(flat.get(key)) for flat in flats}) > 1]


def _setting_keys(flats: Sequence[dict]) -> list[str]:
    """Return the union of the settings' keys in `SETTING_LABELS` order, unknown keys last."""
    keys: list[str] = []
    for flat in flats:
        keys.extend(key for key in flat if key not in keys)
    order = list(SETTING_LABELS)
    return sorted(keys, key=lambda key: order.index(key) if key in order else len(order))


def run_labels(runs: Sequence[dict]) -> list[str]:
    """Label each run by the settings that distinguish it, e.g. 'α₀=0.1, λ=0.003'.

    Runs whose settings are all equal are labelled by name or id. Labels that would
    still collide get the run's name or id appended, so every legend entry is unique.
    """
    keys = differing_settings(runs)
    labels = []
    for run in runs:
        flat = flat_settings(run)
        parts = [f"{SETTING_LABELS.get(key, key)}={format_number(flat.get(key))}" for key in keys]
        labels.append(", ".join(parts) if parts else run_title(run))
    repeated = {label for label in labels if labels.count(label) > 1}
    return [
        f"{label} ({run_title(run)})" if label in repeated else label
        for label, run in zip(labels, runs)
    ]


def compare_frame(runs: Sequence[dict], epochs_by_run: dict[str, Sequence[dict]]) -> pd.DataFrame:
    """Build the side-by-side table: one column per run, rows for settings and metrics.

    Metric rows give the best per-epoch value with its epoch and, once finished, the final
    test value. The boolean column ``differs`` marks rows whose values are not all equal.
    """
    columns = [f"{run_title(run)} [{run['id']}]" if run.get("name") else run["id"] for run in runs]
    flats = [flat_settings(run) for run in runs]
    rows: dict[str, list[str]] = {}
    for key in _setting_keys(flats):
        rows[SETTING_LABELS.get(key, key)] = [format_number(flat.get(key)) for flat in flats]
    rows["effective λ"] = [format_number(run.get("effective_reg")) for run in runs]
    rows["status"] = [run.get("status", "—") for run in runs]
    rows["epochs done"] = [str(run.get("epochs_done") or 0) for run in runs]
    for name in runs_metric_names(runs, epochs_by_run):
        best = [best_epoch(epochs_by_run.get(run["id"], []), name) for run in runs]
        rows[f"best {name} (epoch)"] = [
            "—" if value is None else f"{value:.4f} ({epoch})" for value, epoch in best
        ]
        rows[f"final test {name}"] = [
            format_metric((run.get("final_metrics") or {}).get(name)) for run in runs
        ]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame["differs"] = [len(set(values)) > 1 for values in rows.values()]
    return frame


def format_metric(value: float | None) -> str:
    """Format a metric value with 4 decimals; '—' for missing."""
    return "—" if value is None else f"{value:.4f}"


# --- run list ---------------------------------------------------------------------------


RUN_TABLE_COLUMNS = [
    "id", "name", "dataset", "status", "alpha0", "reg", "nu", "dim", "solver",
    "epochs", "metric", "best", "best epoch", "test", "duration", "created",
]


def runs_frame(
    runs: Sequence[dict], epochs_by_run: dict[str, Sequence[dict]], now: float | None = None
) -> pd.DataFrame:
    """Build the run list: one row per run with its settings, best and test metric.

    ``best`` is the highest per-epoch value of the run's headline metric (see
    `primary_metric`), ``test`` the same metric of the final test evaluation.
    ``duration`` is in seconds and ``created`` a local naive datetime, so both sort as
    numbers and times.
    """
    rows = []
    for run in runs:
        model = run["spec"].get("model") or {}
        epochs = epochs_by_run.get(run["id"], [])
        metric = primary_metric(metric_names(epochs, run.get("final_metrics")))
        best, best_at = best_epoch(epochs, metric) if metric else (None, None)
        test = (run.get("final_metrics") or {}).get(metric) if metric else None
        rows.append({
            "id": run["id"],
            "name": run_title(run),
            "dataset": run["spec"].get("dataset"),
            "status": run.get("status"),
            "alpha0": model.get("alpha0"),
            "reg": run.get("effective_reg") or model.get("reg"),
            "nu": model.get("nu"),
            "dim": model.get("dim"),
            "solver": model.get("solver"),
            "epochs": f"{run.get('epochs_done') or 0}/{run.get('epochs_total') or model.get('epochs')}",
            "metric": metric or "",
            "best": best,
            "best epoch": best_at,
            "test": test,
            "duration": run_duration(run, now),
            "created": datetime.fromtimestamp(run["created_at"]) if run.get("created_at") else None,
        })
    frame = pd.DataFrame(rows, columns=RUN_TABLE_COLUMNS)
    frame["best epoch"] = frame["best epoch"].astype("Int64")
    frame["dim"] = frame["dim"].astype("Int64")
    return frame


def filter_runs_frame(
    frame: pd.DataFrame,
    statuses: Iterable[str] = (),
    datasets: Iterable[str] = (),
    text: str = "",
) -> pd.DataFrame:
    """Keep rows whose status and data set are selected (empty selection keeps all)
    and whose id, name, data set or solver contains ``text`` (case-insensitive)."""
    keep = pd.Series(True, index=frame.index)
    statuses, datasets = list(statuses), list(datasets)
    if statuses:
        keep &= frame["status"].isin(statuses)
    if datasets:
        keep &= frame["dataset"].isin(datasets)
    needle = text.strip().lower()
    if needle:
        haystack = (
            frame["id"].astype(str) + " " + frame["name"].astype(str) + " "
            + frame["dataset"].astype(str) + " " + frame["solver"].astype(str)
        ).str.lower()
        keep &= haystack.str.contains(needle, regex=False)
    return frame[keep].reset_index(drop=True)


# --- new-run form -------------------------------------------------------------------------


def field_errors(spec_values: dict[str, Any]) -> dict[str, str]:
    """Validate a new-run form field by field; return field name to error message.

    ``spec_values`` contains the `RunSpec` keys with ``model`` as a dict of `IALSConfig`
    fields. Each field is checked on its own (the others at their defaults) through the
    same `validate` methods the store uses, so the form can show every invalid field at
    once, next to that field. A whole-spec check runs last, under the key ``"spec"``.
    """
    errors: dict[str, str] = {}
    model_values = dict(spec_values.get("model") or {})
    known = {f.name for f in dataclasses.fields(IALSConfig)}
    for name, value in model_values.items():
        if name not in known:
            errors[name] = f"unknown hyperparameter {name!r}."
            continue
        try:
            IALSConfig(**{name: value}).validate()
        except (ValueError, TypeError) as error:
            errors[name] = str(error)
    for name in ("dataset", "protocol", "split", "split_seed"):
        if name not in spec_values:
            continue
        try:
            RunSpec(**{name: spec_values[name]}).validate()
        except (ValueError, TypeError) as error:
            errors[name] = str(error)
    if not errors:
        try:
            RunSpec.from_dict(spec_values).validate()
        except (ValueError, TypeError) as error:
            errors["spec"] = str(error)
    return errors


def effective_reg(model_values: dict[str, Any], n_users: int, n_items: int, nnz: int) -> float | None:
    """Return the effective λ of a form's model values, or None while they are invalid."""
    try:
        config = IALSConfig.from_dict(model_values).validate()
    except (ValueError, TypeError):
        return None
    return config.effective_reg(n_users, n_items, nnz)


def reg_star_for(effective_reg: float, n_users: int, n_items: int, nnz: int, alpha0: float,
                 nu: float, nu_ref: int) -> float:
    """Return the normalized λ* whose effective λ on this training matrix is ``effective_reg``.

    Inverts `IALSConfig.effective_reg`: λ* = λ / w̄^(ν* − ν), with w̄ from
    `ials.config.mean_row_weight`.

    Raises
    ------
    ValueError
        If a hyperparameter is invalid (as `IALSConfig.validate` checks it) or the
        matrix has no users or items.
    """
    if n_users < 1 or n_items < 1 or nnz < 0:
        raise ValueError(
            f"the training matrix needs ≥ 1 user and ≥ 1 item and nnz ≥ 0, got {n_users} "
            f"users, {n_items} items, nnz {nnz}."
        )
    IALSConfig(alpha0=alpha0, reg=effective_reg, nu=nu, nu_ref=nu_ref,
               normalized_reg=True).validate()
    w_bar = mean_row_weight(n_users, n_items, nnz, alpha0)
    return float(effective_reg / w_bar ** (nu_ref - nu))


def field_error(name: str, value: Any) -> str | None:
    """Validate one new-run field (a `RunSpec` key or an `IALSConfig` field) on its own."""
    if name in ("dataset", "protocol", "split", "split_seed"):
        errors = field_errors({name: value})
    else:
        errors = field_errors({"model": {name: value}})
    return errors.get(name) or errors.get("spec")


@dataclass(frozen=True)
class TrainingCounts:
    """Shape of a training matrix: users, items and interactions (nnz)."""

    n_users: int
    n_items: int
    nnz: int


def list_datasets(data_dir=None) -> list:
    """Return the `ials.data.DatasetInfo` of every data set available (synthetic first)."""
    from ials import data

    return data.list_datasets(data_dir)


def training_counts(name: str, protocol: str, split: str, split_seed: int, data_dir=None) -> TrainingCounts:
    """Count the training matrix a run on this data set, protocol and split trains on.

    Builds the split the way the worker does (`ials.data.load_split`), so the effective
    λ computed from these counts is the one the solver will use.
    """
    from ials import data

    split_data = data.load_split(name, protocol=protocol, split=split, seed=split_seed,
                                 data_dir=data_dir)
    n_users, n_items = split_data.train.shape
    counts = TrainingCounts(int(n_users), int(n_items), int(split_data.train.nnz))
    # The dashboard never trains, so it drops the loaded data (hundreds of MB for ML-20M)
    # from load_split's per-process cache; callers cache the three counts instead.
    del split_data
    data.clear_cache()
    return counts
