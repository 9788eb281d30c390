"""Row solvers of iALS (numba kernels) behind one dispatch function.

`solve_rows` updates the embeddings of one side (all users, or all items) with the other
side fixed, using the solver named in the config: ``exact`` (`exact.solve_exact`),
``block`` (`block.solve_block`) or ``cg`` (`cg.solve_cg`).
"""

from __future__ import annotations

import contextlib
import functools
import logging

import numpy as np
import scipy.sparse as sp

from ials.solvers.block import solve_block
from ials.solvers.cg import solve_cg
from ials.solvers.exact import solve_exact

logger = logging.getLogger(__name__)

#: Rows per task handed to a numba thread; a task reuses its work buffers across its
#: rows. Tasks are scheduled dynamically one at a time, because row costs follow the
#: heavy-tailed interaction counts and equal static slices would leave a thread idle.
ROWS_PER_TASK = 32


@contextlib.contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while numba threads each call it per row.

    Everything BLAS does around the kernels (Gramians, rotations) also runs inside this
    limit: OpenBLAS worker threads busy-wait for a while after each call, and would take
    the cores from numba's threads during the next kernel.
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@functools.lru_cache(maxsize=1)
def _blas_controller():
    # Building the controller scans the loaded libraries once; limits are then cheap.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def row_regularization(
    matrix: sp.csr_matrix, reg: float, alpha0: float, nu: float, n_other: int, dtype
) -> np.ndarray:
    """Return λ·(count + α₀·n_other)^ν for every row of ``matrix``, shape (n_rows,)."""
    counts = np.diff(matrix.indptr).astype(np.float64)
    return (reg * (counts + alpha0 * n_other) ** nu).astype(dtype)


def solve_rows(
    solver: str,
    matrix: sp.csr_matrix,
    fixed: np.ndarray,
    target: np.ndarray,
    row_reg: np.ndarray,
    alpha0: float,
    block_size: int = 128,
    cg_steps: int = 3,
    block_sweeps: int = 1,
    woodbury: bool = True,
) -> None:
    """Update ``target`` (n_rows × d) in place, holding ``fixed`` (n_cols × d) fixed.

    ``matrix`` (n_rows × n_cols, CSR) marks the observed pairs. ``woodbury=False``
    makes the exact solver use the d × d system for every row (for benchmarks). Raises
    `FloatingPointError` when a row's system is not positive definite (possible only
    with float32 and extreme hyperparameters), naming the fix.
    """
    from numba import set_parallel_chunksize

    indptr = matrix.indptr
    indices = matrix.indices
    previous_chunk = set_parallel_chunksize(1)
    try:
        with single_threaded_blas():
            gram_scaled = (alpha0 * (fixed.T @ fixed)).astype(fixed.dtype)
            if solver == "exact":
                failures = solve_exact(
                    indptr, indices, fixed, gram_scaled, row_reg, target, ROWS_PER_TASK, woodbury
                )
            elif solver == "block":
                failures = solve_block(
                    indptr, indices, fixed, gram_scaled, row_reg, target, block_size,
                    block_sweeps, ROWS_PER_TASK,
                )
            elif solver == "cg":
                failures = solve_cg(
                    indptr, indices, fixed, gram_scaled, row_reg, target, cg_steps, ROWS_PER_TASK
                )
            else:
                raise ValueError(f"solver must be exact, block or cg, got {solver!r}.")
    finally:
        set_parallel_chunksize(previous_chunk)
    if failures:
        raise FloatingPointError(
            f"{failures} row system(s) were not positive definite; raise the "
            "regularization λ or train in float64 (dtype='float64')."
        )
