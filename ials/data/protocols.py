"""Evaluation protocols: turn `Interactions` into a training matrix plus evaluation tasks.

Protocols (every random choice is seeded by ``seed``, so a seed gives one fixed split):

``leave-last-out``
    Test split: each user's latest interaction by timestamp is the test target, and the
    rest is training. Ties, and data without timestamps, are broken uniformly at random.
    Validation split: the latest remaining interaction is held out as well and becomes the
    validation target. Users with fewer than 2 (test) or 3 (validation) interactions are
    not evaluated but keep their training rows. Full ranking with Recall, NDCG and HR at
    10, 20 and 50, excluding each user's training items.
``loo-sampled``
    The NCF protocol: each held-out item is ranked among 99 sampled negatives (HR@10,
    NDCG@10). On NCF files the test task is the files' own; the validation split holds out
    each user's latest training interaction (users with ≥ 2 training pairs; NCF's ML-1M
    timestamps are placeholders, so ties are broken at random) and samples 99 fresh
    negatives uniformly from the items the user never interacted with (train and test).
    On other data it is leave-last-out with 99 sampled negatives.
``heldout-users`` / ``strong-generalization``
    Users are shuffled; 10 % become validation users and 10 % test users (at most 10,000
    each), the rest are trained on. Held-out interactions on items never seen in training
    are dropped. Each held-out user with ≥ 5 items has 20 % of them (rounded down, at
    random) as targets and the rest as fold-in history; users with fewer items are not
    evaluated. Recall and NDCG at 20, 50 and 100, excluding the history. The two names
    run the same code.

Each split uses independent random streams for the test holdout, the validation holdout
and the negatives, so the test task of ``split="validation"`` equals that of
``split="test"`` except for what the training matrix excludes.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import scipy.sparse as sp

from ials.config import PROTOCOLS, SPLITS
from ials.data.types import Interactions, RankingTask, SampledTask, Split

logger = logging.getLogger(__name__)

N_NEGATIVES = 99
SAMPLED_KS = (10,)
LEAVE_LAST_OUT_KS = (10, 20, 50)
LEAVE_LAST_OUT_METRICS = ("Recall", "NDCG", "HR")
HELDOUT_KS = (20, 50, 100)
HELDOUT_METRICS = ("Recall", "NDCG")

#: Random streams spawned from the split seed, one per random choice.
_STREAMS = ("test_holdout", "validation_holdout", "test_negatives", "validation_negatives",
            "users", "validation_targets", "test_targets")


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(_STREAMS, children)}


# --- sparse helpers -------------------------------------------------------------------


def binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Return a binary float32 CSR matrix with ones at (rows, cols) and sorted indices."""
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (np.asarray(rows), np.asarray(cols))),
        shape=shape,
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix


def _as_binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.data[:] = 1.0
    csr.sort_indices()
    return csr


def _rows(matrix: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    selected = matrix[users]
    selected.sort_indices()
    return selected


# --- entry point ----------------------------------------------------------------------


def make_split(
    interactions: Interactions,
    protocol: str,
    split: str = "validation",
    seed: int = 0,
    *,
    n_negatives: int = N_NEGATIVES,
    heldout_fraction: float = 0.1,
    max_heldout_users: int = 10_000,
    target_fraction: float = 0.2,
    min_items_to_evaluate: int = 5,
) -> Split:
    """Build the `Split` of ``protocol`` (see the module docstring) on ``interactions``.

    Parameters
    ----------
    interactions : Interactions
        The data set.
    protocol : str
        One of ``ials.config.PROTOCOLS`` except ``"predefined-split"``, which
        `ials.data.load_split` builds from the imported files.
    split : str
        ``"validation"``: eval task on validation data, training without it.
        ``"test"``: eval task = test task, training on everything else.
    seed : int
        Seed of every random choice (≥ 0).
    n_negatives : int
        Sampled negatives per held-out item (``loo-sampled``).
    heldout_fraction, max_heldout_users : float, int
        Share of users held out for validation and again for test, and the cap on each
        (held-out-user protocols).
    target_fraction, min_items_to_evaluate : float, int
        Share of a held-out user's items that become targets, and the minimum item count
        for the user to be evaluated (held-out-user protocols).

    Raises
    ------
    ValueError
        Unknown protocol or split, an argument out of range, or data too small for the
        protocol (no user could be evaluated).
    """
    _check_arguments(protocol, split, seed, n_negatives, heldout_fraction,
                     max_heldout_users, target_fraction, min_items_to_evaluate)
    streams = _streams(seed)
    if protocol == "leave-last-out":
        result = _leave_last_out(interactions, split, streams, n_negatives=None)
    elif protocol == "loo-sampled":
        if interactions.ncf_test is not None:
            result = _ncf_loo_sampled(interactions, split, streams, n_negatives)
        else:
            result = _leave_last_out(interactions, split, streams, n_negatives=n_negatives)
    else:
        result = _heldout_users(
            interactions, split, streams, heldout_fraction, max_heldout_users,
            target_fraction, min_items_to_evaluate,
        )
    result.protocol = protocol
    result.info.update({"dataset": interactions.name, "protocol": protocol, "split": split,
                        "seed": seed})
    logger.info("split %s/%s/%s seed %d: %s", interactions.name, protocol, split, seed,
                result.info)
    return result


def _check_arguments(protocol, split, seed, n_negatives, heldout_fraction,
                     max_heldout_users, target_fraction, min_items_to_evaluate) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}.")
    if protocol == "predefined-split":
        raise ValueError(
            "protocol 'predefined-split' scores an imported test file, so it cannot be "
            "built from interactions; import the files with `python -m ials data import "
            "TRAIN --test-file TEST --name NAME` and call load_split(NAME)."
        )
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}.")
    if n_negatives < 1:
        raise ValueError(f"n_negatives must be ≥ 1, got {n_negatives}.")
    if not 0 < heldout_fraction < 0.5:
        raise ValueError(
            f"heldout_fraction must be in (0, 0.5) so that training users remain, got "
            f"{heldout_fraction}."
        )
    if max_heldout_users < 1:
        raise ValueError(f"max_heldout_users must be ≥ 1, got {max_heldout_users}.")
    if not 0 < target_fraction < 1:
        raise ValueError(f"target_fraction must be in (0, 1), got {target_fraction}.")
    if min_items_to_evaluate < 2:
        raise ValueError(f"min_items_to_evaluate must be ≥ 2, got {min_items_to_evaluate}.")


def _base_info(interactions: Interactions, n_pairs: int) -> dict:
    return {"users": interactions.n_users, "items": interactions.n_items,
            "interactions": n_pairs}


def _train_info(train: sp.csr_matrix) -> dict:
    return {"train_users": train.shape[0], "train_interactions": int(train.nnz)}


# --- leave-last-out -------------------------------------------------------------------


def all_pairs(interactions: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return (user, item, timestamp) of every positive pair.

    For NCF data this appends each user's test item, as the user's latest interaction
    (timestamp just after the latest training one), so protocols other than
    ``loo-sampled`` see the whole data set.
    """
    user, item, timestamp = interactions.user, interactions.item, interactions.timestamp
    if interactions.ncf_test is None:
        return user, item, timestamp
    test_users = np.flatnonzero(interactions.ncf_test >= 0).astype(np.int32)
    test_items = interactions.ncf_test[test_users].astype(np.int32)
    user = np.concatenate([user, test_users])
    item = np.concatenate([item, test_items])
    if timestamp is not None:
        after = (timestamp.max() if timestamp.size else 0.0) + 1.0
        timestamp = np.concatenate([timestamp, np.full(test_users.shape[0], after)])
    return user, item, timestamp


def rank_from_last(
    user: np.ndarray, timestamp: np.ndarray | None, n_users: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rank each pair within its user from the latest one.

    Returns
    -------
    from_last : ndarray of int64, shape (n,)
        0 for the user's latest pair, 1 for the one before, ...; equal timestamps (or no
        timestamps) are ordered uniformly at random with ``rng``.
    counts : ndarray of int64, shape (n_users,)
        Pairs per user.
    """
    n = user.shape[0]
    tiebreak = rng.random(n)
    times = timestamp if timestamp is not None else np.zeros(n)
    order = np.lexsort((tiebreak, times, user))
    counts = np.bincount(user, minlength=n_users)
    ends = np.cumsum(counts)
    from_last = np.empty(n, dtype=np.int64)
    from_last[order] = ends[user[order]] - 1 - np.arange(n)
    return from_last, counts


def _holdout(user: np.ndarray, item: np.ndarray, mask: np.ndarray):
    """Return the users and items of the held-out pairs in ``mask``, sorted by user."""
    users, items = user[mask], item[mask]
    order = np.argsort(users, kind="stable")
    return users[order].astype(np.int32), items[order].astype(np.int32)


def _ranking_task(users, items, train, ks, metrics) -> RankingTask:
    targets = binary_csr(np.arange(users.shape[0]), items, (users.shape[0], train.shape[1]))
    return RankingTask(targets=targets, exclude=_rows(train, users), users=users, ks=ks,
                       metrics=metrics)


def _leave_last_out(
    interactions: Interactions, split: str, streams: dict, n_negatives: int | None
) -> Split:
    """Leave-last-out, scored by full ranking or (``n_negatives``) among sampled negatives."""
    user, item, timestamp = all_pairs(interactions)
    n_users, n_items = interactions.n_users, interactions.n_items
    from_last, counts = rank_from_last(user, timestamp, n_users, streams["test_holdout"])
    test_mask = (from_last == 0) & (counts[user] >= 2)
    validation_mask = (from_last == 1) & (counts[user] >= 3)
    held_out = test_mask | validation_mask if split == "validation" else test_mask
    if not test_mask.any():
        raise ValueError(
            f"{interactions.name}: no user has 2 or more interactions, so leave-last-out "
            "has nothing to hold out."
        )
    if split == "validation" and not validation_mask.any():
        raise ValueError(
            f"{interactions.name}: no user has 3 or more interactions, so leave-last-out "
            "has no validation item; use split='test'."
        )

    train = binary_csr(user[~held_out], item[~held_out], (n_users, n_items))
    test_users, test_items = _holdout(user, item, test_mask)
    if n_negatives is not None:
        positives = binary_csr(user, item, (n_users, n_items))
        test_task = _sampled_task(test_users, test_items, positives, n_negatives,
                                  streams["test_negatives"])
    else:
        test_task = _ranking_task(test_users, test_items, train, LEAVE_LAST_OUT_KS,
                                  LEAVE_LAST_OUT_METRICS)
    eval_task = test_task
    if split == "validation":
        val_users, val_items = _holdout(user, item, validation_mask)
        if n_negatives is not None:
            eval_task = _sampled_task(val_users, val_items, positives, n_negatives,
                                      streams["validation_negatives"])
        else:
            eval_task = _ranking_task(val_users, val_items, train, LEAVE_LAST_OUT_KS,
                                      LEAVE_LAST_OUT_METRICS)

    info = _base_info(interactions, user.shape[0])
    info.update(_train_info(train))
    info.update({
        "evaluated_users": int(eval_task.users.shape[0]),
        "test_users": int(test_task.users.shape[0]),
        "heldout_interactions": int(held_out.sum()),
    })
    return Split(train=train, eval_task=eval_task, test_task=test_task,
                 protocol="leave-last-out", split=split, info=info)


# --- loo-sampled on NCF files ---------------------------------------------------------


def _ncf_loo_sampled(
    interactions: Interactions, split: str, streams: dict, n_negatives: int
) -> Split:
    """Build the NCF protocol's split: the files' test task plus a sampled validation task."""
    n_users, n_items = interactions.n_users, interactions.n_items
    user, item = interactions.user, interactions.item
    test_users = np.flatnonzero(interactions.ncf_test >= 0).astype(np.int32)
    candidates = np.concatenate(
        [interactions.ncf_test[test_users, None], interactions.ncf_negatives[test_users]],
        axis=1,
    ).astype(np.int32)
    test_task = SampledTask(users=test_users, candidates=candidates, ks=SAMPLED_KS)
    if not test_users.size:
        raise ValueError(f"{interactions.name}: the NCF test file contains no test item.")

    eval_task = test_task
    held_out = np.zeros(user.shape[0], dtype=bool)
    if split == "validation":
        from_last, counts = rank_from_last(user, interactions.timestamp, n_users,
                                           streams["validation_holdout"])
        held_out = (from_last == 0) & (counts[user] >= 2)
        if not held_out.any():
            raise ValueError(
                f"{interactions.name}: no user has 2 or more training pairs, so there is "
                "no validation item; use split='test'."
            )
        val_users, val_items = _holdout(user, item, held_out)
        all_user, all_item, _ = all_pairs(interactions)
        positives = binary_csr(all_user, all_item, (n_users, n_items))
        eval_task = _sampled_task(val_users, val_items, positives, n_negatives,
                                  streams["validation_negatives"])

    train = binary_csr(user[~held_out], item[~held_out], (n_users, n_items))
    info = _base_info(interactions, user.shape[0] + test_users.shape[0])
    info.update(_train_info(train))
    info.update({
        "evaluated_users": int(eval_task.users.shape[0]),
        "test_users": int(test_users.shape[0]),
        "heldout_interactions": int(held_out.sum()) + int(test_users.shape[0]),
    })
    return Split(train=train, eval_task=eval_task, test_task=test_task,
                 protocol="loo-sampled", split=split, info=info)


def _sampled_task(users, items, positives, n_negatives, rng) -> SampledTask:
    """Rank each held-out item among ``n_negatives`` sampled ones.

    Users with fewer than ``n_negatives`` items outside their positives are left out of
    the task (with a warning), so one very active user cannot block the protocol.
    """
    available = positives.shape[1] - np.diff(positives.indptr)[users]
    enough = available >= n_negatives
    if not enough.all():
        logger.warning(
            "%d users have fewer than %d items without an interaction; they are not "
            "evaluated (first: user %d)", int((~enough).sum()), n_negatives,
            int(users[~enough][0]),
        )
        users, items = users[enough], items[enough]
    negatives = sample_negatives(users, positives, n_negatives, rng)
    candidates = np.concatenate([items[:, None], negatives], axis=1).astype(np.int32)
    return SampledTask(users=users, candidates=candidates, ks=SAMPLED_KS)


def sample_negatives(
    users: np.ndarray,
    positives: sp.csr_matrix,
    n_negatives: int,
    rng: np.random.Generator,
    max_rounds: int = 8,
) -> np.ndarray:
    """Sample ``n_negatives`` distinct items per user, uniformly from the user's non-positives.

    Parameters
    ----------
    users : ndarray of int, shape (m,)
        Rows of ``positives`` to sample for.
    positives : csr_matrix, shape (n_users, n_items)
        Known positives with sorted indices; sampled items avoid them.
    n_negatives : int
        Negatives per user.
    rng : Generator
        Source of randomness.
    max_rounds : int
        Rejection-sampling rounds before the exact fallback for the remaining rows.

    Returns
    -------
    ndarray of int32, shape (m, n_negatives)

    Raises
    ------
    ValueError
        When a user has fewer than ``n_negatives`` non-positive items.
    """
    n_items = positives.shape[1]
    users = np.asarray(users, dtype=np.int64)
    counts = np.diff(positives.indptr)[users]
    available = n_items - counts
    short = np.flatnonzero(available < n_negatives)
    if short.size:
        first = int(short[0])
        raise ValueError(
            f"user {int(users[first])} has only {int(available[first])} items without an "
            f"interaction, fewer than the {n_negatives} negatives requested; use fewer "
            "negatives or another protocol."
        )
    # Global keys user * n_items + item of all positives, sorted because CSR rows are.
    row_of_entry = np.repeat(np.arange(positives.shape[0], dtype=np.int64),
                             np.diff(positives.indptr))
    positive_keys = row_of_entry * n_items + positives.indices

    result = np.empty((users.shape[0], n_negatives), dtype=np.int32)
    pending = np.arange(users.shape[0])
    width = 2 * n_negatives + 16
    for _ in range(max_rounds):
        if not pending.size:
            break
        draws = rng.integers(0, n_items, size=(pending.shape[0], width))
        valid = _first_valid(draws, users[pending], positive_keys, n_items)
        # Keep the first n_negatives valid draws of each row, in draw order.
        selected = valid & (np.cumsum(valid, axis=1) <= n_negatives)
        complete = selected.sum(axis=1) == n_negatives
        rows = pending[complete]
        result[rows] = draws[complete][selected[complete]].reshape(-1, n_negatives)
        pending = pending[~complete]
    if pending.size:
        _sample_exact(result, pending, users, positives, n_negatives, rng)
    return result


def _first_valid(draws, users, positive_keys, n_items) -> np.ndarray:
    """Mark draws that are not positives of their user and not repeats earlier in the row."""
    keys = users[:, None] * n_items + draws
    index = np.searchsorted(positive_keys, keys)
    index = np.minimum(index, max(positive_keys.shape[0] - 1, 0))
    is_positive = (positive_keys[index] == keys) if positive_keys.size else np.zeros_like(keys, bool)
    order = np.argsort(draws, axis=1, kind="stable")
    ordered = np.take_along_axis(draws, order, axis=1)
    repeat_sorted = np.zeros(draws.shape, dtype=bool)
    repeat_sorted[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    repeat = np.empty_like(repeat_sorted)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return ~is_positive & ~repeat


def _sample_exact(result, pending, users, positives, n_negatives, rng, chunk=1024) -> None:
    """Sample for rows with few non-positives: smallest random keys among non-positives."""
    n_items = positives.shape[1]
    for start in range(0, pending.shape[0], chunk):
        rows = pending[start:start + chunk]
        keys = rng.random((rows.shape[0], n_items))
        block = positives[users[rows]].tocoo()
        keys[block.row, block.col] = np.inf
        chosen = np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]
        result[rows] = chosen


# --- held-out users -------------------------------------------------------------------


def _heldout_users(
    interactions: Interactions, split: str, streams: dict, heldout_fraction: float,
    max_heldout_users: int, target_fraction: float, min_items_to_evaluate: int,
) -> Split:
    """Strong generalization: train on some users, fold in and score the held-out ones."""
    user, item, _ = all_pairs(interactions)
    n_users, n_items = interactions.n_users, interactions.n_items
    counts = np.bincount(user, minlength=n_users)
    active = np.flatnonzero(counts > 0)
    n_heldout = min(int(round(heldout_fraction * active.shape[0])), max_heldout_users)
    if n_heldout < 1 or active.shape[0] - 2 * n_heldout < 1:
        raise ValueError(
            f"{interactions.name}: {active.shape[0]} users are too few to hold out "
            f"{heldout_fraction:.0%} for validation and for test; need at least "
            f"{math.ceil(0.5 / heldout_fraction)} users."
        )
    shuffled = streams["users"].permutation(active)
    n_train = active.shape[0] - 2 * n_heldout
    train_users = np.sort(shuffled[:n_train]).astype(np.int32)
    val_users = np.sort(shuffled[n_train:n_train + n_heldout])
    test_users = np.sort(shuffled[n_train + n_heldout:])

    row_of_user = np.full(n_users, -1, dtype=np.int64)
    row_of_user[train_users] = np.arange(train_users.shape[0])
    in_train = row_of_user[user] >= 0
    train = binary_csr(row_of_user[user[in_train]], item[in_train],
                       (train_users.shape[0], n_items))
    seen_items = np.bincount(item[in_train], minlength=n_items) > 0

    def task(group: np.ndarray, rng: np.random.Generator) -> tuple[RankingTask, int]:
        return _fold_in_task(user, item, group, seen_items, n_users, n_items, rng,
                             target_fraction, min_items_to_evaluate)

    test_task, test_dropped = task(test_users, streams["test_targets"])
    eval_task, dropped = test_task, test_dropped
    if split == "validation":
        eval_task, dropped = task(val_users, streams["validation_targets"])
    if eval_task.targets.shape[0] == 0:
        raise ValueError(
            f"{interactions.name}: no held-out {split} user has {min_items_to_evaluate} "
            "or more items on training items, so nothing can be evaluated."
        )

    info = _base_info(interactions, user.shape[0])
    info.update(_train_info(train))
    info.update({
        "heldout_users": int(val_users.shape[0] + test_users.shape[0]),
        "validation_users": int(val_users.shape[0]),
        "test_users": int(test_task.targets.shape[0]),
        "evaluated_users": int(eval_task.targets.shape[0]),
        "dropped_interactions": int(dropped),
    })
    return Split(train=train, eval_task=eval_task, test_task=test_task,
                 protocol="heldout-users", split=split, info=info)


def _fold_in_task(user, item, group, seen_items, n_users, n_items, rng, target_fraction,
                  min_items_to_evaluate) -> tuple[RankingTask, int]:
    """Split each user's items in ``group`` into fold-in history and targets.

    Returns the task over evaluated users (those with ≥ ``min_items_to_evaluate`` items on
    training items) and the number of interactions dropped for unseen items.
    """
    in_group = np.zeros(n_users, dtype=bool)
    in_group[group] = True
    member = in_group[user]
    keep = member & seen_items[item]
    dropped = int(member.sum() - keep.sum())
    users, items = user[keep], item[keep]

    counts = np.bincount(users, minlength=n_users)
    n_targets = np.where(counts >= min_items_to_evaluate,
                         np.floor(target_fraction * counts).astype(np.int64), 0)
    # Random rank of each item within its user; the first n_targets ranks are targets.
    order = np.lexsort((rng.random(users.shape[0]), users))
    starts = np.cumsum(counts) - counts
    rank = np.empty(users.shape[0], dtype=np.int64)
    rank[order] = np.arange(users.shape[0]) - starts[users[order]]
    is_target = rank < n_targets[users]

    evaluated = np.flatnonzero(n_targets > 0)
    row_of_user = np.full(n_users, -1, dtype=np.int64)
    row_of_user[evaluated] = np.arange(evaluated.shape[0])
    rows = row_of_user[users]
    listed = rows >= 0
    shape = (evaluated.shape[0], n_items)
    history = binary_csr(rows[listed & ~is_target], items[listed & ~is_target], shape)
    targets = binary_csr(rows[listed & is_target], items[listed & is_target], shape)
    task = RankingTask(targets=targets, exclude=history, users=None, fold_in=history,
                       ks=HELDOUT_KS, metrics=HELDOUT_METRICS)
    return task, dropped


# --- prepared strong-generalization bundles -------------------------------------------


def split_from_bundle(matrices: dict[str, sp.spmatrix], split: str, name: str = "") -> Split:
    """Build the strong-generalization `Split` from a prepared bundle's matrices.

    Rows of ``*_fold_in`` and ``*_targets`` are the same held-out users; rows without a
    target are not evaluated.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    train = _as_binary(matrices["train"])

    def task(prefix: str) -> tuple[RankingTask, int]:
        fold_in = _as_binary(matrices[f"{prefix}_fold_in"])
        targets = _as_binary(matrices[f"{prefix}_targets"])
        evaluated = np.flatnonzero(np.diff(targets.indptr) > 0)
        history = _rows(fold_in, evaluated)
        return (RankingTask(targets=_rows(targets, evaluated), exclude=history,
                            fold_in=history, ks=HELDOUT_KS, metrics=HELDOUT_METRICS),
                fold_in.shape[0])

    test_task, n_test = task("test")
    eval_task, n_val = task("validation") if split == "validation" else (test_task, 0)
    n_validation_users = matrices["validation_fold_in"].shape[0]
    interactions = (train.nnz
                    + sum(int(matrices[k].nnz) for k in matrices if k != "train"))
    info = {
        "dataset": name, "protocol": "strong-generalization", "split": split,
        "users": train.shape[0] + n_validation_users + n_test,
        "items": train.shape[1],
        "interactions": int(interactions),
        **_train_info(train),
        "heldout_users": n_validation_users + n_test,
        "validation_users": n_validation_users,
        "test_users": int(test_task.targets.shape[0]),
        "evaluated_users": int(eval_task.targets.shape[0]),
    }
    return Split(train=train, eval_task=eval_task, test_task=test_task,
                 protocol="strong-generalization", split=split, info=info)
