"""Synthetic data: determinism, sizes, heavy tails, name parsing and a learnable signal."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.sparse as sp

from ials.data import load_split
from ials.data.synthetic import (
    VARIANTS,
    SyntheticParams,
    generate,
    is_synthetic_name,
    synthetic_params,
)


def digest(interactions) -> str:
    hasher = hashlib.sha256()
    for array in (interactions.user, interactions.item, interactions.timestamp):
        hasher.update(np.ascontiguousarray(array).tobytes())
    return hasher.hexdigest()


def test_same_output_twice():
    params = synthetic_params("synthetic-small")
    assert digest(generate(params)) == digest(generate(params))


def test_seed_changes_output():
    params = synthetic_params("synthetic-small")
    other = SyntheticParams(**{**params.__dict__, "seed": 1})
    assert digest(generate(params)) != digest(generate(other))


@pytest.mark.slow
def test_default_size_ml1m_like():
    interactions = generate(synthetic_params("synthetic"))
    assert (interactions.n_users, interactions.n_items) == (6040, 3706)
    assert 950_000 <= interactions.nnz <= 1_050_000
    per_user = np.bincount(interactions.user, minlength=6040)
    assert per_user.min() >= 20
    # Heavy tails: the most active user has many times the median, and the top 10 %
    # of items hold a large share of all interactions.
    assert per_user.max() > 8 * np.median(per_user)
    per_item = np.sort(np.bincount(interactions.item, minlength=3706))[::-1]
    assert per_item[:371].sum() > 0.25 * interactions.nnz


def test_small_variant_shape_and_pairs():
    interactions = generate(synthetic_params("synthetic-small"), "synthetic-small")
    assert (interactions.n_users, interactions.n_items) == (600, 400)
    assert 30_000 <= interactions.nnz <= 40_000
    assert interactions.name == "synthetic-small"
    keys = interactions.user.astype(np.int64) * 400 + interactions.item
    assert np.unique(keys).shape[0] == interactions.nnz  # no repeated pair
    assert np.bincount(interactions.user, minlength=600).min() >= 20
    assert interactions.timestamp.shape == (interactions.nnz,)
    assert interactions.user.dtype == np.int32


def test_sized_name():
    params = synthetic_params("synthetic-200x150")
    assert (params.n_users, params.n_items) == (200, 150)
    interactions = generate(params)
    assert np.bincount(interactions.user, minlength=200).min() >= params.min_per_user


@pytest.mark.parametrize("name", ["synthetic-huge", "synthetic-0x10", "synthetic-10x"])
def test_bad_names(name):
    with pytest.raises(ValueError, match="synthetic"):
        synthetic_params(name)


def test_name_detection():
    assert is_synthetic_name("synthetic")
    assert is_synthetic_name("synthetic-small")
    assert not is_synthetic_name("synthetics")
    assert list(VARIANTS)[0] == "synthetic"


def test_params_validation():
    with pytest.raises(ValueError, match="min_per_user"):
        SyntheticParams(n_items=10, min_per_user=20).validate()
    with pytest.raises(ValueError, match="cells"):
        SyntheticParams(n_users=100_000, n_items=100_000).validate()


def test_fingerprint_depends_on_parameters():
    params = synthetic_params("synthetic-small")
    assert params.fingerprint() == synthetic_params("synthetic-small").fingerprint()
    assert params.fingerprint() != synthetic_params("synthetic").fingerprint()


def test_signal_beats_popularity():
    """A rank-16 truncated SVD of the training matrix beats popularity by a wide margin."""
    split = load_split("synthetic-small", "leave-last-out", "test", seed=0)
    train, task = split.train, split.eval_task
    u, s, vt = sp.linalg.svds(train.astype(np.float64), k=16, random_state=0)
    svd_scores = (u[task.users] * s) @ vt
    popularity = np.asarray(train.sum(axis=0)).ravel()
    pop_scores = np.tile(popularity, (task.users.shape[0], 1)).astype(np.float64)

    def hit_rate(scores):
        scores = scores.copy()
        excluded = task.exclude.tocoo()
        scores[excluded.row, excluded.col] = -np.inf
        top = np.argsort(-scores, axis=1)[:, :10]
        targets = task.targets.indices  # one target per row
        return float(np.mean((top == targets[:, None]).any(axis=1)))

    svd_hr, pop_hr = hit_rate(svd_scores), hit_rate(pop_scores)
    assert svd_hr > 1.3 * pop_hr, (svd_hr, pop_hr)
