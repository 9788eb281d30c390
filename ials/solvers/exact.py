"""Exact row solve: one Cholesky solve per user (or item) with the Gramian trick.

With the other side's embeddings ``Y`` fixed, row u minimizes its share of
L_S + L_I + R exactly by solving the d × d system

    (α₀ G + λ_u I + Σ_{i ∈ I(u)} y_i y_iᵀ) x_u = Σ_{i ∈ I(u)} y_i,     G = Yᵀ Y,

so the unobserved pairs enter only through G, computed once per half-epoch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ials.solvers._lapack import cholesky_solve, syrk_add


@njit(parallel=True, cache=True, fastmath=True)
def solve_exact(indptr, indices, Y, gram_scaled, row_reg, X, rows_per_task):
    """Overwrite every row of ``X`` with its exact minimizer.

    Parameters
    ----------
    indptr, indices : int arrays
        CSR structure of the rows being solved (row u observes ``indices[indptr[u]:indptr[u+1]]``).
    Y : (n_other, d) array
        Fixed embeddings of the other side.
    gram_scaled : (d, d) array
        ``α₀ Yᵀ Y``.
    row_reg : (n_rows,) array
        Per-row regularization λ_u = λ (count + α₀ n_other)^ν.
    X : (n_rows, d) array
        Output; rows without interactions are set to zero.
    rows_per_task : int
        Consecutive rows one thread solves with the same work buffers.

    Returns
    -------
    int
        Number of rows whose system was not positive definite (left unchanged).
    """
    n_rows = indptr.size - 1
    d = Y.shape[1]
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    failures = 0
    for task in prange(n_tasks):
        first = task * rows_per_task
        last = min(first + rows_per_task, n_rows)
        longest = 0
        for u in range(first, last):
            longest = max(longest, indptr[u + 1] - indptr[u])
        gathered = np.empty((longest, d), Y.dtype)
        system = np.empty((d, d), Y.dtype)
        rhs = np.empty(d, Y.dtype)
        for u in range(first, last):
            start = indptr[u]
            n = indptr[u + 1] - start
            if n == 0:
                X[u, :] = 0
                continue
            rhs[:] = 0
            for j in range(n):
                row = Y[indices[start + j]]
                for k in range(d):
                    gathered[j, k] = row[k]
                    rhs[k] += row[k]
            system[:, :] = gram_scaled
            for k in range(d):
                system[k, k] += row_reg[u]
            syrk_add(gathered[:n], system)
            if cholesky_solve(system, rhs) != 0:
                failures += 1
                continue
            X[u, :] = rhs
    return failures
