"""Conjugate-gradient row update: k steps per row, warm-started from the current row.

Approximately solves the exact solver's system (α₀ G + λ_u I + Σ y_i y_iᵀ) x = Σ y_i
without forming the d × d matrix: each step costs one product with G (d²) and two passes
over the row's items (2·n·d). This is the fast, approximate update popular Python
libraries use; with k = d steps in float64 it reaches the exact solution.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ials.solvers._lapack import dot, symv


@njit(cache=True, fastmath=True, nogil=True)
def _apply_system(indices, start, n, Y, gram_scaled, reg, vector, out):
    """out = (α₀ G + reg I + Σ_i y_i y_iᵀ) vector."""
    d = vector.shape[0]
    symv(gram_scaled, vector, out, 1.0, 0.0)  # BLAS reads one triangle of G
    for p in range(d):
        out[p] += reg * vector[p]
    for j in range(n):
        row = Y[indices[start + j]]
        weight = dot(row, vector)
        for p in range(d):
            out[p] += row[p] * weight


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def solve_cg(indptr, indices, Y, gram_scaled, row_reg, X, steps, rows_per_task):
    """Update every row of ``X`` in place with ``steps`` conjugate-gradient steps.

    Parameters are those of `ials.solvers.exact.solve_exact`, plus ``steps`` (k ≥ 1).
    Rows without interactions are set to zero. Returns 0 (no factorization can fail).
    """
    n_rows = indptr.size - 1
    d = Y.shape[1]
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    for task in prange(n_tasks):
        product = np.empty(d, Y.dtype)
        residual = np.empty(d, Y.dtype)
        direction = np.empty(d, Y.dtype)
        for u in range(task * rows_per_task, min((task + 1) * rows_per_task, n_rows)):
            start = indptr[u]
            n = indptr[u + 1] - start
            x = X[u]
            if n == 0:
                x[:] = 0
                continue
            # residual = Σ_i y_i − A x = −(α₀ G + λ_u I) x + Σ_i (1 − y_i·x) y_i, in one
            # pass over the row's items.
            symv(gram_scaled, x, residual, -1.0, 0.0)
            for p in range(d):
                residual[p] -= row_reg[u] * x[p]
            for j in range(n):
                row = Y[indices[start + j]]
                weight = 1 - dot(row, x)
                for p in range(d):
                    residual[p] += row[p] * weight
            direction[:] = residual
            rs_old = dot(residual, residual)
            for _ in range(steps):
                if rs_old <= 1e-20:
                    break
                _apply_system(indices, start, n, Y, gram_scaled, row_reg[u], direction, product)
                step = rs_old / dot(direction, product)
                for p in range(d):
                    x[p] += step * direction[p]
                    residual[p] -= step * product[p]
                rs_new = dot(residual, residual)
                ratio = rs_new / rs_old
                for p in range(d):
                    direction[p] = residual[p] + ratio * direction[p]
                rs_old = rs_new
    return 0
