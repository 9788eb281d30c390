"""Ranking metrics as pure functions on score matrices and top-k lists.

Full ranking (Recall@k, NDCG@k, HR@k) goes through three steps, each vectorized over a
batch of users:

1. `top_k_items` turns a score matrix into the top-k item ids of each row.
2. `target_hits` marks which of those items are targets of the row's user.
3. `recall_at_k`, `ndcg_at_k` and `hit_rate_at_k` reduce the hit matrix to one value
   per user.

Tie rule of the full ranking: items are ordered by score, descending, and items with
equal scores by item id, ascending. The rule holds for the whole top-k list, including
ties at the cut-off (the k-th and the (k+1)-th item score the same), so the result does
not depend on the batch size or the number of threads.

Leave-one-out with sampled negatives uses `sampled_rank`, then `sampled_hit_rate` and
`sampled_ndcg`. Its tie rule is pessimistic: a negative that scores the same as the
held-out item ranks above it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

def top_k_items(scores: np.ndarray, k: int) -> np.ndarray:
    """Select the k best-scoring items of each row, best first.

    Runs a numba kernel in parallel over rows. Each row keeps a heap of its k best items
    in one pass over the scores, so the cost is O(n_items) per row plus O(k log k).

    Parameters
    ----------
    scores : ndarray of float, shape (n, n_items)
        Score of every item for each of n users. ``-inf`` marks an item that must never
        be ranked (an excluded item). NaN is invalid.
    k : int
        List length (≥ 1). A k larger than ``n_items`` returns ``n_items`` columns.

    Returns
    -------
    ndarray of int64, shape (n, min(k, n_items))
        Item ids ordered by score descending, then item id ascending. A position past
        the row's items with a finite score contains -1, which happens only when a row
        has fewer than k such items.

    Raises
    ------
    ValueError
        If ``scores`` is not 2-D, ``k`` < 1, or ``scores`` contains NaN.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(
            f"scores must be a 2-D array (users × items); got shape {scores.shape}."
        )
    if int(k) < 1:
        raise ValueError(f"k must be at least 1; got {k}.")
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    scores = np.ascontiguousarray(scores)
    n_rows, n_items = scores.shape
    k = min(int(k), n_items)
    top_items = np.empty((n_rows, k), dtype=np.int64)
    if n_rows == 0 or k == 0:
        return top_items

    nan_rows = np.zeros(n_rows, dtype=np.bool_)
    _top_k_kernel(scores, k, top_items, nan_rows)
    if nan_rows.any():
        raise ValueError(
            f"scores contain NaN in {int(nan_rows.sum())} row(s), so items cannot be "
            "ranked; the factors are probably not finite (a diverged model). Check the "
            "training loss and hyperparameters."
        )
    return top_items


@njit(inline="always")
def _ranks_below(score_a, item_a, score_b, item_b):
    """Return True if item a ranks below item b: lower score, or same score, higher id."""
    return score_a < score_b or (score_a == score_b and item_a > item_b)


@njit(inline="always")
def _swap(heap_scores, heap_items, a, b):
    heap_scores[a], heap_scores[b] = heap_scores[b], heap_scores[a]
    heap_items[a], heap_items[b] = heap_items[b], heap_items[a]


@njit(inline="always")
def _sift_down(heap_scores, heap_items, position, size):
    """Restore the heap below ``position``; the root is the lowest-ranked item."""
    while True:
        child = 2 * position + 1
        if child >= size:
            return
        right = child + 1
        if right < size and _ranks_below(
            heap_scores[right], heap_items[right], heap_scores[child], heap_items[child]
        ):
            child = right
        if not _ranks_below(
            heap_scores[child], heap_items[child], heap_scores[position], heap_items[position]
        ):
            return
        _swap(heap_scores, heap_items, position, child)
        position = child


@njit(inline="always")
def _sift_up(heap_scores, heap_items, position):
    while position > 0:
        parent = (position - 1) // 2
        if not _ranks_below(
            heap_scores[position], heap_items[position], heap_scores[parent], heap_items[parent]
        ):
            return
        _swap(heap_scores, heap_items, position, parent)
        position = parent


@njit(parallel=True, cache=True)
def _top_k_kernel(scores, k, top_items, nan_rows):
    """Write each row's top k into ``top_items`` (best first, -1 padded); flag NaN rows."""
    n_rows, n_items = scores.shape
    for row in prange(n_rows):
        heap_scores = np.empty(k, dtype=scores.dtype)
        heap_items = top_items[row]
        size = 0
        # Items arrive in ascending id order, so a newcomer that only ties the heap's
        # lowest-ranked item ranks below it and stays out, so the lowest ids win ties.
        for item in range(n_items):
            # NaN fails every comparison, so it reaches only the isnan branches.
            score = scores[row, item]
            if size == k:
                if score > heap_scores[0]:
                    heap_scores[0] = score
                    heap_items[0] = item
                    _sift_down(heap_scores, heap_items, 0, size)
                elif np.isnan(score):
                    nan_rows[row] = True
            elif score > -np.inf:
                heap_scores[size] = score
                heap_items[size] = item
                _sift_up(heap_scores, heap_items, size)
                size += 1
            elif np.isnan(score):
                nan_rows[row] = True

        for position in range(size, k):
            heap_items[position] = -1
        # Heap sort: move the lowest-ranked item to the back until the heap is empty.
        while size > 1:
            last = size - 1
            _swap(heap_scores, heap_items, 0, last)
            size = last
            _sift_down(heap_scores, heap_items, 0, size)


def target_hits(top_items: np.ndarray, targets: sp.csr_matrix) -> np.ndarray:
    """Mark which ranked items are targets.

    Parameters
    ----------
    top_items : ndarray of int, shape (n, k)
        Ranked item ids per user as `top_k_items` returns them; -1 never hits.
    targets : csr_matrix, shape (n, n_items)
        Target items of each user: every stored entry is a target, whatever its value,
        so remove explicit zeros first.

    Returns
    -------
    ndarray of bool, shape (n, k)
        ``hits[u, r]`` is True when the item at 0-based rank r is a target of user u.
    """
    top_items = np.asarray(top_items)
    targets = sp.csr_matrix(targets)
    if top_items.ndim != 2 or top_items.shape[0] != targets.shape[0]:
        raise ValueError(
            f"top_items must have shape (n, k) with n = {targets.shape[0]} rows of "
            f"targets; got shape {top_items.shape}."
        )
    n_rows, n_items = targets.shape
    if not targets.has_sorted_indices:
        targets = targets.sorted_indices()

    # One int64 key per (row, item) pair, ascending in row-major order, so a binary search
    # finds each ranked item among the targets.
    target_rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(targets.indptr))
    target_keys = target_rows * n_items + targets.indices
    ranked_keys = np.arange(n_rows, dtype=np.int64)[:, None] * n_items + top_items
    if target_keys.size == 0:
        return np.zeros(top_items.shape, dtype=bool)
    position = np.minimum(np.searchsorted(target_keys, ranked_keys), target_keys.size - 1)
    return (target_keys[position] == ranked_keys) & (top_items >= 0)


def _check_cutoff(hits: np.ndarray, n_targets: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    n_targets = np.asarray(n_targets)
    if hits.ndim != 2 or n_targets.shape != (hits.shape[0],):
        raise ValueError(
            f"hits must have shape (n, K) and n_targets shape (n,); got {hits.shape} "
            f"and {n_targets.shape}."
        )
    if not 1 <= k <= hits.shape[1]:
        raise ValueError(
            f"k must be between 1 and the ranked list length {hits.shape[1]}; got {k}."
        )
    if (n_targets < 1).any():
        raise ValueError(
            "every user needs at least one target; leave users without targets out "
            "before computing Recall@k or NDCG@k."
        )
    return n_targets, int(k)


def recall_at_k(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Compute Recall@k = (targets in the top k) / min(k, |targets|) per user.

    Parameters
    ----------
    hits : ndarray of bool, shape (n, K)
        Output of `target_hits`, K ≥ k.
    n_targets : ndarray of int, shape (n,)
        Number of targets of each user (≥ 1).
    k : int
        Cut-off.

    Returns
    -------
    ndarray of float64, shape (n,)
        Values in [0, 1].
    """
    n_targets, k = _check_cutoff(hits, n_targets, k)
    found = np.count_nonzero(hits[:, :k], axis=1)
    return found / np.minimum(k, n_targets)


def ndcg_at_k(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Compute NDCG@k = DCG@k / IDCG@k per user with binary gains.

    DCG@k sums 1 / log2(r + 2) over the 0-based ranks r < k that hold a target. IDCG@k
    is the DCG of a list with all targets first, over min(k, |targets|) positions.

    Parameters and return value as in `recall_at_k`.
    """
    n_targets, k = _check_cutoff(hits, n_targets, k)
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = hits[:, :k] @ discounts
    ideal_dcg = np.cumsum(discounts)[np.minimum(k, n_targets) - 1]
    return dcg / ideal_dcg


def hit_rate_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Compute HR@k per user: 1.0 if any target is in the top k, else 0.0.

    Parameters
    ----------
    hits : ndarray of bool, shape (n, K)
        Output of `target_hits`, K ≥ k.
    k : int
        Cut-off.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    hits = np.asarray(hits)
    if hits.ndim != 2 or not 1 <= k <= hits.shape[1]:
        raise ValueError(
            f"hits must be 2-D with at least k columns; got shape {hits.shape}, k={k}."
        )
    return hits[:, :k].any(axis=1).astype(np.float64)


def sampled_rank(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Rank each held-out item among its sampled negatives (0 = best).

    The rank is the number of distinct negatives that score at least as high as the
    held-out item, so ties count against the held-out item. Candidates are scored as a
    set, as in the original NCF evaluation: a negative equal to the held-out item is
    ignored, a negative that repeats counts once, and -1 marks an unused slot.

    Parameters
    ----------
    scores : ndarray of float, shape (n, 1 + m)
        Score of each candidate; column 0 is the held-out item.
    candidates : ndarray of int, shape (n, 1 + m)
        Item id of each candidate; column 0 is the held-out item, columns 1..m its
        negatives.

    Returns
    -------
    ndarray of int64, shape (n,)
        Rank of the held-out item, between 0 and m.
    """
    scores = np.asarray(scores)
    candidates = np.asarray(candidates)
    if scores.ndim != 2 or scores.shape != candidates.shape or scores.shape[1] < 2:
        raise ValueError(
            "scores and candidates must have the same shape (n, 1 + m) with m ≥ 1; got "
            f"{scores.shape} and {candidates.shape}."
        )
    if np.isnan(scores).any():
        raise ValueError(
            "scores contain NaN, so candidates cannot be ranked; the factors are "
            "probably not finite (a diverged model)."
        )
    held_out = candidates[:, :1]
    negatives = candidates[:, 1:]
    counted = (negatives != held_out) & (negatives >= 0)

    # Find repeats by sorting each row's negatives; only the first copy counts.
    order = np.argsort(negatives, axis=1, kind="stable")
    sorted_negatives = np.take_along_axis(negatives, order, axis=1)
    repeat_sorted = np.zeros(negatives.shape, dtype=bool)
    repeat_sorted[:, 1:] = sorted_negatives[:, 1:] == sorted_negatives[:, :-1]
    repeat = np.empty_like(repeat_sorted)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    counted &= ~repeat

    above = scores[:, 1:] >= scores[:, :1]
    return np.count_nonzero(above & counted, axis=1).astype(np.int64)


def sampled_hit_rate(rank: np.ndarray, k: int) -> np.ndarray:
    """Compute HR@k of the sampled protocol: 1.0 if ``rank < k``, else 0.0 (shape (n,))."""
    return (np.asarray(rank) < k).astype(np.float64)


def sampled_ndcg(rank: np.ndarray, k: int) -> np.ndarray:
    """Compute NDCG@k of the sampled protocol: 1 / log2(rank + 2) if ``rank < k``, else 0.

    With one relevant item IDCG is 1, so this is the DCG of the held-out item.
    """
    rank = np.asarray(rank)
    gain = 1.0 / np.log2(rank.astype(np.float64) + 2.0)
    return np.where(rank < k, gain, 0.0)
