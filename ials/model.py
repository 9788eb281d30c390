"""The iALS model: initialization, the epoch loop, loss components and fold-in.

Typical use::

    model = IALS(IALSConfig(dim=64, alpha0=0.3, reg=0.007))
    for stats in model.fit_epochs(train):      # train: users × items CSR, binary
        print(stats.epoch, stats.loss["L"])
    scores = model.user_factors[u] @ model.item_factors.T

One epoch solves all users (items fixed), then all items (users fixed). Every half-step
minimizes L = L_S + L_I + R exactly for the exact and block solvers, so L never increases.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from ials.config import IALSConfig
from ials.solvers import row_regularization, single_threaded_blas, solve_rows
from ials.solvers.losses import gramian, observed_loss, unobserved_loss, weighted_sq_norms

logger = logging.getLogger(__name__)

#: Passes over all blocks when the block solver folds in a new user from zero.
FOLD_IN_BLOCK_SWEEPS = 8


@dataclass
class EpochStats:
    """Loss components after an epoch and the seconds the epoch's training took."""

    epoch: int
    loss: dict
    seconds: float


class IALS:
    """Matrix factorization learned with implicit alternating least squares.

    Parameters
    ----------
    config : IALSConfig
        Hyperparameters; validated on construction.

    Attributes
    ----------
    user_factors : ndarray, shape (n_users, d)
        W, set by `initialize` / `fit_epochs`.
    item_factors : ndarray, shape (n_items, d)
        H.
    reg : float
        The effective λ the solver uses (after the normalized-λ conversion).
    woodbury : bool
        Let the exact solver solve rows with fewer than d interactions through the
        n × n system (default True; same result, faster). False times the classic solver.
    """

    def __init__(self, config: IALSConfig) -> None:
        self.config = config.validate()
        self.dtype = np.dtype(config.dtype)
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None
        self.reg: float | None = None
        self.woodbury = True
        self._n_train_users: int | None = None

    # --- set-up -------------------------------------------------------------------------

    def resolve_reg(self, train: sp.csr_matrix) -> float:
        """Compute and store the effective λ for this training matrix."""
        n_users, n_items = train.shape
        self.reg = self.config.effective_reg(n_users, n_items, int(train.nnz))
        return self.reg

    def initialize(self, train: sp.csr_matrix) -> None:
        """Draw W and H from N(0, σ²) with σ = σ*/√d, seeded by ``config.seed``."""
        n_users, n_items = train.shape
        d = self.config.dim
        rng = np.random.default_rng(self.config.seed)
        scale = self.config.sigma / np.sqrt(d)
        self.user_factors = (rng.standard_normal((n_users, d)) * scale).astype(self.dtype)
        self.item_factors = (rng.standard_normal((n_items, d)) * scale).astype(self.dtype)
        if self.reg is None:
            self.resolve_reg(train)

    # --- training -----------------------------------------------------------------------

    def fit_epochs(self, train: sp.csr_matrix) -> Iterator[EpochStats]:
        """Train ``config.epochs`` epochs from a fresh initialization, yielding after each.

        Parameters
        ----------
        train : csr_matrix, shape (n_users, n_items)
            Observed pairs; values are ignored (every stored entry counts as 1).

        Yields
        ------
        EpochStats
            1-based epoch number, ``{"L_S", "L_I", "R", "L"}`` after the epoch, and the
            seconds spent training it (loss computation excluded).
        """
        train, train_t = self._prepare_matrices(train)
        self.initialize(train)
        for epoch in range(1, self.config.epochs + 1):
            started = time.perf_counter()
            self.solve_users(train)
            self.solve_items(train_t)
            seconds = time.perf_counter() - started
            loss = self.loss(train)
            logger.debug("epoch %d: %s in %.2f s", epoch, loss, seconds)
            yield EpochStats(epoch=epoch, loss=loss, seconds=seconds)

    def solve_users(self, train: sp.csr_matrix) -> None:
        """Half-epoch: update all user rows with the items fixed."""
        n_items = train.shape[1]
        weights = self._row_reg(train, n_items)
        self._solve(train, self.item_factors, self.user_factors, weights)

    def solve_items(self, train_t: sp.csr_matrix) -> None:
        """Half-epoch: update all item rows with the users fixed (``train_t`` is items × users)."""
        n_users = train_t.shape[1]
        weights = self._row_reg(train_t, n_users)
        self._solve(train_t, self.user_factors, self.item_factors, weights)

    def _solve(self, matrix, fixed, target, weights, block_sweeps: int = 1) -> None:
        cfg = self.config
        solve_rows(
            cfg.solver, matrix, fixed, target, weights, cfg.alpha0,
            block_size=cfg.block_size, cg_steps=cfg.cg_steps, block_sweeps=block_sweeps,
            woodbury=self.woodbury,
        )

    def _row_reg(self, matrix: sp.csr_matrix, n_other: int) -> np.ndarray:
        if self.reg is None:
            raise RuntimeError("the effective λ is not set; call resolve_reg(train) first.")
        return row_regularization(
            matrix, self.reg, self.config.alpha0, self.config.nu, n_other, self.dtype
        )

    def _prepare_matrices(self, train: sp.csr_matrix):
        if not sp.issparse(train):
            raise ValueError(f"train must be a scipy sparse matrix, got {type(train).__name__}.")
        if train.shape[0] == 0 or train.shape[1] == 0:
            raise ValueError(f"train must have at least one user and one item, got shape {train.shape}.")
        train = sp.csr_matrix(train)
        train.sort_indices()
        train_t = train.T.tocsr()
        train_t.sort_indices()
        self._n_train_users = train.shape[0]
        return train, train_t

    # --- loss ---------------------------------------------------------------------------

    def loss(self, train: sp.csr_matrix) -> dict:
        """Return ``{"L_S", "L_I", "R", "L"}`` of the current embeddings on ``train``."""
        train = sp.csr_matrix(train)
        W, H = self.user_factors, self.item_factors
        n_users, n_items = train.shape
        l_s = observed_loss(train.indptr, train.indices, W, H)
        with single_threaded_blas():  # keeps OpenBLAS threads from spinning into training
            l_i = unobserved_loss(gramian(W), gramian(H), self.config.alpha0)
        item_counts = np.bincount(train.indices, minlength=n_items).astype(np.float64)
        user_weights = self._row_reg(train, n_items).astype(np.float64)
        item_weights = self.reg * (item_counts + self.config.alpha0 * n_users) ** self.config.nu
        r = weighted_sq_norms(W, user_weights) + weighted_sq_norms(H, item_weights)
        return {"L_S": float(l_s), "L_I": float(l_i), "R": float(r), "L": float(l_s + l_i + r)}

    # --- fold-in ------------------------------------------------------------------------

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Embed new users from their histories with the item embeddings fixed.

        Uses the closed-form row solve (the block solver runs 8 sweeps over its blocks
        from zero instead), with the same per-row λ as training users.

        Parameters
        ----------
        history : csr_matrix, shape (n, n_items)
            Items each new user interacted with.

        Returns
        -------
        ndarray, shape (n, d)
        """
        if self.item_factors is None:
            raise RuntimeError("fold_in needs a trained model; call fit_epochs first.")
        history = sp.csr_matrix(history)
        if history.shape[1] != self.item_factors.shape[0]:
            raise ValueError(
                f"history has {history.shape[1]} item columns but the model has "
                f"{self.item_factors.shape[0]} items."
            )
        history.sort_indices()
        n_items = self.item_factors.shape[0]
        weights = self._row_reg(history, n_items)
        embedded = np.zeros((history.shape[0], self.config.dim), dtype=self.dtype)
        cfg = self.config
        solver = "block" if cfg.solver == "block" else "exact"
        solve_rows(
            solver, history, self.item_factors, embedded, weights, cfg.alpha0,
            block_size=cfg.block_size, block_sweeps=FOLD_IN_BLOCK_SWEEPS,
        )
        return embedded
