"""Data containers shared by readers, protocols, evaluation and training.

An `Interactions` object is what a reader returns: positive (user, item) pairs with index
ids. A protocol turns it into a `Split`: the training matrix the model learns from and
the evaluation tasks (`SampledTask` for leave-one-out with sampled negatives,
`RankingTask` for full ranking).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class Interactions:
    """Positive user-item pairs of one data set, with ids mapped to 0-based indices.

    Attributes
    ----------
    user, item : ndarray of int32, shape (n,)
        Index of the user and item of each pair, in file order, duplicates removed.
    n_users, n_items : int
        Number of users and items (indices run over ``range(n_users)`` and so on).
    timestamp : ndarray of float64, shape (n,), or None
        Time of each pair when the source has one.
    user_ids, item_ids : ndarray or None
        Original id of each index, when ids were remapped.
    ncf_test : ndarray of int32, shape (n_users,), or None
        NCF files only: the held-out test item of each user (-1 when a user has none).
    ncf_negatives : ndarray of int32, shape (n_users, m), or None
        NCF files only: the sampled negatives of each user's test item.
    name : str
        Data set name, used in messages.
    """

    user: np.ndarray
    item: np.ndarray
    n_users: int
    n_items: int
    timestamp: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    ncf_test: np.ndarray | None = None
    ncf_negatives: np.ndarray | None = None
    name: str = ""

    @property
    def nnz(self) -> int:
        return int(self.user.shape[0])

    def to_csr(self, dtype=np.float32) -> sp.csr_matrix:
        """Return the binary user × item matrix (shape n_users × n_items)."""
        values = np.ones(self.nnz, dtype=dtype)
        matrix = sp.csr_matrix(
            (values, (self.user, self.item)), shape=(self.n_users, self.n_items)
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1
        return matrix


@dataclass
class SampledTask:
    """Leave-one-out evaluation with sampled negatives (HR@k, NDCG@k).

    Attributes
    ----------
    users : ndarray of int32, shape (n,)
        Row of each evaluated user in the training matrix.
    candidates : ndarray of int32, shape (n, 1 + m)
        Column 0 is the held-out item; columns 1..m its sampled negatives. A negative
        equal to the held-out item is ignored (the original NCF evaluation scores
        candidates as a set).
    ks : tuple of int
        Cut-offs to report.
    """

    users: np.ndarray
    candidates: np.ndarray
    ks: tuple[int, ...] = (10,)


@dataclass
class RankingTask:
    """Full-ranking evaluation over all items (Recall@k, NDCG@k, HR@k).

    Either ``users`` names rows of the trained user embeddings, or ``fold_in`` contains the
    history of held-out users whose embeddings are computed at evaluation time.

    Attributes
    ----------
    targets : csr_matrix, shape (n, n_items)
        Held-out items of each evaluated user (non-zero = target).
    exclude : csr_matrix, shape (n, n_items)
        Items never ranked for that user (its training or fold-in items).
    users : ndarray of int32, shape (n,), or None
        Row of each evaluated user in the training matrix (trained users).
    fold_in : csr_matrix, shape (n, n_items), or None
        History of each held-out user, embedded by fold-in.
    ks : tuple of int
        Cut-offs to report.
    metrics : tuple of str
        Metric families to report, from ``("Recall", "NDCG", "HR")``.
    """

    targets: sp.csr_matrix
    exclude: sp.csr_matrix
    users: np.ndarray | None = None
    fold_in: sp.csr_matrix | None = None
    ks: tuple[int, ...] = (20, 50, 100)
    metrics: tuple[str, ...] = ("Recall", "NDCG")


@dataclass
class Split:
    """A training matrix plus the evaluation tasks a protocol defines on it.

    Attributes
    ----------
    train : csr_matrix of float32, shape (n_train_users, n_items)
        Binary matrix the model learns from.
    eval_task : SampledTask or RankingTask
        Task scored after every epoch (the validation task for ``split="validation"``,
        the test task for ``split="test"``).
    test_task : SampledTask or RankingTask
        Task scored once at the end of a run, on the final model.
    protocol, split : str
        Which protocol and split built this object.
    info : dict
        Counts for display (users, items, interactions, held-out users, ...).
    """

    train: sp.csr_matrix
    eval_task: SampledTask | RankingTask
    test_task: SampledTask | RankingTask
    protocol: str
    split: str
    info: dict = field(default_factory=dict)
