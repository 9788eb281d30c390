"""Exact row solve: one Cholesky solve per user (or item) with the Gramian trick.

With the other side's embeddings ``Y`` fixed, row u minimizes its share of
L_S + L_I + R exactly by solving the d × d system

    (α₀ G + λ_u I + Σ_{i ∈ I(u)} y_i y_iᵀ) x_u = Σ_{i ∈ I(u)} y_i,     G = Yᵀ Y,

so the unobserved pairs enter only through G, computed once per half-epoch.

The solve runs in the eigenbasis of α₀ G = Q Λ Qᵀ (one d × d eigendecomposition per
half-epoch, and Ỹ = Y Q). There the system is D_u + Ỹ_uᵀ Ỹ_u with the diagonal
D_u = Λ + λ_u I, and a row with n < d interactions is solved through the n × n system
instead (Woodbury identity):

    x̃_u = D_u⁻¹ Ỹ_uᵀ (I_n + Ỹ_u D_u⁻¹ Ỹ_uᵀ)⁻¹ 1,

which costs O(n² d + n³) instead of O(n d² + d³). Rows with n ≥ d use the d × d system.
Both are Cholesky solves of the same minimization, so the result is the same exact
minimizer; the rows are rotated back with x_u = Q x̃_u.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ials.solvers._lapack import cholesky_solve, longest_row, syrk_add, syrk_outer_add


def solve_exact(indptr, indices, Y, gram_scaled, row_reg, X, rows_per_task, woodbury=True):
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
    woodbury : bool
        Solve rows with n < d interactions through the n × n system. False forces the
        d × d system for every row (the classic exact solver, kept for benchmarks).

    Returns
    -------
    int
        Number of rows whose system was not positive definite (left unchanged).
    """
    # The eigendecomposition runs in float64: it is d × d, once per half-epoch.
    eigenvalues, basis = np.linalg.eigh(gram_scaled.astype(np.float64))
    eigenvalues = np.maximum(eigenvalues, 0.0).astype(Y.dtype)
    basis = basis.astype(Y.dtype)
    rotated = Y @ basis
    rotated_rows = np.empty_like(X)
    failures = _solve_rotated(
        indptr, indices, rotated, eigenvalues, row_reg, X, rotated_rows, rows_per_task,
        Y.shape[1] if woodbury else 0,
    )
    np.matmul(rotated_rows, basis.T, out=X)
    return failures


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _solve_rotated(indptr, indices, rotated, eigenvalues, row_reg, X, out, rows_per_task,
                   woodbury_below):
    """Solve every row in the eigenbasis into ``out`` (x̃_u; zero for failed rows).

    Rows with fewer than ``woodbury_below`` interactions use the n × n system.
    """
    n_rows = indptr.size - 1
    d = rotated.shape[1]
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    failures = 0
    for task in prange(n_tasks):
        first = task * rows_per_task
        last = min(first + rows_per_task, n_rows)
        longest = longest_row(indptr, first, last)
        side = d if longest >= woodbury_below else longest
        gathered = np.empty((longest, d), rotated.dtype)
        square = np.empty(side * side, rotated.dtype)
        rhs = np.empty(max(longest, d), rotated.dtype)
        scale = np.empty(d, rotated.dtype)
        for u in range(first, last):
            start = indptr[u]
            n = indptr[u + 1] - start
            if n == 0:
                out[u, :] = 0
                continue
            for k in range(d):
                scale[k] = 1.0 / np.sqrt(eigenvalues[k] + row_reg[u])
            if n < woodbury_below:
                # Woodbury: Z = Ỹ_u D^(-1/2), solve (I + Z Zᵀ) z = 1, x̃ = D^(-1/2) Zᵀ z.
                for j in range(n):
                    row = rotated[indices[start + j]]
                    for k in range(d):
                        gathered[j, k] = row[k] * scale[k]
                system = square[: n * n].reshape(n, n)
                system[:, :] = 0
                for j in range(n):
                    system[j, j] = 1
                    rhs[j] = 1
                syrk_outer_add(gathered[:n], system)
                if cholesky_solve(system, rhs[:n]) != 0:
                    failures += 1
                    out[u, :] = 0
                    continue
                for k in range(d):
                    out[u, k] = 0
                for j in range(n):
                    weight = rhs[j]
                    for k in range(d):
                        out[u, k] += gathered[j, k] * weight
                for k in range(d):
                    out[u, k] *= scale[k]
            else:
                for k in range(d):
                    rhs[k] = 0
                for j in range(n):
                    row = rotated[indices[start + j]]
                    for k in range(d):
                        gathered[j, k] = row[k]
                        rhs[k] += row[k]
                system = square.reshape(d, d)
                system[:, :] = 0
                for k in range(d):
                    system[k, k] = eigenvalues[k] + row_reg[u]
                syrk_add(gathered[:n], system)
                if cholesky_solve(system, rhs[:d]) != 0:
                    failures += 1
                    out[u, :] = 0
                    continue
                for k in range(d):
                    out[u, k] = rhs[k]
    return failures
