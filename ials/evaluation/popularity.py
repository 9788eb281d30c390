"""Most-popular baseline: recommend the items most users interacted with in training.

`PopularityModel` exposes the same ``user_factors``, ``item_factors`` and ``fold_in`` as
a factor model, with d = 1: every user embedding is 1 and every item embedding is the
item's training count, so `ials.evaluation.evaluate` scores it like any other model.
Items with equal counts rank by item id, ascending: the full-ranking tie rule of
`ials.evaluation.metrics`, which makes the baseline's metrics deterministic.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class PopularityModel:
    """Score every item by its number of training users, for every user.

    Attributes
    ----------
    user_factors : ndarray of float64, shape (n_users, 1)
        All ones.
    item_factors : ndarray of float64, shape (n_items, 1)
        Number of training users with a non-zero entry for the item.
    """

    def __init__(self) -> None:
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None

    def fit(self, train: sp.spmatrix) -> "PopularityModel":
        """Count each item's training users.

        Parameters
        ----------
        train : sparse matrix, shape (n_users, n_items)
            Training interactions; each non-zero entry counts once, whatever its value.

        Returns
        -------
        PopularityModel
            ``self``, fitted.
        """
        if not sp.issparse(train) or train.ndim != 2:
            raise ValueError(
                "train must be a 2-D scipy sparse matrix (users × items); got "
                f"{type(train).__name__}."
            )
        train = sp.csr_matrix(train, copy=True)
        train.sum_duplicates()
        train.eliminate_zeros()
        n_users, n_items = train.shape
        counts = np.bincount(train.indices, minlength=n_items)
        self.user_factors = np.ones((n_users, 1), dtype=np.float64)
        self.item_factors = counts.astype(np.float64)[:, None]
        return self

    def fold_in(self, history: sp.spmatrix) -> np.ndarray:
        """Embed new users: all ones (shape (n, 1)), because the ranking ignores history.

        Parameters
        ----------
        history : sparse matrix, shape (n, n_items)
            Interactions of the new users; only its shape is used.
        """
        if self.item_factors is None:
            raise ValueError("PopularityModel is not fitted; call fit(train) first.")
        n_items = self.item_factors.shape[0]
        if getattr(history, "ndim", None) != 2 or history.shape[1] != n_items:
            raise ValueError(
                f"history must have shape (n, {n_items}) to match the training items; got "
                f"{getattr(history, 'shape', type(history).__name__)}."
            )
        return np.ones((history.shape[0], 1), dtype=np.float64)
