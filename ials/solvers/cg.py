"""Conjugate-gradient row update: k steps per row, warm-started from the current row.

Approximately solves the exact solver's system (α₀ G + λ_u I + Σ y_i y_iᵀ) x = Σ y_i
without forming the d × d matrix: each step costs one product with G (d²) and two passes
over the row's items (2·n·d). This is the fast, approximate update popular Python
libraries use; with k = d steps in float64 it reaches the exact solution.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ials.solvers._lapack import (
    add_rows_weighted, dot, gather_rows, longest_row, rows_times_vector, symv,
)


@njit(cache=True, fastmath=True, nogil=True)
def _apply_system(gathered, n, gram_scaled, reg, vector, weights, out):
    """out = (α₀ G + reg I + Σ_j g_j g_jᵀ) vector, with g_j the rows of ``gathered[:n]``.

    The item part is two BLAS matrix-vector products over the gathered rows.
    """
    d = vector.shape[0]
    symv(gram_scaled, vector, out, 1.0, 0.0)  # BLAS reads one triangle of G
    for p in range(d):
        out[p] += reg * vector[p]
    rows_times_vector(gathered[:n], vector, weights[:n])
    add_rows_weighted(gathered[:n], weights[:n], out)


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
        first = task * rows_per_task
        last = min(first + rows_per_task, n_rows)
        longest = longest_row(indptr, first, last)
        gathered = np.empty((longest, d), Y.dtype)
        weights = np.empty(longest, Y.dtype)
        product = np.empty(d, Y.dtype)
        residual = np.empty(d, Y.dtype)
        direction = np.empty(d, Y.dtype)
        for u in range(first, last):
            start = indptr[u]
            n = indptr[u + 1] - start
            x = X[u]
            if n == 0:
                x[:] = 0
                continue
            # The row's items are copied once into contiguous memory for the k + 1 passes.
            gather_rows(Y, indices, start, n, gathered)
            # residual = Σ_i y_i − A x = −(α₀ G + λ_u I) x + Σ_i (1 − y_i·x) y_i.
            symv(gram_scaled, x, residual, -1.0, 0.0)
            for p in range(d):
                residual[p] -= row_reg[u] * x[p]
            for j in range(n):
                weights[j] = 1 - dot(gathered[j], x)
            for j in range(n):
                weight = weights[j]
                for p in range(d):
                    residual[p] += gathered[j, p] * weight
            direction[:] = residual
            rs_old = dot(residual, residual)
            for _ in range(steps):
                if rs_old <= 1e-20:
                    break
                _apply_system(gathered, n, gram_scaled, row_reg[u], direction, weights, product)
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
