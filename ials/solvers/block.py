"""iALS++ block solver: exact minimization over one block of b coordinates at a time.

For row u and block B (b coordinates, the others fixed) the update is

    M   = α₀ G_BB + λ_u I + Σ_{i ∈ I(u)} y_iB y_iBᵀ                 (b × b)
    rhs = Σ_{i ∈ I(u)} y_iB (ŷ_ui − 1) + α₀ G_B,: x_u + λ_u x_uB
    x_uB ← x_uB − M⁻¹ rhs,  then ŷ_ui += y_iB · (change) for i ∈ I(u).

Rows are independent given Y, so each row runs its sweep over all blocks on its own
thread; the predictions ŷ of a row are recomputed at its start (n·d work), which keeps
memory per row small. With b ≥ d there is one block and the update equals the exact solve.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ials.solvers._lapack import cholesky_solve, dot, syrk_add


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def solve_block(indptr, indices, Y, gram_scaled, row_reg, X, block_size, sweeps, rows_per_task):
    """Update every row of ``X`` in place with ``sweeps`` passes over its blocks.

    Parameters are those of `ials.solvers.exact.solve_exact`, plus ``block_size`` (b ≥ 1;
    the last block may be smaller), ``sweeps`` (passes over all blocks; training uses
    1, fold-in from zero uses 8) and ``rows_per_task``. Returns the number of failed (non positive definite)
    block systems.
    """
    n_rows = indptr.size - 1
    d = Y.shape[1]
    b = min(block_size, d)
    failures = 0
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    for task in prange(n_tasks):
        for u in range(task * rows_per_task, min((task + 1) * rows_per_task, n_rows)):
            start = indptr[u]
            n = indptr[u + 1] - start
            if n == 0:
                X[u, :] = 0
                continue
            x = X[u].copy()
            gathered = np.empty((n, d), Y.dtype)
            residual = np.empty(n, Y.dtype)  # ŷ_ui − 1 for the row's items
            for j in range(n):
                row = Y[indices[start + j]]
                gathered[j, :] = row
                residual[j] = dot(row, x) - 1.0
            for _ in range(sweeps):
                for block_start in range(0, d, b):
                    block_end = min(block_start + b, d)
                    width = block_end - block_start
                    block = np.ascontiguousarray(gathered[:, block_start:block_end])
                    system = np.empty((width, width), Y.dtype)
                    for p in range(width):
                        for q in range(width):
                            system[p, q] = gram_scaled[block_start + p, block_start + q]
                        system[p, p] += row_reg[u]
                    syrk_add(block, system)
                    rhs = np.empty(width, Y.dtype)
                    for p in range(width):
                        rhs[p] = dot(gram_scaled[block_start + p], x) + row_reg[u] * x[block_start + p]
                    for j in range(n):
                        for p in range(width):
                            rhs[p] += block[j, p] * residual[j]
                    if cholesky_solve(system, rhs) != 0:
                        failures += 1
                        continue
                    for p in range(width):
                        x[block_start + p] -= rhs[p]
                    for j in range(n):
                        residual[j] -= dot(block[j], rhs)
            X[u, :] = x
    return failures
