"""BLAS and LAPACK kernels callable from numba code: syrk, potrf, potrs.

The row solves need ``A += Yᵀ Y`` (syrk, half the work of a general product) and a
Cholesky solve per row, inside numba's parallel loops. numba's own ``np.dot`` and
``np.linalg.cholesky`` allocate and copy on every call; calling the routines scipy ships
(``scipy.linalg.cython_blas`` / ``cython_lapack``) directly avoids that.

The routines are declared as external symbols registered with LLVM by name, so the numba
functions that call them can still be cached on disk (``cache=True``). ctypes function
pointers would make them uncacheable.

Layout: all matrices here are C-contiguous row-major numpy arrays handed to Fortran
(column-major) routines. A symmetric d × d matrix is the same in both orders, and a
row-major n × d block ``Y`` is the column-major d × n matrix ``Yᵀ``; hence ``syrk`` with
``trans="N"`` computes ``Yᵀ Y``. Only one triangle of ``A`` is written and read
(``uplo="U"`` in Fortran terms, the lower triangle of the numpy array).

Callers must keep BLAS single-threaded while these run inside numba's threads
(`ials.solvers.single_threaded_blas`), or the threads oversubscribe the cores.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address

_VOID_PTR = types.voidptr


def _declare(module: str, name: str, n_args: int) -> types.ExternalFunction:
    symbol = f"ials_{name}"
    llvm.add_symbol(symbol, get_cython_function_address(f"scipy.linalg.{module}", name))
    return types.ExternalFunction(symbol, types.void(*([_VOID_PTR] * n_args)))


_sgemv = _declare("cython_blas", "sgemv", 11)
_dgemv = _declare("cython_blas", "dgemv", 11)
_ssymv = _declare("cython_blas", "ssymv", 10)
_dsymv = _declare("cython_blas", "dsymv", 10)
_ssyrk = _declare("cython_blas", "ssyrk", 10)
_dsyrk = _declare("cython_blas", "dsyrk", 10)
_spotrf = _declare("cython_lapack", "spotrf", 5)
_dpotrf = _declare("cython_lapack", "dpotrf", 5)
_spotrs = _declare("cython_lapack", "spotrs", 8)
_dpotrs = _declare("cython_lapack", "dpotrs", 8)

_UPLO = ord("U")
_TRANS = ord("N")
_TRANS_T = ord("T")


@njit(cache=True, nogil=True)
def rows_times_vector(rows, vector, out):
    """Set ``out = rows @ vector``: the dot product of every row with ``vector``.

    rows : (n, d) C-contiguous. vector : (d,). out : (n,). Same dtype throughout.
    """
    n, d = rows.shape
    if n == 0:
        return
    _gemv_column_major(ord("T"), d, n, rows, vector, out, 0.0)


@njit(cache=True, nogil=True)
def add_rows_weighted(rows, weights, out):
    """Add ``rowsᵀ @ weights`` (Σ_j weights[j] rows[j]) to ``out``.

    rows : (n, d) C-contiguous. weights : (n,). out : (d,). Same dtype throughout.
    """
    n, d = rows.shape
    if n == 0:
        return
    _gemv_column_major(ord("N"), d, n, rows, weights, out, 1.0)


@njit(cache=True, nogil=True)
def _gemv_column_major(trans, m, n, A, x, y, beta):
    """y = op(A) x + beta y for the column-major m × n matrix A (a row-major n × m array)."""
    ints = np.array([m, n, 1], np.int32)  # rows, columns (= leading dimension m), increment
    scalars = np.empty(2, A.dtype)
    scalars[0] = 1.0
    scalars[1] = beta
    chars = np.array([trans], np.uint8)
    if A.itemsize == 4:
        _sgemv(chars.ctypes, ints[0:].ctypes, ints[1:].ctypes, scalars[0:].ctypes, A.ctypes,
               ints[0:].ctypes, x.ctypes, ints[2:].ctypes, scalars[1:].ctypes, y.ctypes,
               ints[2:].ctypes)
    else:
        _dgemv(chars.ctypes, ints[0:].ctypes, ints[1:].ctypes, scalars[0:].ctypes, A.ctypes,
               ints[0:].ctypes, x.ctypes, ints[2:].ctypes, scalars[1:].ctypes, y.ctypes,
               ints[2:].ctypes)


@njit(cache=True, nogil=True)
def symv(A, x, y, alpha, beta):
    """Set ``y = alpha A x + beta y`` for a symmetric ``A``, reading one triangle.

    A : (d, d) C-contiguous, symmetric. x, y : (d,) contiguous, same dtype as A.
    """
    d = A.shape[0]
    ints = np.array([d, 1], np.int32)  # order and leading dimension, increment
    scalars = np.empty(2, A.dtype)
    scalars[0] = alpha
    scalars[1] = beta
    chars = np.array([_UPLO], np.uint8)
    if A.itemsize == 4:
        _ssymv(chars.ctypes, ints[0:].ctypes, scalars[0:].ctypes, A.ctypes, ints[0:].ctypes,
               x.ctypes, ints[1:].ctypes, scalars[1:].ctypes, y.ctypes, ints[1:].ctypes)
    else:
        _dsymv(chars.ctypes, ints[0:].ctypes, scalars[0:].ctypes, A.ctypes, ints[0:].ctypes,
               x.ctypes, ints[1:].ctypes, scalars[1:].ctypes, y.ctypes, ints[1:].ctypes)


@njit(cache=True, nogil=True)
def syrk_add(Y, A):
    """Add ``Yᵀ Y`` to one triangle of ``A``.

    Y : (n, d) C-contiguous float32 or float64. A : (d, d) C-contiguous, same dtype.
    """
    n, d = Y.shape
    if n == 0:
        return
    ints = np.array([d, n], np.int32)
    scalars = np.ones(2, A.dtype)  # alpha = beta = 1
    chars = np.array([_UPLO, _TRANS], np.uint8)
    if A.itemsize == 4:
        _ssyrk(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
               scalars[0:].ctypes, Y.ctypes, ints[0:].ctypes, scalars[1:].ctypes,
               A.ctypes, ints[0:].ctypes)
    else:
        _dsyrk(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
               scalars[0:].ctypes, Y.ctypes, ints[0:].ctypes, scalars[1:].ctypes,
               A.ctypes, ints[0:].ctypes)


@njit(cache=True, nogil=True)
def syrk_outer_add(Z, C):
    """Add ``Z Zᵀ`` to one triangle of ``C`` (the triangle `cholesky_solve` reads).

    Z : (n, d) C-contiguous float32 or float64. C : (n, n) C-contiguous, same dtype.
    """
    n, d = Z.shape
    if n == 0:
        return
    ints = np.array([n, d], np.int32)  # order of C, inner dimension (= leading dim of Z)
    scalars = np.ones(2, C.dtype)
    chars = np.array([_UPLO, _TRANS_T], np.uint8)
    if C.itemsize == 4:
        _ssyrk(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
               scalars[0:].ctypes, Z.ctypes, ints[1:].ctypes, scalars[1:].ctypes,
               C.ctypes, ints[0:].ctypes)
    else:
        _dsyrk(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
               scalars[0:].ctypes, Z.ctypes, ints[1:].ctypes, scalars[1:].ctypes,
               C.ctypes, ints[0:].ctypes)


@njit(cache=True, nogil=True)
def cholesky_solve(A, b):
    """Solve ``A x = b`` in place for symmetric positive definite ``A``.

    A : (d, d) C-contiguous; only the triangle `syrk_add` writes is read, and it is
    overwritten by the Cholesky factor. b : (d,) contiguous, overwritten by x.
    Returns LAPACK's ``info``: 0 on success, > 0 when ``A`` is not positive definite.
    """
    d = A.shape[0]
    ints = np.array([d, 1, 0], np.int32)  # order, number of right-hand sides, info
    chars = np.array([_UPLO], np.uint8)
    if A.itemsize == 4:
        _spotrf(chars.ctypes, ints[0:].ctypes, A.ctypes, ints[0:].ctypes, ints[2:].ctypes)
        if ints[2] != 0:
            return ints[2]
        _spotrs(chars.ctypes, ints[0:].ctypes, ints[1:].ctypes, A.ctypes, ints[0:].ctypes,
                b.ctypes, ints[0:].ctypes, ints[2:].ctypes)
    else:
        _dpotrf(chars.ctypes, ints[0:].ctypes, A.ctypes, ints[0:].ctypes, ints[2:].ctypes)
        if ints[2] != 0:
            return ints[2]
        _dpotrs(chars.ctypes, ints[0:].ctypes, ints[1:].ctypes, A.ctypes, ints[0:].ctypes,
                b.ctypes, ints[0:].ctypes, ints[2:].ctypes)
    return ints[2]


@njit(cache=True, fastmath=True, inline="always")
def dot(a, b):
    """Dot product as a plain loop: LLVM vectorizes it, and unlike ``np.dot`` on 1-D
    arrays it makes no BLAS call, whose overhead dominates at d ≤ a few hundred."""
    # a[0] - a[0] is a zero of the arrays' dtype; a Python 0 would promote float32 to
    # float64 and halve the vector width.
    total = a[0] - a[0]
    for k in range(a.shape[0]):
        total += a[k] * b[k]
    return total


@njit(cache=True, nogil=True)
def longest_row(indptr, first, last):
    """Return the largest interaction count among CSR rows ``first`` to ``last - 1``."""
    longest = 0
    for u in range(first, last):
        longest = max(longest, indptr[u + 1] - indptr[u])
    return longest


@njit(cache=True, fastmath=True, nogil=True)
def gather_rows(Y, indices, start, n, out):
    """Copy rows ``Y[indices[start:start + n]]`` into ``out[:n]`` (contiguous)."""
    d = Y.shape[1]
    for j in range(n):
        row = Y[indices[start + j]]
        for k in range(d):
            out[j, k] = row[k]
