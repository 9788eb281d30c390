"""Ranking metrics on hand-made rankings, with values computed by hand."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ials.evaluation import metrics


def csr(rows, n_items):
    """Build a binary CSR matrix from one list of item ids per row."""
    data, indices, indptr = [], [], [0]
    for items in rows:
        indices.extend(items)
        data.extend([1.0] * len(items))
        indptr.append(len(indices))
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_items))


# --- top_k_items -------------------------------------------------------------------


def test_top_k_orders_by_score_then_id():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.3]])
    np.testing.assert_array_equal(metrics.top_k_items(scores, 4), [[1, 3, 2, 4]])


def test_top_k_cutoff_ties_take_lowest_ids():
    # Items 1..5 tie at 2.0 across the cut-off k = 3 (item 0 scores higher).
    scores = np.array([[3.0, 2.0, 2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])
    scores = scores[:, ::-1].copy()  # reverse so ids and positions differ
    top = metrics.top_k_items(scores, 3)
    np.testing.assert_array_equal(top[0], [5, 0, 1])
    np.testing.assert_array_equal(top[1], [0, 1, 2])


def test_top_k_marks_excluded_as_minus_one():
    scores = np.array([[1.0, -np.inf, 0.5, -np.inf]])
    np.testing.assert_array_equal(metrics.top_k_items(scores, 4), [[0, 2, -1, -1]])


def test_top_k_never_ranks_excluded_high_scores():
    scores = np.array([[5.0, 1.0, 4.0, 2.0]])
    scores[0, [0, 2]] = -np.inf
    np.testing.assert_array_equal(metrics.top_k_items(scores, 2), [[3, 1]])


def test_top_k_clamps_k_to_item_count():
    top = metrics.top_k_items(np.array([[0.2, 0.1]]), 10)
    np.testing.assert_array_equal(top, [[0, 1]])


def test_top_k_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        metrics.top_k_items(np.array([[0.2, np.nan, 0.1]]), 2)


def test_top_k_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be at least 1"):
        metrics.top_k_items(np.zeros((1, 3)), 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_top_k_many_rows_match_stable_sort(dtype):
    scores = np.random.default_rng(0).integers(-3, 3, size=(300, 50)).astype(dtype)
    top = metrics.top_k_items(scores, 20)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(top, expected)


def test_top_k_non_contiguous_input():
    scores = np.random.default_rng(1).standard_normal((6, 8))
    np.testing.assert_array_equal(
        metrics.top_k_items(scores.T, 3), np.argsort(-scores.T, axis=1)[:, :3]
    )


@settings(max_examples=200, deadline=None)
@given(
    scores=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
        elements=st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 2.0]),
    ),
    k=st.integers(1, 14),
)
def test_top_k_matches_full_stable_sort(scores, k):
    top = metrics.top_k_items(scores, k)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, scores.shape[1])]
    expected = np.where(np.take_along_axis(scores, expected, axis=1) == -np.inf, -1, expected)
    np.testing.assert_array_equal(top, expected)


# --- target_hits and full-ranking metrics ------------------------------------------


def test_target_hits_marks_targets():
    top = np.array([[3, 0, 2], [1, -1, -1]])
    targets = csr([[2, 3], [0]], 4)
    hits = metrics.target_hits(top, targets)
    np.testing.assert_array_equal(hits, [[True, False, True], [False, False, False]])


def test_target_hits_unsorted_indices():
    targets = sp.csr_matrix(([1.0, 1.0], [3, 1], [0, 2]), shape=(1, 4))
    assert not targets.has_sorted_indices
    hits = metrics.target_hits(np.array([[1, 2, 3]]), targets)
    np.testing.assert_array_equal(hits, [[True, False, True]])


def test_target_hits_no_targets():
    hits = metrics.target_hits(np.array([[0, 1]]), csr([[]], 3))
    np.testing.assert_array_equal(hits, [[False, False]])


def test_recall_normalizes_by_min_k_targets():
    hits = np.array(
        [
            [True, False, False, True],  # 3 targets, 1 in top 2: 1 / min(2, 3)
            [False, True, False, False],  # 1 target found: 1 / min(2, 1)
            [False, False, True, True],  # 5 targets, none in top 2
        ]
    )
    recall = metrics.recall_at_k(hits, np.array([3, 1, 5]), 2)
    np.testing.assert_allclose(recall, [0.5, 1.0, 0.0])


def test_recall_full_list_uses_target_count():
    hits = np.array([[True, False, True, False, False]])
    recall = metrics.recall_at_k(hits, np.array([3]), 5)
    np.testing.assert_allclose(recall, [2 / 3])


def test_ndcg_ideal_dcg_over_min_k_targets():
    hits = np.array([[True, False, True, False]])
    # DCG@3 = 1/log2(2) + 1/log2(4) = 1.5; 2 targets: IDCG@3 = 1 + 1/log2(3).
    ndcg = metrics.ndcg_at_k(hits, np.array([2]), 3)
    np.testing.assert_allclose(ndcg, [1.5 / (1 + 1 / math.log2(3))])
    # 5 targets but k = 3: IDCG@3 = 1 + 1/log2(3) + 1/log2(4).
    ndcg = metrics.ndcg_at_k(hits, np.array([5]), 3)
    np.testing.assert_allclose(ndcg, [1.5 / (1 + 1 / math.log2(3) + 0.5)])


def test_ndcg_single_target_at_rank_two():
    hits = np.array([[False, False, True]])
    ndcg = metrics.ndcg_at_k(hits, np.array([1]), 3)
    np.testing.assert_allclose(ndcg, [1 / math.log2(4)])
    assert metrics.ndcg_at_k(hits, np.array([1]), 2)[0] == 0.0


def test_ndcg_perfect_list_is_one():
    hits = np.array([[True, True, False]])
    np.testing.assert_allclose(metrics.ndcg_at_k(hits, np.array([2]), 3), [1.0])


def test_hit_rate_any_target_in_top_k():
    hits = np.array([[False, False, True], [False, False, False]])
    np.testing.assert_array_equal(metrics.hit_rate_at_k(hits, 3), [1.0, 0.0])
    np.testing.assert_array_equal(metrics.hit_rate_at_k(hits, 2), [0.0, 0.0])


def test_metrics_reject_users_without_targets():
    with pytest.raises(ValueError, match="at least one target"):
        metrics.recall_at_k(np.array([[True]]), np.array([0]), 1)


def test_metrics_reject_k_beyond_list():
    with pytest.raises(ValueError, match="k must be between 1 and"):
        metrics.ndcg_at_k(np.array([[True, False]]), np.array([1]), 3)
    with pytest.raises(ValueError, match="at least k columns"):
        metrics.hit_rate_at_k(np.array([[True, False]]), 3)


@settings(max_examples=100, deadline=None)
@given(
    hits=hnp.arrays(bool, st.tuples(st.integers(1, 5), st.integers(1, 8))),
    data=st.data(),
)
def test_recall_ndcg_within_unit_interval(hits, data):
    found = hits.sum(axis=1)
    extra = data.draw(hnp.arrays(np.int64, hits.shape[0], elements=st.integers(0, 4)))
    n_targets = np.maximum(found + extra, 1)
    k = data.draw(st.integers(1, hits.shape[1]))
    for values in (
        metrics.recall_at_k(hits, n_targets, k),
        metrics.ndcg_at_k(hits, n_targets, k),
    ):
        assert (values >= 0).all()
        assert (values <= 1 + 1e-12).all()


# --- sampled protocol ---------------------------------------------------------------


def test_sampled_rank_ties_count_against_held_out():
    scores = np.array([[0.5, 0.5, 0.7, 0.1, 0.5]])
    candidates = np.array([[10, 1, 2, 3, 4]])
    # Negatives 1 and 4 tie with the held-out item and 2 beats it.
    np.testing.assert_array_equal(metrics.sampled_rank(scores, candidates), [3])


def test_sampled_rank_ignores_held_out_duplicate():
    scores = np.array([[0.5, 0.5, 0.1]])
    candidates = np.array([[7, 7, 3]])
    np.testing.assert_array_equal(metrics.sampled_rank(scores, candidates), [0])


def test_sampled_rank_counts_repeated_negative_once():
    scores = np.array([[0.5, 0.9, 0.1, 0.9]])
    candidates = np.array([[7, 4, 3, 4]])
    np.testing.assert_array_equal(metrics.sampled_rank(scores, candidates), [1])


def test_sampled_rank_ignores_unused_slots():
    scores = np.array([[0.5, 0.9, 0.9]])
    candidates = np.array([[7, 4, -1]])
    np.testing.assert_array_equal(metrics.sampled_rank(scores, candidates), [1])


def test_sampled_rank_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        metrics.sampled_rank(np.array([[np.nan, 0.1]]), np.array([[0, 1]]))


def test_sampled_hit_rate_and_ndcg():
    rank = np.array([0, 2, 9, 10])
    np.testing.assert_array_equal(metrics.sampled_hit_rate(rank, 10), [1, 1, 1, 0])
    np.testing.assert_allclose(
        metrics.sampled_ndcg(rank, 10), [1.0, 0.5, 1 / math.log2(11), 0.0]
    )
