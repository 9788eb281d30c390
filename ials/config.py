"""Hyperparameters of iALS and of one run: validation, normalized λ, memory estimate.

`IALSConfig` contains the model's hyperparameters; `RunSpec` adds what a run needs on top
(data set, evaluation protocol, split). Both validate with `ValueError`s that name the
field, the value and the allowed range, so every entry point (CLI, UI, JSON import)
gets the same message.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SOLVERS = ("exact", "block", "cg")
DTYPES = ("float32", "float64")
PROTOCOLS = (
    "loo-sampled", "strong-generalization", "leave-last-out", "heldout-users",
    "predefined-split",
)
SPLITS = ("validation", "test")


@dataclass(frozen=True)
class IALSConfig:
    """Hyperparameters of one iALS model.

    Parameters
    ----------
    dim : int
        Embedding dimension d (≥ 1).
    alpha0 : float
        Unobserved weight α₀ (> 0): weight of the loss on all user-item pairs.
    reg : float
        Regularization λ (> 0). With ``normalized_reg`` this is λ* on the normalized scale.
    nu : float
        Frequency exponent ν (≥ 0): row u is penalized by λ·(|I(u)| + α₀|I|)^ν.
    normalized_reg : bool
        Read ``reg`` as λ* tied to the reference exponent ``nu_ref``; the effective
        λ = λ*·w̄^(ν* − ν) (see `effective_reg`).
    nu_ref : int
        Reference exponent ν* ∈ {0, 1} of the normalized scale.
    sigma : float
        Init scale σ* (> 0); embeddings start from N(0, σ²) with σ = σ*/√d.
    epochs : int
        Number of epochs T (≥ 1); one epoch solves all users, then all items.
    solver : str
        ``"exact"`` (Cholesky per row), ``"block"`` (iALS++ subspace solver) or ``"cg"``
        (conjugate gradient, ``cg_steps`` steps per row, warm-started).
    block_size : int
        Block size b of the block solver (≥ 1); b ≥ d is the exact solve.
    cg_steps : int
        Conjugate-gradient steps per row (≥ 1).
    seed : int
        Seed of the initialization (≥ 0).
    dtype : str
        ``"float32"`` (default) or ``"float64"``.
    """

    dim: int = 64
    alpha0: float = 0.1
    reg: float = 0.003
    nu: float = 1.0
    normalized_reg: bool = False
    nu_ref: int = 1
    sigma: float = 0.1
    epochs: int = 16
    solver: str = "exact"
    block_size: int = 128
    cg_steps: int = 3
    seed: int = 0
    dtype: str = "float32"

    def validate(self) -> "IALSConfig":
        """Raise `ValueError` naming the first invalid field; return self when valid."""
        _check_int("dim", self.dim, low=1)
        _check_float("alpha0", self.alpha0, "unobserved weight α₀", positive=True)
        _check_float("reg", self.reg, "regularization λ", positive=True)
        _check_float("nu", self.nu, "frequency exponent ν", positive=False)
        if not isinstance(self.normalized_reg, bool):
            raise ValueError(f"normalized_reg must be true or false, got {self.normalized_reg!r}.")
        if self.nu_ref not in (0, 1) or isinstance(self.nu_ref, bool):
            raise ValueError(f"nu_ref (reference exponent ν*) must be 0 or 1, got {self.nu_ref!r}.")
        _check_float("sigma", self.sigma, "init scale σ*", positive=True)
        _check_int("epochs", self.epochs, low=1)
        if self.solver not in SOLVERS:
            raise ValueError(
                f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}."
            )
        _check_int("block_size", self.block_size, low=1)
        _check_int("cg_steps", self.cg_steps, low=1)
        _check_int("seed", self.seed, low=0)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}.")
        return self

    def effective_reg(self, n_users: int, n_items: int, nnz: int) -> float:
        """Return the λ the solver uses on a training matrix of the given shape.

        Without ``normalized_reg`` this is ``reg``. With it, λ = λ*·w̄^(ν* − ν) where
        w̄ = 2(|S| + α₀|U||I|)/(|U| + |I|) is the mean of (count + α₀·size of the other
        side) over all rows, so the mean per-row penalty at exponent ν equals λ*·w̄^ν*.
        """
        if not self.normalized_reg:
            return float(self.reg)
        w_bar = mean_row_weight(n_users, n_items, nnz, self.alpha0)
        return float(self.reg * w_bar ** (self.nu_ref - self.nu))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "IALSConfig":
        """Build a config from a dict, rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {', '.join(unknown)}; "
                f"known ones are {', '.join(sorted(known))}."
            )
        return cls(**values)


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to reproduce one run: data set, protocol, split and model.

    ``protocol=None`` picks the data set's default protocol when the run starts
    (`ials.data.default_protocol`). ``split_seed`` seeds the protocol's random choices
    (held-out users, sampled negatives). It stays fixed while the model's ``seed`` varies,
    so seed repeats measure the model's noise on one split.
    """

    dataset: str = "synthetic"
    protocol: str | None = None
    split: str = "validation"
    split_seed: int = 0
    model: IALSConfig = field(default_factory=IALSConfig)

    def validate(self) -> "RunSpec":
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise ValueError(f"dataset must be a non-empty name, got {self.dataset!r}.")
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(
                f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}."
            )
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}.")
        _check_int("split_seed", self.split_seed, low=0)
        self.model.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "split": self.split,
            "split_seed": self.split_seed,
            "model": self.model.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunSpec":
        values = dict(values)
        model = IALSConfig.from_dict(values.pop("model", {}))
        unknown = sorted(set(values) - {"dataset", "protocol", "split", "split_seed"})
        if unknown:
            raise ValueError(f"unknown run setting(s) {', '.join(unknown)}.")
        return cls(model=model, **values)


def mean_row_weight(n_users: int, n_items: int, nnz: int, alpha0: float) -> float:
    """Return w̄ = 2(|S| + α₀|U||I|)/(|U| + |I|), the mean row weight of the normalized λ."""
    return 2.0 * (nnz + alpha0 * n_users * n_items) / (n_users + n_items)


# --- memory estimate -------------------------------------------------------------------

#: Users scored per evaluation batch; the score matrix of one batch is batch × |I|.
EVAL_BATCH_USERS = 1024


def estimate_memory_bytes(
    config: IALSConfig, n_users: int, n_items: int, nnz: int, n_eval_users: int = 0
) -> int:
    """Estimate the bytes a run allocates beyond the loaded data set.

    Counts the two embedding tables, the Gramian, per-thread solver workspace, the
    transposed training matrix (indices, pointers and values), the cached predictions of
    the block solver, and one evaluation batch of scores plus its top-k indices.
    """
    item_size = 4 if config.dtype == "float32" else 8
    d = config.dim
    embeddings = (n_users + n_items) * d * item_size
    gramian = d * d * 8
    b = min(config.block_size, d) if config.solver == "block" else d
    # Each numba task keeps a b×b system and a few d-vectors; a generous 64 tasks at once.
    workspace = 64 * (b * b + 4 * d) * 8
    transposed = nnz * (4 + item_size) + (n_items + 1) * 8
    predictions = 2 * nnz * item_size if config.solver == "block" else 0
    batch = min(EVAL_BATCH_USERS, max(n_eval_users, 1))
    evaluation = batch * n_items * (item_size + 8) + batch * d * item_size
    return int(embeddings + gramian + workspace + transposed + predictions + evaluation)


def max_dim_that_fits(
    config: IALSConfig, n_users: int, n_items: int, nnz: int, budget_bytes: int,
    n_eval_users: int = 0,
) -> int:
    """Return the largest d whose `estimate_memory_bytes` fits in ``budget_bytes`` (0 if none)."""
    low, high = 0, 1
    while _fits(config, high, n_users, n_items, nnz, budget_bytes, n_eval_users):
        low, high = high, high * 2
        if high > 1 << 24:
            return low
    while high - low > 1:
        mid = (low + high) // 2
        if _fits(config, mid, n_users, n_items, nnz, budget_bytes, n_eval_users):
            low = mid
        else:
            high = mid
    return low


def _fits(config, d, n_users, n_items, nnz, budget, n_eval_users) -> bool:
    from dataclasses import replace

    trial = replace(config, dim=d)
    return estimate_memory_bytes(trial, n_users, n_items, nnz, n_eval_users) <= budget


def available_memory_bytes() -> int:
    """Return the memory available to a new run, from psutil (the OS's own estimate)."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(
    config: IALSConfig, n_users: int, n_items: int, nnz: int, n_eval_users: int = 0,
    available: int | None = None,
) -> int:
    """Raise `MemoryError` with the estimate and the largest d that fits; return the estimate."""
    need = estimate_memory_bytes(config, n_users, n_items, nnz, n_eval_users)
    have = available_memory_bytes() if available is None else available
    if need > have:
        best = max_dim_that_fits(config, n_users, n_items, nnz, have, n_eval_users)
        raise MemoryError(
            f"this run needs an estimated {need / 2**30:.2f} GiB but only "
            f"{have / 2**30:.2f} GiB is available; the largest embedding dimension d "
            f"that fits is {best}. Lower d or free memory."
        )
    return need


# --- validation helpers -----------------------------------------------------------------


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be an integer ≥ {low}, got {value}.")


def _check_float(name: str, value: Any, label: str, positive: bool) -> None:
    bound = "> 0" if positive else "≥ 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} ({label}) must be a number {bound}, got {value!r}.")
    if not math.isfinite(value) or (value <= 0 if positive else value < 0):
        raise ValueError(f"{name} ({label}) must be a finite number {bound}, got {value}.")
