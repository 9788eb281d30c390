"""`evaluate` against a plain per-user implementation, and the most-popular baseline."""

import importlib
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ials.data import load_split
from ials.data.types import RankingTask, SampledTask
from ials.evaluation import PopularityModel, evaluate, evaluated_users, metrics
from tests.test_metrics import csr


class FactorModel:
    """Fixed factors; ``fold_in`` returns preset embeddings and records each call."""

    def __init__(self, user_factors, item_factors, fold_in_factors=None):
        self.user_factors = user_factors
        self.item_factors = item_factors
        self.fold_in_factors = fold_in_factors
        self.fold_in_calls = []

    def fold_in(self, history):
        # The history rows of this model's tests carry the user's row number in column 0.
        rows = history[:, 0].toarray().ravel().astype(int) - 1
        self.fold_in_calls.append(rows)
        return self.fold_in_factors[rows]


def brute_force_ranking(user_vectors, item_factors, targets, exclude, ks, families):
    """Score each user alone: full sort by (score descending, item id), then the formulas."""
    totals = {f"{family}@{k}": 0.0 for family in families for k in ks}
    n_evaluated = 0
    for u in range(len(targets)):
        if not targets[u]:
            continue
        n_evaluated += 1
        scores = item_factors.astype(np.float64) @ user_vectors[u].astype(np.float64)
        candidates = [i for i in range(len(item_factors)) if i not in exclude[u]]
        ranking = sorted(candidates, key=lambda i: (-scores[i], i))
        for k in ks:
            top = ranking[:k]
            found = [r for r, item in enumerate(top) if item in targets[u]]
            cutoff = min(k, len(targets[u]))
            dcg = sum(1 / math.log2(r + 2) for r in found)
            ideal = sum(1 / math.log2(r + 2) for r in range(cutoff))
            values = {"Recall": len(found) / cutoff, "NDCG": dcg / ideal, "HR": float(bool(found))}
            for family in families:
                totals[f"{family}@{k}"] += values[family]
    return {key: value / n_evaluated for key, value in totals.items()}


def random_ranking_case(seed, n_users, n_items, dim, dtype):
    """Integer-valued factors, so every summation order gives the same (often tied) score."""
    rng = np.random.default_rng(seed)
    user_factors = rng.integers(-2, 3, size=(n_users, dim)).astype(dtype)
    item_factors = rng.integers(-2, 3, size=(n_items, dim)).astype(dtype)
    targets, exclude = [], []
    for _ in range(n_users):
        items = rng.permutation(n_items)
        n_excluded = rng.integers(0, n_items // 2 + 1)
        n_targets = rng.integers(0, n_items - n_excluded + 1)
        exclude.append(set(items[:n_excluded].tolist()))
        targets.append(set(items[n_excluded : n_excluded + n_targets].tolist()))
    return user_factors, item_factors, targets, exclude


def ranking_task(targets, exclude, n_items, **fields):
    return RankingTask(
        targets=csr([sorted(t) for t in targets], n_items),
        exclude=csr([sorted(e) for e in exclude], n_items),
        **fields,
    )


# --- full ranking ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 15),
    dim=st.integers(1, 4),
    dtype=st.sampled_from([np.float32, np.float64]),
    batch_users=st.sampled_from([1, 2, 3, 7, 1024]),
)
def test_ranking_matches_brute_force(seed, n_users, n_items, dim, dtype, batch_users):
    user_factors, item_factors, targets, exclude = random_ranking_case(
        seed, n_users, n_items, dim, dtype
    )
    if not any(targets):
        targets[0] = {0}
        exclude[0].discard(0)
    ks = (1, 3, 5, 20)
    families = ("Recall", "NDCG", "HR")
    task = ranking_task(
        targets, exclude, n_items, users=np.arange(n_users), ks=ks, metrics=families
    )
    model = FactorModel(user_factors, item_factors)
    result = evaluate(model, task, batch_users=batch_users)
    expected = brute_force_ranking(user_factors, item_factors, targets, exclude, ks, families)
    assert list(result) == list(expected)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ranking_batch_size_invariant_random_normal(dtype):
    rng = np.random.default_rng(7)
    n_users, n_items = 40, 300
    user_factors = rng.standard_normal((n_users, 8)).astype(dtype)
    item_factors = rng.standard_normal((n_items, 8)).astype(dtype)
    targets = [set(rng.choice(n_items, 5, replace=False).tolist()) for _ in range(n_users)]
    exclude = [set(rng.choice(n_items, 30, replace=False).tolist()) - t for t in targets]
    task = ranking_task(targets, exclude, n_items, users=np.arange(n_users), ks=(10, 50))
    model = FactorModel(user_factors, item_factors)

    results = [evaluate(model, task, batch_users=b) for b in (1, 6, 40, 1024)]
    # Batches change only the summation order of the means, not the rankings.
    for other in results[1:]:
        assert other == pytest.approx(results[0], rel=1e-12)
    expected = brute_force_ranking(
        user_factors, item_factors, targets, exclude, (10, 50), ("Recall", "NDCG")
    )
    for key, value in expected.items():
        assert results[0][key] == pytest.approx(value, abs=1e-12), key


def test_ranking_default_keys():
    task = ranking_task([{0}], [set()], 3, users=np.array([0]))
    model = FactorModel(np.ones((1, 1)), np.ones((3, 1)))
    assert list(evaluate(model, task)) == [
        "Recall@20", "Recall@50", "Recall@100", "NDCG@20", "NDCG@50", "NDCG@100",
    ]


def test_ranking_hand_computed():
    # Scores 4, 3, 3, 2, 1 for items 0..4; item 0 is excluded, so the ranking is
    # 1, 2 (tie broken by id), 3, 4. User 0 targets {2, 4}; user 1 targets {1}.
    item_factors = np.array([[4.0], [3.0], [3.0], [2.0], [1.0]])
    task = ranking_task(
        [{2, 4}, {1}],
        [{0}, {0}],
        5,
        users=np.array([0, 0]),
        ks=(1, 2, 4),
        metrics=("Recall", "NDCG", "HR"),
    )
    result = evaluate(FactorModel(np.ones((1, 1)), item_factors), task)
    ideal2 = 1 + 1 / math.log2(3)
    assert result["Recall@1"] == pytest.approx((0 + 1) / 2)
    assert result["Recall@2"] == pytest.approx((1 / 2 + 1) / 2)
    assert result["Recall@4"] == pytest.approx((2 / 2 + 1) / 2)
    assert result["NDCG@2"] == pytest.approx((1 / math.log2(3) / ideal2 + 1) / 2)
    user0_ndcg4 = (1 / math.log2(3) + 1 / math.log2(5)) / ideal2
    assert result["NDCG@4"] == pytest.approx((user0_ndcg4 + 1) / 2)
    assert result["HR@1"] == pytest.approx(0.5)
    assert result["HR@2"] == pytest.approx(1.0)


def test_excluded_target_never_ranked():
    # Item 0 scores highest and is a target, but it is excluded, so it never hits.
    item_factors = np.array([[9.0], [1.0], [2.0]])
    task = ranking_task([{0}], [{0}], 3, users=np.array([0]), ks=(1, 3), metrics=("HR",))
    result = evaluate(FactorModel(np.ones((1, 1)), item_factors), task)
    assert result == {"HR@1": 0.0, "HR@3": 0.0}


def test_users_without_targets_skipped():
    item_factors = np.array([[2.0], [1.0]])
    # User 1 has no target; only user 0 (target at rank 0) is averaged.
    task = ranking_task([{0}, set()], [set(), set()], 2, users=np.array([0, 0]), ks=(1,))
    result = evaluate(FactorModel(np.ones((1, 1)), item_factors), task)
    assert result == {"Recall@1": 1.0, "NDCG@1": 1.0}
    assert evaluated_users(task) == 1


def test_explicit_zero_target_not_counted():
    targets = sp.csr_matrix(([1.0, 0.0], [0, 1], [0, 2]), shape=(1, 2))
    task = RankingTask(
        targets=targets, exclude=sp.csr_matrix((1, 2)), users=np.array([0]), ks=(1,)
    )
    result = evaluate(FactorModel(np.ones((1, 1)), np.array([[2.0], [1.0]])), task)
    assert result["Recall@1"] == 1.0


def test_fold_in_called_per_batch():
    rng = np.random.default_rng(3)
    n_users, n_items = 7, 20
    fold_in_factors = rng.standard_normal((n_users, 4))
    item_factors = rng.standard_normal((n_items, 4))
    targets = [set(rng.choice(range(1, n_items), 3, replace=False).tolist()) for _ in range(n_users)]
    targets[4] = set()  # skipped, so never folded in
    exclude = [set() for _ in range(n_users)]
    # Column 0 of each history row stores the row number + 1, which FactorModel decodes.
    history = sp.csr_matrix(
        (np.arange(1, n_users + 1, dtype=float), (np.arange(n_users), np.zeros(n_users))),
        shape=(n_users, n_items),
    )
    task = ranking_task(targets, exclude, n_items, fold_in=history, ks=(5, 10))
    model = FactorModel(np.zeros((0, 4)), item_factors, fold_in_factors)

    result = evaluate(model, task, batch_users=2)
    assert [rows.tolist() for rows in model.fold_in_calls] == [[0, 1], [2, 3], [5, 6]]
    expected = brute_force_ranking(
        fold_in_factors, item_factors, targets, exclude, (5, 10), ("Recall", "NDCG")
    )
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fold_in_output_dtype(dtype):
    task = ranking_task([{0}], [set()], 2, fold_in=csr([[1]], 2), ks=(1,))
    model = FactorModel(np.zeros((0, 1)), np.array([[1.0], [0.5]], dtype=dtype))
    model.fold_in = lambda history: np.ones((history.shape[0], 1), dtype=np.float64)
    assert evaluate(model, task) == {"Recall@1": 1.0, "NDCG@1": 1.0}


# --- sampled protocol ---------------------------------------------------------------


def brute_force_sampled(user_factors, item_factors, users, candidates, ks):
    totals = {f"{family}@{k}": 0.0 for k in ks for family in ("HR", "NDCG")}
    n_evaluated = 0
    for row, u in enumerate(users):
        held_out = candidates[row][0]
        if held_out < 0:
            continue
        n_evaluated += 1
        score = lambda i: float(np.dot(user_factors[u].astype(float), item_factors[i].astype(float)))
        negatives = {i for i in candidates[row][1:] if i >= 0 and i != held_out}
        rank = sum(1 for i in negatives if score(i) >= score(held_out))
        for k in ks:
            totals[f"HR@{k}"] += float(rank < k)
            totals[f"NDCG@{k}"] += 1 / math.log2(rank + 2) if rank < k else 0.0
    return {key: value / n_evaluated for key, value in totals.items()}


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(1, 10),
    n_negatives=st.integers(1, 12),
    dtype=st.sampled_from([np.float32, np.float64]),
    batch_users=st.sampled_from([1, 3, 1024]),
)
def test_sampled_matches_brute_force(seed, n_rows, n_negatives, dtype, batch_users):
    rng = np.random.default_rng(seed)
    n_users, n_items = 5, 8
    user_factors = rng.integers(-2, 3, size=(n_users, 3)).astype(dtype)
    item_factors = rng.integers(-2, 3, size=(n_items, 3)).astype(dtype)
    users = rng.integers(0, n_users, size=n_rows)
    # Small item range: duplicates, held-out repeats and -1 slots happen often.
    candidates = rng.integers(-1, n_items, size=(n_rows, 1 + n_negatives))
    candidates[0, 0] = max(candidates[0, 0], 0)
    task = SampledTask(users=users, candidates=candidates, ks=(1, 3, 10))

    result = evaluate(FactorModel(user_factors, item_factors), task, batch_users=batch_users)
    expected = brute_force_sampled(user_factors, item_factors, users, candidates, (1, 3, 10))
    assert list(result) == list(expected)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key


def test_sampled_hand_computed():
    item_factors = np.array([[1.0], [2.0], [1.0], [0.0], [3.0]])
    candidates = np.array(
        [
            [0, 2, 3, 0],  # item 2 ties and counts against; the copy of item 0 is ignored: rank 1
            [1, 0, 3, 4],  # item 4 beats it: rank 1
            [3, 0, 1, 2],  # everything beats it: rank 3
            [-1, 0, 1, 2],  # no held-out item: skipped
        ]
    )
    task = SampledTask(users=np.zeros(4, dtype=np.int32), candidates=candidates, ks=(1, 2))
    result = evaluate(FactorModel(np.ones((1, 1)), item_factors), task)
    assert result["HR@1"] == 0.0
    assert result["HR@2"] == pytest.approx(2 / 3)
    assert result["NDCG@2"] == pytest.approx(2 / 3 / math.log2(3))
    assert evaluated_users(task) == 3


def test_sampled_bounded_batches(monkeypatch):
    # The package exports a function named like the module, so fetch the module itself.
    evaluate_module = importlib.import_module("ials.evaluation.evaluate")
    # 4 candidates × d = 2 is 8 elements per user, so a bound of 10 allows 1 user per batch.
    monkeypatch.setattr(evaluate_module, "_CANDIDATE_ELEMENTS", 10)
    batch_rows = []
    sampled_rank = metrics.sampled_rank
    monkeypatch.setattr(
        metrics,
        "sampled_rank",
        lambda scores, candidates: batch_rows.append(len(scores)) or sampled_rank(scores, candidates),
    )
    rng = np.random.default_rng(1)
    user_factors, item_factors = rng.standard_normal((4, 2)), rng.standard_normal((9, 2))
    candidates = rng.integers(0, 9, size=(4, 4))
    task = SampledTask(users=np.arange(4), candidates=candidates, ks=(2,))
    result = evaluate(FactorModel(user_factors, item_factors), task)
    assert batch_rows == [1, 1, 1, 1]
    expected = brute_force_sampled(user_factors, item_factors, np.arange(4), candidates, (2,))
    assert result == pytest.approx(expected)


# --- input validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(users=np.array([5])), "task.users must index rows"),
        (dict(users=np.array([0]), fold_in=csr([[1]], 3)), "exactly one of"),
        (dict(users=None), "exactly one of"),
        (dict(ks=(0,)), "integer ≥ 1"),
        (dict(ks=()), "task.ks is empty"),
        (dict(metrics=("MAP",)), "unknown metric family"),
        (dict(metrics=()), "task.metrics is empty"),
        (dict(targets=csr([[0]], 4)), r"shape \(n, 3\)"),
    ],
)
def test_ranking_rejects_invalid_task(change, message):
    fields = dict(
        targets=csr([[0]], 3), exclude=csr([[]], 3), users=np.array([0]), ks=(1,)
    )
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        evaluate(FactorModel(np.ones((1, 1)), np.ones((3, 1))), RankingTask(**fields))


def test_evaluate_rejects_mismatched_dim():
    task = ranking_task([{0}], [set()], 3, users=np.array([0]))
    with pytest.raises(ValueError, match="embedding dimension"):
        evaluate(FactorModel(np.ones((1, 2)), np.ones((3, 1))), task)


@pytest.mark.parametrize("batch_users", [0, -1, 1.5, True])
def test_evaluate_rejects_bad_batch_size(batch_users):
    task = ranking_task([{0}], [set()], 3, users=np.array([0]))
    with pytest.raises(ValueError, match="batch_users"):
        evaluate(FactorModel(np.ones((1, 1)), np.ones((3, 1))), task, batch_users=batch_users)


def test_evaluate_rejects_no_targets():
    task = ranking_task([set()], [set()], 3, users=np.array([0]))
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(FactorModel(np.ones((1, 1)), np.ones((3, 1))), task)


def test_evaluate_rejects_nan_factors():
    task = ranking_task([{0}], [set()], 3, users=np.array([0]))
    with pytest.raises(ValueError, match="NaN"):
        evaluate(FactorModel(np.ones((1, 1)), np.array([[1.0], [np.nan], [0.0]])), task)


def test_fold_in_wrong_shape_rejected():
    task = ranking_task([{0}], [set()], 2, fold_in=csr([[1]], 2), ks=(1,))
    model = FactorModel(np.zeros((0, 1)), np.ones((2, 1)))
    model.fold_in = lambda history: np.ones((history.shape[0], 3))
    with pytest.raises(ValueError, match=r"expected \(1, 1\)"):
        evaluate(model, task)


def test_sampled_rejects_out_of_range_candidate():
    task = SampledTask(users=np.array([0]), candidates=np.array([[0, 9]]))
    with pytest.raises(ValueError, match="item ids from 0 to 2"):
        evaluate(FactorModel(np.ones((1, 1)), np.ones((3, 1))), task)


# --- most-popular baseline ----------------------------------------------------------


def test_popularity_counts_users_per_item():
    train = sp.csr_matrix(np.array([[1, 0, 3, 0], [1, 0, 1, 0], [0, 0, 1, 1.0]]))
    model = PopularityModel().fit(train)
    np.testing.assert_array_equal(model.item_factors.ravel(), [2, 0, 3, 1])
    np.testing.assert_array_equal(model.user_factors, np.ones((3, 1)))
    np.testing.assert_array_equal(model.fold_in(csr([[0], [1, 2]], 4)), np.ones((2, 1)))


def test_popularity_ties_rank_by_item_id():
    # Counts 2, 1, 2, 1, 2: ranking 0, 2, 4, 1, 3.
    train = csr([[0, 1, 2, 3, 4], [0, 2, 4]], 5)
    model = PopularityModel().fit(train)
    task = ranking_task(
        [{4}, {3}, {2}], [{1}, {1}, {0}], 5,
        fold_in=csr([[1], [1], [0]], 5), ks=(2, 3), metrics=("HR",),
    )
    # With item 1 excluded, users 0 and 1 rank 0, 2, 4, 3: item 4 at rank 2, item 3 at rank 3.
    # User 2 excludes item 0 and ranks 2, 4, 1, 3: item 2 at rank 0.
    assert evaluate(model, task) == pytest.approx({"HR@2": 1 / 3, "HR@3": 2 / 3})


def test_popularity_matches_brute_force():
    rng = np.random.default_rng(11)
    n_items = 30
    train = sp.random(50, n_items, density=0.1, random_state=rng, format="csr")
    model = PopularityModel().fit(train)
    targets = [set(rng.choice(n_items, 4, replace=False).tolist()) for _ in range(20)]
    exclude = [set(rng.choice(n_items, 6, replace=False).tolist()) - t for t in targets]
    history = csr([sorted(e) for e in exclude], n_items)
    task = ranking_task(targets, exclude, n_items, fold_in=history, ks=(5, 10))
    expected = brute_force_ranking(
        np.ones((20, 1)), model.item_factors, targets, exclude, (5, 10), ("Recall", "NDCG")
    )
    assert evaluate(model, task, batch_users=7) == pytest.approx(expected, abs=1e-12)


def test_popularity_unfitted_fold_in_rejected():
    with pytest.raises(ValueError, match="not fitted"):
        PopularityModel().fold_in(csr([[0]], 2))


def test_popularity_ml1m_matches_plain_loop(real_data_dir):
    split = load_split("ml-1m", protocol="loo-sampled", split="test", data_dir=real_data_dir)
    model = PopularityModel().fit(split.train)
    task = split.test_task
    counts = model.item_factors.ravel()
    assert (task.candidates[:, 0] >= 0).all()

    hits, gains = 0, 0.0
    for row in range(len(task.users)):
        held_out, *negatives = task.candidates[row].tolist()
        rank = sum(1 for i in set(negatives) - {held_out} if counts[i] >= counts[held_out])
        hits += rank < 10
        gains += 1 / math.log2(rank + 2) if rank < 10 else 0.0

    result = evaluate(model, task)
    assert result["HR@10"] == pytest.approx(hits / len(task.users), abs=1e-12)
    assert result["NDCG@10"] == pytest.approx(gains / len(task.users), abs=1e-12)
