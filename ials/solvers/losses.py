"""Loss components L_S, L_I and R without materializing |U| × |I|.

    L_S = Σ_{(u,i) ∈ S} (⟨w_u, h_i⟩ − 1)²
    L_I = α₀ Σ_{u,i} ⟨w_u, h_i⟩² = α₀ Σ_{j,k} (WᵀW)_{jk} (HᵀH)_{jk}      (all pairs)
    R   = Σ_u λ_u ‖w_u‖² + Σ_i λ_i ‖h_i‖²

Sums are accumulated in float64 whatever the embedding dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ials.solvers._lapack import dot


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def observed_loss(indptr, indices, W, H):
    """Return L_S for the CSR structure (rows index ``W``, columns index ``H``)."""
    n_rows = indptr.size - 1
    total = 0.0
    for u in prange(n_rows):
        partial = 0.0
        for position in range(indptr[u], indptr[u + 1]):
            error = np.float64(dot(W[u], H[indices[position]])) - 1.0
            partial += error * error
        total += partial
    return total


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def weighted_sq_norms(X, weights):
    """Return Σ_u weights[u] ‖X[u]‖² in float64."""
    total = 0.0
    for u in prange(X.shape[0]):
        total += np.float64(weights[u]) * np.float64(dot(X[u], X[u]))
    return total


def gramian(X: np.ndarray) -> np.ndarray:
    """Return ``Xᵀ X`` (d × d) through BLAS, in the dtype of ``X``."""
    return X.T @ X


def unobserved_loss(gram_w: np.ndarray, gram_h: np.ndarray, alpha0: float) -> float:
    """Return L_I = α₀ Σ_{jk} (WᵀW)_{jk}(HᵀH)_{jk} from the two Gramians."""
    return float(alpha0 * np.sum(gram_w.astype(np.float64) * gram_h.astype(np.float64)))
