"""Solvers against dense brute force on tiny data, and the monotone-loss property."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ials.config import IALSConfig
from ials.model import IALS
from ials.solvers import row_regularization, solve_rows


def random_matrix(n_users, n_items, density, seed, empty_user=True, empty_item=True):
    """Binary CSR with at least one user and one item without interactions."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < density
    if empty_user:
        dense[-1, :] = False
    if empty_item:
        dense[:, -1] = False
    return sp.csr_matrix(dense.astype(np.float64))


def brute_force_rows(matrix, fixed, alpha0, row_reg):
    """Minimize the explicit per-row loss by least squares over every term.

    Row u's part of L is Σ_{i ∈ I(u)} (x·y_i − 1)² + α₀ Σ_{all i} (x·y_i)² + λ_u ‖x‖².
    Each term becomes one row of a least-squares design, solved with lstsq; nothing here
    uses the Gramian trick or the solver's normal equations.
    """
    dense = matrix.toarray() > 0
    n_rows, d = dense.shape[0], fixed.shape[1]
    out = np.zeros((n_rows, d))
    for u in range(n_rows):
        observed = fixed[dense[u]]
        design = np.vstack([observed, np.sqrt(alpha0) * fixed, np.sqrt(row_reg[u]) * np.eye(d)])
        target = np.concatenate([np.ones(len(observed)), np.zeros(len(fixed)), np.zeros(d)])
        out[u] = np.linalg.lstsq(design, target, rcond=None)[0]
    return out


def dense_loss(matrix, W, H, alpha0, reg, nu):
    """L_S, L_I, R computed from the full |U| × |I| prediction matrix."""
    dense = matrix.toarray() > 0
    scores = W @ H.T
    l_s = np.sum((scores[dense] - 1.0) ** 2)
    l_i = alpha0 * np.sum(scores**2)
    n_users, n_items = dense.shape
    user_w = reg * (dense.sum(1) + alpha0 * n_items) ** nu
    item_w = reg * (dense.sum(0) + alpha0 * n_users) ** nu
    r = np.sum(user_w * (W**2).sum(1)) + np.sum(item_w * (H**2).sum(1))
    return l_s, l_i, r


SOLVER_CASES = [
    ("exact", {}),
    ("exact", {"woodbury": False}),
    ("block", {"block_size": 2, "block_sweeps": 300}),
    ("block", {"block_size": 3, "block_sweeps": 300}),
    ("cg", {"cg_steps": 6}),  # k ≥ d
]


@pytest.mark.parametrize("d", [6, 2])  # rows with n < d and n ≥ d take different paths
@pytest.mark.parametrize("solver,options", SOLVER_CASES)
def test_row_update_matches_brute_force(solver, options, d):
    matrix = random_matrix(9, 11, 0.35, seed=1)
    alpha0, reg, nu = 0.3, 0.05, 1.0
    rng = np.random.default_rng(2)
    H = rng.standard_normal((11, d)) * 0.5
    W = rng.standard_normal((9, d)) * 0.5
    weights = row_regularization(matrix, reg, alpha0, nu, 11, np.float64)
    solve_rows(solver, matrix, H, W, weights, alpha0, **options)
    expected = brute_force_rows(matrix, H, alpha0, weights)
    np.testing.assert_allclose(W, expected, atol=1e-5, rtol=0)


def test_rows_without_interactions_stay_zero():
    matrix = random_matrix(7, 8, 0.4, seed=3)
    for solver in ("exact", "block", "cg"):
        model = IALS(IALSConfig(dim=4, epochs=2, solver=solver, block_size=2, dtype="float64"))
        for _ in model.fit_epochs(matrix):
            pass
        assert np.all(model.user_factors[-1] == 0), solver
        assert np.all(model.item_factors[-1] == 0), solver


def test_block_with_full_width_equals_exact():
    matrix = random_matrix(12, 10, 0.3, seed=4)
    results = {}
    for solver, block_size in (("exact", 128), ("block", 5), ("block", 64)):
        model = IALS(IALSConfig(dim=5, alpha0=0.2, reg=0.02, epochs=3, solver=solver,
                                block_size=block_size, dtype="float64", seed=7))
        for _ in model.fit_epochs(matrix):
            pass
        results[(solver, block_size)] = model.user_factors
    np.testing.assert_allclose(results[("block", 5)], results[("exact", 128)], atol=1e-10)
    np.testing.assert_allclose(results[("block", 64)], results[("exact", 128)], atol=1e-10)


def test_loss_components_match_dense():
    matrix = random_matrix(10, 13, 0.3, seed=5)
    model = IALS(IALSConfig(dim=4, alpha0=0.25, reg=0.03, nu=0.7, dtype="float64", seed=1))
    model.resolve_reg(matrix)
    model.initialize(matrix)
    model.user_factors *= 40  # away from zero, so every term matters
    model.item_factors *= 40
    loss = model.loss(matrix)
    l_s, l_i, r = dense_loss(matrix, model.user_factors, model.item_factors, 0.25, 0.03, 0.7)
    assert loss["L_S"] == pytest.approx(l_s, rel=1e-10)
    assert loss["L_I"] == pytest.approx(l_i, rel=1e-10)
    assert loss["R"] == pytest.approx(r, rel=1e-10)
    assert loss["L"] == pytest.approx(l_s + l_i + r, rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    alpha0=st.floats(0.001, 3.0),
    reg=st.floats(1e-4, 1.0),
    nu=st.floats(0.0, 1.5),
    dim=st.integers(1, 6),
    block_size=st.integers(1, 6),
    solver=st.sampled_from(["exact", "block"]),
    seed=st.integers(0, 1000),
)
def test_loss_never_increases_across_half_epochs(alpha0, reg, nu, dim, block_size, solver, seed):
    matrix = random_matrix(8, 9, 0.35, seed=seed)
    config = IALSConfig(dim=dim, alpha0=alpha0, reg=reg, nu=nu, solver=solver,
                        block_size=block_size, dtype="float64", seed=seed, sigma=1.0)
    model = IALS(config)
    model.resolve_reg(matrix)
    model.initialize(matrix)
    matrix_t = matrix.T.tocsr()
    previous = model.loss(matrix)["L"]
    for _ in range(3):
        for half_step in (lambda: model.solve_users(matrix), lambda: model.solve_items(matrix_t)):
            half_step()
            current = model.loss(matrix)["L"]
            assert current <= previous * (1 + 1e-9) + 1e-12
            previous = current


def test_fold_in_equals_user_solve():
    matrix = random_matrix(15, 12, 0.3, seed=8)
    for solver in ("exact", "block"):
        model = IALS(IALSConfig(dim=4, epochs=3, solver=solver, block_size=2,
                                dtype="float64", reg=0.05, alpha0=0.2))
        for _ in model.fit_epochs(matrix):
            pass
        folded = model.fold_in(matrix)
        weights = row_regularization(matrix, model.reg, 0.2, 1.0, 12, np.float64)
        expected = brute_force_rows(matrix, model.item_factors, 0.2, weights)
        # The block solver folds in with 8 sweeps from zero: close, not exact.
        tolerance = 1e-8 if solver == "exact" else 2e-2
        np.testing.assert_allclose(folded, expected, atol=tolerance)


def test_float32_training_tracks_float64():
    matrix = random_matrix(30, 25, 0.2, seed=9)
    losses = {}
    for dtype in ("float32", "float64"):
        model = IALS(IALSConfig(dim=8, epochs=4, dtype=dtype, seed=3))
        losses[dtype] = [s.loss["L"] for s in model.fit_epochs(matrix)]
        assert model.user_factors.dtype == np.dtype(dtype)
    np.testing.assert_allclose(losses["float32"], losses["float64"], rtol=1e-3)


def test_fit_epochs_rejects_dense_input():
    model = IALS(IALSConfig(dim=2, epochs=1))
    with pytest.raises(ValueError, match="scipy sparse"):
        next(model.fit_epochs(np.ones((3, 3))))
