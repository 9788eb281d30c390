"""Evaluation protocols: invariants on every split, exact holdouts on hand-built data,
the NCF files, prepared bundles and the load_split cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ials import data
from ials.data.bundle import save_csr_bundle
from ials.data.protocols import make_split, rank_from_last, sample_negatives
from ials.data.synthetic import generate, synthetic_params
from ials.data.types import Interactions, RankingTask, SampledTask

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
PROTOCOLS = ("leave-last-out", "loo-sampled", "heldout-users", "strong-generalization")


@pytest.fixture(autouse=True)
def empty_cache():
    data.clear_cache()
    yield
    data.clear_cache()


def require_real(name: str) -> None:
    if not (REPO_DATA / name).is_dir():
        pytest.skip(f"real data set {name} is not in {REPO_DATA}")


def interactions_from(pairs, timestamps=None, n_users=None, n_items=None, name="toy"):
    user = np.array([p[0] for p in pairs], dtype=np.int32)
    item = np.array([p[1] for p in pairs], dtype=np.int32)
    return Interactions(
        user=user, item=item,
        n_users=n_users or int(user.max()) + 1, n_items=n_items or int(item.max()) + 1,
        timestamp=None if timestamps is None else np.asarray(timestamps, dtype=np.float64),
        name=name,
    )


def positive_sets(interactions) -> list[set]:
    sets = [set() for _ in range(interactions.n_users)]
    for u, i in zip(interactions.user.tolist(), interactions.item.tolist()):
        sets[u].add(i)
    if interactions.ncf_test is not None:
        for u, i in enumerate(interactions.ncf_test.tolist()):
            if i >= 0:
                sets[u].add(i)
    return sets


def row(matrix: sp.csr_matrix, r: int) -> set:
    return set(matrix.indices[matrix.indptr[r]:matrix.indptr[r + 1]].tolist())


def assert_binary_csr(matrix, n_items):
    assert sp.isspmatrix_csr(matrix) or isinstance(matrix, sp.csr_array)
    assert matrix.dtype == np.float32
    assert matrix.shape[1] == n_items
    assert matrix.has_sorted_indices
    assert np.all(matrix.data == 1)


def check_task(task, train, positives, n_items, file_negatives=False):
    """Assert a task's invariants against the training matrix and all positives.

    ``file_negatives``: the task comes from NCF files, whose negatives may repeat the
    held-out item (the evaluator ignores that duplicate).
    """
    if isinstance(task, SampledTask):
        assert task.candidates.dtype == np.int32
        for k, user in enumerate(task.users.tolist()):
            held_out = int(task.candidates[k, 0])
            negatives = task.candidates[k, 1:].tolist()
            assert held_out in positives[user]
            assert held_out not in row(train, user)
            if file_negatives:
                negatives = [item for item in negatives if item != held_out]
            assert not set(negatives) & positives[user]
            if not file_negatives:
                assert len(set(negatives)) == len(negatives)
        return
    assert isinstance(task, RankingTask)
    assert_binary_csr(task.targets, n_items)
    assert_binary_csr(task.exclude, n_items)
    assert task.targets.shape[0] == task.exclude.shape[0]
    assert np.all(np.diff(task.targets.indptr) > 0)
    if task.fold_in is None:
        for k, user in enumerate(task.users.tolist()):
            targets = row(task.targets, k)
            assert targets <= positives[user]
            assert not targets & row(train, user)
            assert not targets & row(task.exclude, k)
            assert row(task.exclude, k) == row(train, user)
    else:
        assert task.users is None
        for k in range(task.targets.shape[0]):
            assert not row(task.targets, k) & row(task.fold_in, k)
            assert row(task.exclude, k) == row(task.fold_in, k)


def check_split(split, interactions):
    positives = positive_sets(interactions)
    n_items = interactions.n_items
    assert_binary_csr(split.train, n_items)
    check_task(split.eval_task, split.train, positives, n_items)
    check_task(split.test_task, split.train, positives, n_items)
    for key in ("users", "items", "interactions", "evaluated_users", "train_interactions"):
        assert key in split.info


# --- invariants on synthetic and real data --------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("split_name", ["validation", "test"])
def test_invariants_synthetic_small(protocol, split_name):
    interactions = generate(synthetic_params("synthetic-small"), "synthetic-small")
    split = make_split(interactions, protocol, split_name, seed=1)
    check_split(split, interactions)
    assert split.protocol == protocol
    assert split.split == split_name


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_determinism_and_seed_change(protocol):
    interactions = generate(synthetic_params("synthetic-small"), "synthetic-small")
    # Without timestamps the leave-last-out holdout is random too (distinct timestamps
    # fix it for every seed, as checked below).
    interactions.timestamp = None
    first = make_split(interactions, protocol, "validation", seed=3)
    again = make_split(interactions, protocol, "validation", seed=3)
    other = make_split(interactions, protocol, "validation", seed=4)
    assert (first.train != again.train).nnz == 0
    assert (first.train.shape != other.train.shape) or (first.train != other.train).nnz > 0
    if isinstance(first.eval_task, SampledTask):
        assert np.array_equal(first.eval_task.candidates, again.eval_task.candidates)
        assert not np.array_equal(first.eval_task.candidates, other.eval_task.candidates)
    else:
        assert (first.eval_task.targets != again.eval_task.targets).nnz == 0


def test_leave_last_out_distinct_times_ignore_seed():
    interactions = generate(synthetic_params("synthetic-small"), "synthetic-small")
    first = make_split(interactions, "leave-last-out", "test", seed=0)
    other = make_split(interactions, "leave-last-out", "test", seed=9)
    assert (first.train != other.train).nnz == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_test_task_same_in_both_splits(protocol):
    interactions = generate(synthetic_params("synthetic-small"), "synthetic-small")
    validation = make_split(interactions, protocol, "validation", seed=2)
    test = make_split(interactions, protocol, "test", seed=2)
    if isinstance(test.test_task, SampledTask):
        assert np.array_equal(validation.test_task.candidates, test.test_task.candidates)
    else:
        assert (validation.test_task.targets != test.test_task.targets).nnz == 0
    assert test.eval_task is test.test_task


# --- leave-last-out -------------------------------------------------------------------


def test_leave_last_out_exact_holdout():
    pairs = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 4), (2, 2), (2, 3), (2, 4), (3, 0)]
    times = [1, 4, 3, 2, 9, 8, 5, 7, 6, 1]
    interactions = interactions_from(pairs, times)
    split = make_split(interactions, "leave-last-out", "validation", seed=0)
    test, validation = split.test_task, split.eval_task
    # User 0: latest item 1 (t=4) is the test target, item 2 (t=3) the validation target.
    # User 1 has 2 interactions: test target 1 only. User 3 has one: never evaluated.
    assert test.users.tolist() == [0, 1, 2]
    assert [row(test.targets, k) for k in range(3)] == [{1}, {1}, {3}]
    assert validation.users.tolist() == [0, 2]
    assert [row(validation.targets, k) for k in range(2)] == [{2}, {4}]
    assert row(split.train, 0) == {0, 3}
    assert row(split.train, 1) == {4}
    assert row(split.train, 3) == {0}
    assert split.train.nnz == 10 - 3 - 2
    assert test.ks == (10, 20, 50)
    assert test.metrics == ("Recall", "NDCG", "HR")
    assert split.info["heldout_interactions"] == 5

    test_split = make_split(interactions, "leave-last-out", "test", seed=0)
    assert test_split.train.nnz == 10 - 3
    assert row(test_split.train, 0) == {0, 2, 3}


def test_leave_last_out_ties_random_by_seed():
    pairs = [(u, i) for u in range(50) for i in range(10)]
    interactions = interactions_from(pairs, timestamps=None)
    held = [make_split(interactions, "leave-last-out", "test", seed=s).test_task
            for s in range(3)]
    items = [sorted(h.targets.indices.tolist()) for h in held]
    assert items[0] != items[1]
    # Each user's held-out item spreads over several of its 10 items.
    assert len(set(held[0].targets.indices.tolist())) >= 5


def test_rank_from_last_orders_by_time():
    user = np.array([0, 0, 0, 1, 1])
    timestamp = np.array([5.0, 1.0, 3.0, 2.0, 2.0])
    from_last, counts = rank_from_last(user, timestamp, 3, np.random.default_rng(0))
    assert from_last[:3].tolist() == [0, 2, 1]
    assert sorted(from_last[3:].tolist()) == [0, 1]
    assert counts.tolist() == [3, 2, 0]


def test_leave_last_out_too_small():
    interactions = interactions_from([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="no user has 2 or more"):
        make_split(interactions, "leave-last-out", "test", seed=0)
    interactions = interactions_from([(0, 0), (0, 1)])
    with pytest.raises(ValueError, match="no user has 3 or more"):
        make_split(interactions, "leave-last-out", "validation", seed=0)


def test_leave_last_out_on_ncf_files():
    interactions = ncf_toy()
    split = make_split(interactions, "leave-last-out", "test", seed=0)
    assert split.test_task.users.tolist() == [0, 1]
    assert [row(split.test_task.targets, k) for k in range(2)] == [{2}, {0}]
    assert split.train.nnz == interactions.nnz


# --- loo-sampled ----------------------------------------------------------------------


def ncf_toy() -> Interactions:
    pairs = [(0, 0), (0, 1), (1, 1), (1, 2), (1, 3)]
    interactions = interactions_from(pairs, [0, 0, 0, 0, 0], n_items=130)
    interactions.ncf_test = np.array([2, 0], dtype=np.int32)
    interactions.ncf_negatives = np.array(
        [list(range(10, 109)), [2] + list(range(20, 118))], dtype=np.int32)
    return interactions


def test_loo_sampled_ncf_test_uses_file_task():
    interactions = ncf_toy()
    split = make_split(interactions, "loo-sampled", "test", seed=0)
    assert split.eval_task is split.test_task
    assert split.test_task.users.tolist() == [0, 1]
    assert split.test_task.candidates[0].tolist() == [2] + list(range(10, 109))
    # The file's quirk (negative equal to the test item) is kept for the evaluator.
    assert split.test_task.candidates[1, :2].tolist() == [0, 2]
    assert split.test_task.ks == (10,)
    assert split.train.nnz == 5


def test_loo_sampled_ncf_validation():
    interactions = ncf_toy()
    split = make_split(interactions, "loo-sampled", "validation", seed=0)
    check_task(split.eval_task, split.train, positive_sets(interactions), 130)
    assert split.eval_task.users.tolist() == [0, 1]
    assert split.eval_task.candidates.shape == (2, 100)
    assert split.train.nnz == 3
    assert split.test_task.candidates[0, 0] == 2
    # Fresh negatives avoid the test item too.
    assert 2 not in split.eval_task.candidates[1, 1:].tolist()
    assert 0 not in split.eval_task.candidates[0, 1:].tolist()


def test_loo_sampled_ml1m():
    require_real("ml-1m")
    interactions = data.load_interactions("ml-1m", REPO_DATA)
    test = data.load_split("ml-1m", "loo-sampled", "test", 0, data_dir=REPO_DATA)
    assert test.train.shape == (6040, 3706)
    assert test.train.nnz == 994_169
    assert test.eval_task.candidates.shape == (6040, 100)
    validation = data.load_split("ml-1m", "loo-sampled", "validation", 0, data_dir=REPO_DATA)
    assert validation.train.nnz == 994_169 - 6040
    assert validation.eval_task.candidates.shape == (6040, 100)
    assert validation.info["evaluated_users"] == 6040
    check_task(validation.eval_task, validation.train, positive_sets(interactions), 3706)
    check_task(validation.test_task, validation.train, positive_sets(interactions), 3706,
               file_negatives=True)


def test_loo_sampled_on_table_data():
    interactions = generate(synthetic_params("synthetic-small"), "synthetic-small")
    sampled = make_split(interactions, "loo-sampled", "validation", seed=5)
    ranked = make_split(interactions, "leave-last-out", "validation", seed=5)
    assert (sampled.train != ranked.train).nnz == 0
    assert sampled.eval_task.candidates[:, 0].tolist() == ranked.eval_task.targets.indices.tolist()
    assert sampled.eval_task.candidates.shape[1] == 100


def test_loo_sampled_skips_user_without_room():
    pairs = [(0, i) for i in range(95)] + [(1, 0), (1, 1), (1, 2)]
    interactions = interactions_from(pairs, n_items=150)
    split = make_split(interactions, "loo-sampled", "test", seed=0)
    assert split.eval_task.users.tolist() == [1]


def test_sample_negatives_exact_fallback():
    n_items = 120
    dense = np.zeros((3, n_items), dtype=np.float32)
    dense[0, :20] = 1  # 100 free items for 99 negatives: rejection rarely fills
    dense[1, 5] = 1
    positives = sp.csr_matrix(dense)
    positives.sort_indices()
    negatives = sample_negatives(np.array([0, 1, 2]), positives, 99,
                                 np.random.default_rng(0), max_rounds=1)
    assert negatives.shape == (3, 99)
    assert not set(negatives[0].tolist()) & set(range(20))
    assert 5 not in negatives[1].tolist()
    for r in range(3):
        assert len(set(negatives[r].tolist())) == 99


def test_sample_negatives_too_few_items():
    positives = sp.csr_matrix(np.ones((1, 50), dtype=np.float32))
    with pytest.raises(ValueError, match="user 0 has only 0 items"):
        sample_negatives(np.array([0]), positives, 5, np.random.default_rng(0))


def test_sample_negatives_uniform():
    positives = sp.csr_matrix((1, 200), dtype=np.float32)
    users = np.zeros(2000, dtype=np.int64)
    negatives = sample_negatives(users, positives, 10, np.random.default_rng(1))
    counts = np.bincount(negatives.ravel(), minlength=200)
    # 20,000 draws over 200 items: expect 100 each, binomial sd ≈ 10.
    assert counts.min() > 50
    assert counts.max() < 150


# --- held-out users -------------------------------------------------------------------


def test_heldout_users_counts_and_targets():
    rng = np.random.default_rng(0)
    pairs = set()
    for u in range(200):
        size = 3 if u % 10 == 0 else 10 + u % 7
        pairs.update((u, int(i)) for i in rng.choice(60, size=size, replace=False))
    interactions = interactions_from(sorted(pairs), n_items=70)
    split = make_split(interactions, "heldout-users", "validation", seed=0)
    check_split(split, interactions)
    assert split.train.shape == (160, 70)
    assert split.info["heldout_users"] == 40
    assert split.info["validation_users"] == 20
    task = split.eval_task
    assert task.ks == (20, 50, 100)
    assert task.metrics == ("Recall", "NDCG")
    history = np.diff(task.fold_in.indptr)
    targets = np.diff(task.targets.indptr)
    total = history + targets
    assert np.all(total >= 5)
    assert np.array_equal(targets, np.floor(0.2 * total).astype(int))


def test_heldout_users_not_trained_and_unseen_items_dropped():
    # Item 9 only belongs to one user: if that user is held out, the item is dropped.
    pairs = [(u, i) for u in range(30) for i in range(6)] + [(u, 9) for u in range(30, 31)]
    pairs += [(30, i) for i in range(6)]
    interactions = interactions_from(pairs, n_items=10)
    for seed in range(6):
        split = make_split(interactions, "heldout-users", "test", seed=seed)
        assert split.train.shape == (31 - 6, 10)
        assert split.train.nnz + sum(
            task.targets.nnz + task.fold_in.nnz for task in [split.test_task]
        ) <= len(pairs)
        if split.train[:, 9].nnz == 0:
            assert split.test_task.targets[:, 9].nnz == 0
            assert split.test_task.fold_in[:, 9].nnz == 0


def test_heldout_users_limits():
    interactions = generate(synthetic_params("synthetic-small"), "synthetic-small")
    split = make_split(interactions, "heldout-users", "validation", seed=0,
                       heldout_fraction=0.2, max_heldout_users=50)
    assert split.info["validation_users"] == 50
    assert split.train.shape[0] == 600 - 100
    with pytest.raises(ValueError, match="heldout_fraction"):
        make_split(interactions, "heldout-users", "validation", seed=0, heldout_fraction=0.6)


def test_heldout_users_too_few():
    interactions = interactions_from([(0, 0), (1, 1), (2, 0)])
    with pytest.raises(ValueError, match="too few"):
        make_split(interactions, "heldout-users", "test", seed=0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pairs=st.sets(st.tuples(st.integers(0, 29), st.integers(0, 19)), min_size=40, max_size=300),
    protocol=st.sampled_from(["leave-last-out", "heldout-users"]),
    split_name=st.sampled_from(["validation", "test"]),
    seed=st.integers(0, 10_000),
    with_time=st.booleans(),
)
def test_invariants_random_data(pairs, protocol, split_name, seed, with_time):
    pairs = sorted(pairs)
    timestamps = [hash(p) % 7 for p in pairs] if with_time else None
    interactions = interactions_from(pairs, timestamps, n_users=30, n_items=20)
    try:
        split = make_split(interactions, protocol, split_name, seed=seed,
                           heldout_fraction=0.2)
    except ValueError as error:
        assert "no " in str(error) or "too few" in str(error)
        return
    check_split(split, interactions)
    kept = split.train.nnz
    if protocol == "leave-last-out":
        assert kept + split.info["heldout_interactions"] == len(pairs)


# --- errors and arguments -------------------------------------------------------------


def test_make_split_rejects_bad_arguments():
    interactions = interactions_from([(0, 0), (0, 1), (0, 2)])
    with pytest.raises(ValueError, match="protocol must be one of"):
        make_split(interactions, "random", "test", 0)
    with pytest.raises(ValueError, match="split must be one of"):
        make_split(interactions, "leave-last-out", "train", 0)
    with pytest.raises(ValueError, match="seed must be"):
        make_split(interactions, "leave-last-out", "test", -1)


# --- prepared bundles -----------------------------------------------------------------


def make_bundle(root: Path) -> dict:
    rng = np.random.default_rng(7)

    def random_binary(rows):
        matrix = sp.random(rows, 25, density=0.3, format="csr", random_state=rng)
        matrix.data[:] = 1
        return matrix

    matrices = {
        "train": random_binary(30), "validation_fold_in": random_binary(6),
        "validation_targets": random_binary(6), "test_fold_in": random_binary(5),
        "test_targets": random_binary(5),
    }
    # A user without targets is not evaluated.
    targets = matrices["validation_targets"].tolil()
    targets[2] = 0
    matrices["validation_targets"] = targets.tocsr()
    save_csr_bundle(root / "sg" / "prepared.npz", {"format": "strong-generalization"},
                    **matrices)
    (root / "sg" / "dataset.json").write_text(json.dumps(
        {"format": "strong-generalization", "file": "prepared.npz"}))
    return matrices


def test_bundle_split(tmp_path):
    matrices = make_bundle(tmp_path)
    split = data.load_split("sg", data_dir=tmp_path)
    assert split.protocol == "strong-generalization"
    assert (split.train != matrices["train"]).nnz == 0
    assert split.eval_task.targets.shape == (5, 25)
    assert split.eval_task.fold_in.shape == (5, 25)
    assert split.test_task.ks == (20, 50, 100)
    kept = [0, 1, 3, 4, 5]
    assert (split.eval_task.fold_in != matrices["validation_fold_in"][kept]).nnz == 0
    assert split.info["heldout_users"] == 11
    assert split.info["evaluated_users"] == 5
    test = data.load_split("sg", split="test", data_dir=tmp_path)
    assert test.eval_task is test.test_task
    assert test.eval_task.targets.shape[0] == 5


def test_bundle_rejects_other_protocol(tmp_path):
    make_bundle(tmp_path)
    with pytest.raises(ValueError, match="does not support protocol 'leave-last-out'"):
        data.load_split("sg", "leave-last-out", data_dir=tmp_path)


# --- load_split -----------------------------------------------------------------------


def test_load_split_caches(tmp_path):
    first = data.load_split("synthetic-small", data_dir=tmp_path)
    assert data.load_split("synthetic-small", data_dir=tmp_path) is first
    assert data.load_split("synthetic-small", seed=1, data_dir=tmp_path) is not first
    assert first.protocol == "leave-last-out"
    assert first.info["dataset"] == "synthetic-small"


def test_load_split_cache_sees_file_change(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    path = folder / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},4,{u * 10 + i}\n" for u in range(5) for i in range(6)))
    first = data.load_split("t", "leave-last-out", "test", data_dir=tmp_path)
    assert first.train.nnz == 25
    path.write_text(path.read_text() + "9,1,4,1\n9,2,4,2\n")
    second = data.load_split("t", "leave-last-out", "test", data_dir=tmp_path)
    assert second is not first
    assert second.train.nnz == 26


def test_load_split_real_tables():
    require_real("ml-100k")
    split = data.load_split("ml-100k", data_dir=REPO_DATA)
    assert split.info["users"] == 943
    assert split.train.nnz == 100_000 - 2 * 943
    check_split(split, data.load_interactions("ml-100k", REPO_DATA))
