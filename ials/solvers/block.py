"""iALS++ block solver: exact minimization over one block of b coordinates at a time.

For row u and block B (b coordinates, the others fixed) the update is

    M   = α₀ G_BB + λ_u I + Σ_{i ∈ I(u)} y_iB y_iBᵀ                 (b × b)
    rhs = Σ_{i ∈ I(u)} y_iB (ŷ_ui − 1) + α₀ G_B,: x_u + λ_u x_uB
    x_uB ← x_uB − M⁻¹ rhs,  then ŷ_ui += y_iB · (change) for i ∈ I(u).

Rows are independent given Y, so each row runs its sweep over all blocks on its own
thread. The predictions ŷ of a row are recomputed at its start (n·d work), which keeps
memory per row small. With b ≥ d there is one block and the update equals the exact solve.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ials.solvers._lapack import cholesky_solve, dot, gather_rows, longest_row, syrk_add


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
        first = task * rows_per_task
        last = min(first + rows_per_task, n_rows)
        longest = longest_row(indptr, first, last)
        gathered = np.empty((longest, d), Y.dtype)
        block_buffer = np.empty(longest * b, Y.dtype)
        residual = np.empty(longest, Y.dtype)  # ŷ_ui − 1 for the row's items
        system_buffer = np.empty(b * b, Y.dtype)
        rhs_buffer = np.empty(b, Y.dtype)
        for u in range(first, last):
            start = indptr[u]
            n = indptr[u + 1] - start
            x = X[u]
            if n == 0:
                x[:] = 0
                continue
            gather_rows(Y, indices, start, n, gathered)
            for j in range(n):
                residual[j] = dot(gathered[j], x) - 1.0
            for _ in range(sweeps):
                for block_start in range(0, d, b):
                    width = min(block_start + b, d) - block_start
                    block = block_buffer[: n * width].reshape(n, width)
                    for j in range(n):
                        for p in range(width):
                            block[j, p] = gathered[j, block_start + p]
                    system = system_buffer[: width * width].reshape(width, width)
                    rhs = rhs_buffer[:width]
                    for p in range(width):
                        gram_row = gram_scaled[block_start + p]
                        for q in range(width):
                            system[p, q] = gram_row[block_start + q]
                        system[p, p] += row_reg[u]
                        rhs[p] = dot(gram_row, x) + row_reg[u] * x[block_start + p]
                    syrk_add(block, system)
                    for j in range(n):
                        weight = residual[j]
                        for p in range(width):
                            rhs[p] += block[j, p] * weight
                    if cholesky_solve(system, rhs) != 0:
                        failures += 1
                        continue
                    for p in range(width):
                        x[block_start + p] -= rhs[p]
                    for j in range(n):
                        residual[j] -= dot(block[j], rhs)
    return failures
