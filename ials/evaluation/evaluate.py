"""Score a factor model on an evaluation task, in user batches of bounded memory.

A model is anything with ``user_factors`` (n_users × d), ``item_factors`` (n_items × d)
and ``fold_in(history_csr) -> ndarray (n × d)``. The score of an item for a user is the
dot product of their embeddings. `evaluate` returns the mean of each metric over the
evaluated users, which are the users with at least one target.

Full ranking (`RankingTask`) computes one matrix product per batch of users, sets the
excluded items to ``-inf`` and keeps the top k with a parallel heap kernel. Items with
equal scores rank by item id, ascending (see `ials.evaluation.metrics`). Sampled ranking
(`SampledTask`) scores only each user's candidates; a negative that scores the same as
the held-out item ranks above it.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from ials.data.types import RankingTask, SampledTask
from ials.evaluation import metrics

logger = logging.getLogger(__name__)

RANKING_METRICS = ("Recall", "NDCG", "HR")

# Upper bound on the gathered candidate embeddings of one sampled-task batch, in array
# elements (32 MB in float64). Batches shrink below ``batch_users`` to stay under it.
_CANDIDATE_ELEMENTS = 1 << 22


def evaluate(model, task: SampledTask | RankingTask, batch_users: int = 1024) -> dict[str, float]:
    """Compute the metrics of ``task`` for ``model``, averaged over evaluated users.

    Parameters
    ----------
    model : object
        Has ``user_factors`` (ndarray, n_users × d), ``item_factors`` (ndarray,
        n_items × d) and ``fold_in(history_csr) -> ndarray (n × d)``. Scores are computed
        in the factors' common float dtype (float64 for integer factors).
    task : SampledTask or RankingTask
        What to score. A `RankingTask` with ``fold_in`` set embeds its users by calling
        ``model.fold_in`` once per batch with the batch's history rows.
    batch_users : int
        Users scored per batch (≥ 1). A full-ranking batch allocates a scores array of
        ``batch_users × n_items`` elements in the factors' dtype.

    Returns
    -------
    dict of str to float
        For a `SampledTask`, HR@k and NDCG@k for each k in ``task.ks``, for example
        ``{"HR@10": ..., "NDCG@10": ...}``. For a `RankingTask`, one entry per family in
        ``task.metrics`` and k in ``task.ks``, for example ``{"Recall@20": ...}``.

    Raises
    ------
    ValueError
        If the shapes of model and task disagree, an id is out of range, a setting is
        invalid, no user has a target, or the scores contain NaN.
    """
    if isinstance(batch_users, bool) or not isinstance(batch_users, (int, np.integer)):
        raise ValueError(f"batch_users must be an integer ≥ 1; got {batch_users!r}.")
    if batch_users < 1:
        raise ValueError(f"batch_users must be an integer ≥ 1; got {batch_users}.")
    user_factors, item_factors = _factor_arrays(model)
    started = time.perf_counter()

    if isinstance(task, SampledTask):
        result, n_evaluated = _evaluate_sampled(user_factors, item_factors, task, batch_users)
    elif isinstance(task, RankingTask):
        result, n_evaluated = _evaluate_ranking(
            model, user_factors, item_factors, task, batch_users
        )
    else:
        raise ValueError(
            f"task must be a SampledTask or a RankingTask; got {type(task).__name__}."
        )
    logger.debug(
        "Evaluated %d users in %.3f s: %s", n_evaluated, time.perf_counter() - started, result
    )
    return result


def evaluated_users(task: SampledTask | RankingTask) -> int:
    """Count the users of ``task`` that `evaluate` averages over (those with a target)."""
    if isinstance(task, SampledTask):
        return int(np.count_nonzero(np.asarray(task.candidates)[:, 0] >= 0))
    if isinstance(task, RankingTask):
        return int(np.count_nonzero(np.diff(_binary_csr(task.targets, "targets").indptr)))
    raise ValueError(f"task must be a SampledTask or a RankingTask; got {type(task).__name__}.")


def _factor_arrays(model) -> tuple[np.ndarray, np.ndarray]:
    """Return the user and item factors as 2-D arrays of one float dtype."""
    for name in ("user_factors", "item_factors"):
        if getattr(model, name, None) is None:
            raise ValueError(
                f"model has no {name}; train or fit it before evaluating."
            )
    user_factors = np.asarray(model.user_factors)
    item_factors = np.asarray(model.item_factors)
    if user_factors.ndim != 2 or item_factors.ndim != 2:
        raise ValueError(
            "user_factors and item_factors must be 2-D (rows × d); got shapes "
            f"{user_factors.shape} and {item_factors.shape}."
        )
    if user_factors.shape[1] != item_factors.shape[1]:
        raise ValueError(
            f"user_factors has d = {user_factors.shape[1]} columns but item_factors has "
            f"d = {item_factors.shape[1]}; both must have the embedding dimension d."
        )
    dtype = np.result_type(user_factors.dtype, item_factors.dtype)
    if not np.issubdtype(dtype, np.floating) or dtype.itemsize < 4:
        dtype = np.dtype(np.float64)
    return user_factors.astype(dtype, copy=False), item_factors.astype(dtype, copy=False)


def _check_ks(ks) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks:
        raise ValueError("task.ks is empty; give at least one cut-off k ≥ 1.")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every cut-off in task.ks must be an integer ≥ 1; got {k!r}.")
    return tuple(int(k) for k in ks)


def _check_users(users, n_rows: int, n_users: int) -> np.ndarray:
    users = np.asarray(users)
    if users.shape != (n_rows,) or not np.issubdtype(users.dtype, np.integer):
        raise ValueError(
            f"task.users must be an integer array of shape ({n_rows},); got dtype "
            f"{users.dtype} and shape {users.shape}."
        )
    if n_rows and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(
            f"task.users must index rows of user_factors, 0 to {n_users - 1}; got values "
            f"from {users.min()} to {users.max()}."
        )
    return users


def _binary_csr(matrix, name: str) -> sp.csr_matrix:
    """Return ``matrix`` as CSR with one stored entry per non-zero, indices sorted."""
    if not sp.issparse(matrix):
        raise ValueError(f"task.{name} must be a scipy sparse matrix; got {type(matrix).__name__}.")
    matrix = sp.csr_matrix(matrix, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def _no_users_error(kind: str) -> ValueError:
    return ValueError(
        f"no user of the {kind} has a target, so there is nothing to evaluate; check the "
        "protocol that built the task."
    )


def _evaluate_sampled(
    user_factors: np.ndarray, item_factors: np.ndarray, task: SampledTask, batch_users: int
) -> tuple[dict[str, float], int]:
    ks = _check_ks(task.ks)
    candidates = np.asarray(task.candidates)
    if candidates.ndim != 2 or candidates.shape[1] < 2 or not np.issubdtype(
        candidates.dtype, np.integer
    ):
        raise ValueError(
            "task.candidates must be an integer array of shape (n, 1 + m) with m ≥ 1 "
            f"negatives; got dtype {candidates.dtype} and shape {candidates.shape}."
        )
    n_items = item_factors.shape[0]
    if candidates.size and (candidates.min() < -1 or candidates.max() >= n_items):
        raise ValueError(
            f"task.candidates must contain item ids from 0 to {n_items - 1} (or -1 for none); "
            f"got values from {candidates.min()} to {candidates.max()}."
        )
    users = _check_users(task.users, candidates.shape[0], user_factors.shape[0])

    # A user whose held-out item is -1 has no target and is left out.
    rows = np.flatnonzero(candidates[:, 0] >= 0)
    if rows.size == 0:
        raise _no_users_error("sampled task")

    per_batch = candidates.shape[1] * item_factors.shape[1]
    batch_users = max(1, min(batch_users, _CANDIDATE_ELEMENTS // per_batch))
    sums = {f"{family}@{k}": 0.0 for k in ks for family in ("HR", "NDCG")}
    for start in range(0, rows.size, batch_users):
        batch = rows[start : start + batch_users]
        batch_candidates = candidates[batch]
        user_batch = user_factors[users[batch]]
        # Unused slots (-1) gather item 0; sampled_rank ignores their scores.
        candidate_factors = item_factors[np.maximum(batch_candidates, 0)]
        scores = np.matmul(candidate_factors, user_batch[:, :, None])[:, :, 0]
        rank = metrics.sampled_rank(scores, batch_candidates)
        for k in ks:
            sums[f"HR@{k}"] += metrics.sampled_hit_rate(rank, k).sum()
            sums[f"NDCG@{k}"] += metrics.sampled_ndcg(rank, k).sum()
    return {key: float(total / rows.size) for key, total in sums.items()}, int(rows.size)


def _check_ranking_task(task: RankingTask, n_users: int, n_items: int):
    """Validate a full-ranking task and return (ks, targets, exclude, users, fold_in)."""
    ks = _check_ks(task.ks)
    if not task.metrics:
        raise ValueError(
            f"task.metrics is empty; give at least one of {', '.join(RANKING_METRICS)}."
        )
    for family in task.metrics:
        if family not in RANKING_METRICS:
            raise ValueError(
                f"unknown metric family {family!r} in task.metrics; use one of "
                f"{', '.join(RANKING_METRICS)}."
            )
    targets = _binary_csr(task.targets, "targets")
    exclude = _binary_csr(task.exclude, "exclude")
    if targets.shape[1] != n_items or exclude.shape != targets.shape:
        raise ValueError(
            f"task.targets and task.exclude must both have shape (n, {n_items}) to match "
            f"item_factors; got {targets.shape} and {exclude.shape}."
        )

    has_users = task.users is not None
    has_fold_in = task.fold_in is not None
    if has_users == has_fold_in:
        raise ValueError(
            "a RankingTask needs exactly one of task.users (trained users) and "
            "task.fold_in (held-out users' history); got "
            + ("both." if has_users else "neither.")
        )
    users = fold_in = None
    if has_users:
        users = _check_users(task.users, targets.shape[0], n_users)
    else:
        if not sp.issparse(task.fold_in) or task.fold_in.shape != targets.shape:
            raise ValueError(
                f"task.fold_in must be a sparse matrix of shape {targets.shape} like "
                f"task.targets; got {getattr(task.fold_in, 'shape', type(task.fold_in))}."
            )
        fold_in = sp.csr_matrix(task.fold_in)
    return ks, targets, exclude, users, fold_in


def _fold_in_batch(model, history: sp.csr_matrix, dim: int, dtype: np.dtype) -> np.ndarray:
    user_batch = np.asarray(model.fold_in(history))
    if user_batch.shape != (history.shape[0], dim):
        raise ValueError(
            f"model.fold_in returned shape {user_batch.shape} for {history.shape[0]} "
            f"users; expected ({history.shape[0]}, {dim})."
        )
    return user_batch.astype(dtype, copy=False)


def _evaluate_ranking(
    model,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    task: RankingTask,
    batch_users: int,
) -> tuple[dict[str, float], int]:
    n_items, dim = item_factors.shape
    ks, targets, exclude, users, fold_in = _check_ranking_task(
        task, user_factors.shape[0], n_items
    )
    n_targets = np.diff(targets.indptr)
    rows = np.flatnonzero(n_targets > 0)
    if rows.size == 0:
        raise _no_users_error("ranking task")

    list_length = min(max(ks), n_items)
    sums = {f"{family}@{k}": 0.0 for family in task.metrics for k in ks}
    for start in range(0, rows.size, batch_users):
        batch = rows[start : start + batch_users]
        if users is not None:
            user_batch = user_factors[users[batch]]
        else:
            user_batch = _fold_in_batch(model, fold_in[batch], dim, item_factors.dtype)

        scores = user_batch @ item_factors.T
        batch_exclude = exclude[batch]
        excluded_rows = np.repeat(np.arange(batch.size), np.diff(batch_exclude.indptr))
        scores[excluded_rows, batch_exclude.indices] = -np.inf

        top_items = metrics.top_k_items(scores, list_length)
        del scores
        hits = metrics.target_hits(top_items, targets[batch])
        batch_targets = n_targets[batch]
        for k in ks:
            # With k > n_items every item is ranked, and min(k, |targets|) = |targets|
            # either way, so the cut-off min(k, n_items) gives the same values.
            cutoff = min(k, list_length)
            if "Recall" in task.metrics:
                sums[f"Recall@{k}"] += metrics.recall_at_k(hits, batch_targets, cutoff).sum()
            if "NDCG" in task.metrics:
                sums[f"NDCG@{k}"] += metrics.ndcg_at_k(hits, batch_targets, cutoff).sum()
            if "HR" in task.metrics:
                sums[f"HR@{k}"] += metrics.hit_rate_at_k(hits, cutoff).sum()
    return {key: float(total / rows.size) for key, total in sums.items()}, int(rows.size)
