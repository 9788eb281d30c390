"""Preprocessing tests: strong-generalization split (Mult-VAE) and the NCF ML-1M build.

Tiny files in the exact raw formats (GroupLens ``ratings.csv``/``ratings.dat``/``u.data``,
MSD tab-separated triplets) exercise every step. The strong-generalization split is
compared with a plain per-user pandas reimplementation of the reference procedure.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ials.data import preprocess as pp
from ials.data.bundle import load_csr_bundle
from ials.data.preprocess import PrepareError, split_leave_last_out_ncf, split_strong_generalization

REPO_DATA = Path(__file__).resolve().parent.parent / "data"


# ----------------------------------------------------------- plain reference version


def reference_split(users, items, n_heldout, min_user, min_item, test_prop=0.2, seed=98765):
    """Per-user loop over a DataFrame, in the reference's order of random calls.

    Returns sets of (user id, item id) pairs for each part, the item order and the
    permuted user order.
    """
    data = pd.DataFrame({"user": users, "item": items})
    if min_item > 0:
        sizes = data.groupby("item").size()
        data = data[data["item"].isin(sizes.index[sizes >= min_item])]
    if min_user > 0:
        sizes = data.groupby("user").size()
        data = data[data["user"].isin(sizes.index[sizes >= min_user])]
    unique_users = data.groupby("user").size().index
    np.random.seed(seed)
    unique_users = unique_users[np.random.permutation(unique_users.size)]
    n = unique_users.size
    train_users = unique_users[: n - 2 * n_heldout]
    validation_users = unique_users[n - 2 * n_heldout: n - n_heldout]
    test_users = unique_users[n - n_heldout:]
    train = data[data["user"].isin(train_users)]
    item_order = pd.unique(train["item"])

    def fold_in_and_targets(part_users):
        plays = data[data["user"].isin(part_users) & data["item"].isin(item_order)]
        np.random.seed(seed)
        fold_in, targets = [], []
        for _, group in plays.groupby("user"):
            size = len(group)
            if size >= 5:
                chosen = np.zeros(size, dtype=bool)
                chosen[np.random.choice(size, size=int(test_prop * size), replace=False)] = True
                fold_in.append(group[~chosen])
                targets.append(group[chosen])
            else:
                fold_in.append(group)
        return _pairs(pd.concat(fold_in)), _pairs(pd.concat(targets)) if targets else set()

    validation = fold_in_and_targets(validation_users)
    test = fold_in_and_targets(test_users)
    return {
        "train": _pairs(train),
        "validation_fold_in": validation[0], "validation_targets": validation[1],
        "test_fold_in": test[0], "test_targets": test[1],
        "item_order": list(item_order), "user_order": list(unique_users),
    }


def _pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user"].tolist(), frame["item"].tolist()))


def split_pairs(split, name):
    """Return the (user id, item id) pairs of one matrix of a split."""
    matrix = getattr(split, name).tocoo()
    n_train = split.train.shape[0]
    offset = {"train": 0, "validation_fold_in": n_train, "validation_targets": n_train}.get(
        name, n_train + split.validation_fold_in.shape[0]
    )
    users = split.user_ids[matrix.row + offset]
    items = split.item_ids[matrix.col]
    return set(zip(users.tolist(), items.tolist()))


MATRICES = ("train", "validation_fold_in", "validation_targets", "test_fold_in", "test_targets")


def assert_same_as_reference(users, items, n_heldout, min_user, min_item):
    expected = reference_split(users, items, n_heldout, min_user, min_item)
    split = split_strong_generalization(
        users, items, n_heldout_users=n_heldout, min_user=min_user, min_item=min_item,
    )
    assert list(split.item_ids) == expected["item_order"]
    assert list(split.user_ids) == expected["user_order"]
    for name in MATRICES:
        assert split_pairs(split, name) == expected[name], name
    return split


def random_interactions(seed, n_users=300, n_items=120, string_ids=False):
    rng = np.random.default_rng(seed)
    activity = rng.integers(1, 40, size=n_users)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    users, items = [], []
    for user, count in enumerate(activity):
        chosen = rng.choice(n_items, size=min(count, n_items), replace=False,
                            p=popularity / popularity.sum())
        users += [user * 7 + 3] * len(chosen)
        items += (chosen * 11 + 5).tolist()
    order = rng.permutation(len(users))
    users = np.array(users)[order]
    items = np.array(items)[order]
    if string_ids:
        users = np.array([f"u{value:05x}" for value in users])
        items = np.array([f"SO{value:06d}" for value in items])
    return users, items


# ------------------------------------------------------------- strong generalization


@pytest.mark.parametrize("min_user,min_item,string_ids", [
    (5, 0, False),    # ML-20M filters
    (20, 10, True),   # MSD-style filters with string ids
    (0, 0, False),    # no filter: users with < 5 interactions stay in
])
def test_split_matches_reference(min_user, min_item, string_ids):
    users, items = random_interactions(3, string_ids=string_ids)
    split = assert_same_as_reference(users, items, 20, min_user, min_item)
    assert split.counts["heldout_users"] == 20


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_heldout=st.integers(1, 15),
       min_user=st.integers(0, 8), min_item=st.integers(0, 4))
def test_split_matches_reference_property(seed, n_heldout, min_user, min_item):
    users, items = random_interactions(seed, n_users=60, n_items=40)
    n_left = len(reference_users_after_filter(users, items, min_user, min_item))
    if n_left <= 2 * n_heldout:
        with pytest.raises(ValueError, match="held out"):
            split_strong_generalization(users, items, n_heldout_users=n_heldout,
                                        min_user=min_user, min_item=min_item)
        return
    assert_same_as_reference(users, items, n_heldout, min_user, min_item)


def reference_users_after_filter(users, items, min_user, min_item):
    data = pd.DataFrame({"user": users, "item": items})
    if min_item:
        data = data[data.groupby("item")["item"].transform("size") >= min_item]
    if min_user:
        data = data[data.groupby("user")["user"].transform("size") >= min_user]
    return data["user"].unique()


def handmade_interactions():
    """12 users; user 100 has 3 items (below min_user 4); item 999 occurs only once."""
    users, items = [], []
    for user in range(1, 12):
        for item in range(1, 6 + user % 4):
            users.append(user)
            items.append(item)
    users += [100, 100, 100]
    items += [1, 2, 3]
    users.append(11)
    items.append(999)
    return np.array(users), np.array(items)


def test_split_drops_users_below_threshold():
    users, items = handmade_interactions()
    split = split_strong_generalization(users, items, n_heldout_users=2, min_user=4)
    assert 100 not in set(split.user_ids.tolist())
    assert split.counts["users"] == 11
    assert split.counts["interactions"] == len(users) - 3


def test_split_item_only_in_heldout_user_is_dropped():
    users, items = random_interactions(7, n_users=50, n_items=30)
    probe = split_strong_generalization(users, items, n_heldout_users=5)
    heldout_user = probe.user_ids[-1]
    users = np.append(users, heldout_user)
    items = np.append(items, -42)
    split = assert_same_as_reference(users, items, 5, 0, 0)
    assert -42 not in set(split.item_ids.tolist())
    assert split.counts["heldout_interactions_dropped"] == 1


def test_small_heldout_users_have_no_targets():
    users, items = random_interactions(11, n_users=80, n_items=40)
    split = split_strong_generalization(users, items, n_heldout_users=15)
    for prefix in ("validation", "test"):
        fold_in = getattr(split, f"{prefix}_fold_in")
        targets = getattr(split, f"{prefix}_targets")
        history = np.diff(fold_in.indptr) + np.diff(targets.indptr)
        n_targets = np.diff(targets.indptr)
        assert np.all(n_targets[history < 5] == 0)
        big = history >= 5
        assert np.array_equal(n_targets[big], (0.2 * history[big]).astype(int))
        assert fold_in.multiply(targets).nnz == 0


def test_split_rejects_too_few_users():
    users, items = handmade_interactions()
    with pytest.raises(ValueError, match="only 11 users remain"):
        split_strong_generalization(users, items, n_heldout_users=6, min_user=4)


@pytest.mark.parametrize("kwargs,message", [
    ({"n_heldout_users": 0}, "n_heldout_users must be an integer ≥ 1"),
    ({"n_heldout_users": 1, "min_user": -1}, "min_user must be an integer ≥ 0"),
    ({"n_heldout_users": 1, "test_prop": 1.0}, "test_prop must be in"),
])
def test_split_rejects_bad_arguments(kwargs, message):
    users, items = handmade_interactions()
    with pytest.raises(ValueError, match=message):
        split_strong_generalization(users, items, **kwargs)


# ------------------------------------------------------------------ raw file formats


def write_ratings_csv(path: Path, rows) -> None:
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{u},{i},{r:.1f},{t}" for u, i, r, t in rows]
    path.write_text("\n".join(lines) + "\n")


def write_ratings_dat(path: Path, rows) -> None:
    path.write_text("".join(f"{u}::{i}::{int(r)}::{t}\n" for u, i, r, t in rows))


def write_u_data(path: Path, rows) -> None:
    path.write_text("".join(f"{u}\t{i}\t{int(r)}\t{t}\n" for u, i, r, t in rows))


def movielens_rows(seed=0, n_users=60, n_items=40):
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        count = int(rng.integers(2, 25))
        for item in rng.choice(np.arange(1, n_items + 1), size=count, replace=False):
            rating = float(rng.integers(1, 11)) / 2
            rows.append((user, int(item), rating, int(rng.integers(9.7e8, 9.8e8))))
    return rows


@pytest.mark.parametrize("writer,file_name", [
    (write_ratings_csv, "ratings.csv"),
    (write_ratings_dat, "ratings.dat"),
    (write_u_data, "u.data"),
])
def test_read_movielens_formats(tmp_path, writer, file_name):
    rows = [(1, 10, 4.0, 100), (1, 20, 3.0, 101), (2, 10, 5.0, 99)]
    writer(tmp_path / file_name, rows)
    users, items, timestamps = pp.read_movielens_ratings(tmp_path / file_name, 3.5)
    assert users.tolist() == [1, 2]
    assert items.tolist() == [10, 10]
    assert timestamps.tolist() == [100, 99]


def test_read_movielens_rejects_other_names(tmp_path):
    (tmp_path / "scores.txt").write_text("1\t2\t3\t4\n")
    with pytest.raises(PrepareError, match="not a GroupLens ratings file"):
        pp.read_movielens_ratings(tmp_path / "scores.txt")


@pytest.fixture
def small_ml20m(monkeypatch):
    monkeypatch.setitem(
        pp.SG_CONFIGS, "ml-20m-sg", dataclasses.replace(pp.SG_CONFIGS["ml-20m-sg"], n_heldout_users=5)
    )


def test_prepare_ml20m_end_to_end(tmp_path, small_ml20m):
    rows = movielens_rows()
    (tmp_path / "ml-20m").mkdir()
    write_ratings_csv(tmp_path / "ml-20m" / "ratings.csv", rows)
    stages = []
    result = pp.prepare("ml-20m-sg", tmp_path,
                        progress=lambda stage, done, total: stages.append((done, total)))

    folder = tmp_path / "ml-20m-sg"
    manifest = json.loads((folder / "dataset.json").read_text())
    assert manifest["format"] == "strong-generalization"
    assert manifest["file"] == "prepared.npz"
    assert manifest["preprocessing_version"] == pp.PREPROCESS_VERSION
    assert manifest["counts"] == result.counts
    assert len(manifest["source"]["sha256"]) == 64
    assert stages[-1] == (7, 7)

    kept = [(u, i) for u, i, r, _ in rows if r > 3.5]
    users = np.array([u for u, _ in kept])
    items = np.array([i for _, i in kept])
    expected = reference_split(users, items, 5, 5, 0)
    meta, matrices = load_csr_bundle(folder / "prepared.npz")
    assert sorted(matrices) == sorted(MATRICES)
    item_ids = [int(line) for line in (folder / "item_ids.txt").read_text().split()]
    assert item_ids == expected["item_order"]
    train = matrices["train"].tocoo()
    user_order = expected["user_order"]
    assert {(user_order[r], item_ids[c]) for r, c in zip(train.row, train.col)} == expected["train"]
    targets = matrices["test_targets"].tocoo()
    offset = len(user_order) - 5
    assert {(user_order[offset + r], item_ids[c]) for r, c in zip(targets.row, targets.col)} \
        == expected["test_targets"]
    assert not list(tmp_path.glob(".ml-20m-sg*"))


def test_prepare_is_deterministic_and_skips(tmp_path, small_ml20m):
    (tmp_path / "ml-20m").mkdir()
    write_ratings_csv(tmp_path / "ml-20m" / "ratings.csv", movielens_rows(seed=4))
    pp.prepare("ml-20m-sg", tmp_path)
    _, first = load_csr_bundle(tmp_path / "ml-20m-sg" / "prepared.npz")
    again = pp.prepare("ml-20m-sg", tmp_path)
    assert again.skipped
    forced = pp.prepare("ml-20m-sg", tmp_path, force=True)
    assert not forced.skipped
    _, second = load_csr_bundle(tmp_path / "ml-20m-sg" / "prepared.npz")
    for name in MATRICES:
        assert (first[name] != second[name]).nnz == 0, name
        assert first[name].shape == second[name].shape, name


def test_prepare_rebuilds_when_source_changes(tmp_path, small_ml20m):
    (tmp_path / "ml-20m").mkdir()
    raw = tmp_path / "ml-20m" / "ratings.csv"
    write_ratings_csv(raw, movielens_rows(seed=4))
    pp.prepare("ml-20m-sg", tmp_path)
    write_ratings_csv(raw, movielens_rows(seed=5))
    assert not pp.prepare("ml-20m-sg", tmp_path).skipped


def test_prepare_msd_triplets_gzip(tmp_path, monkeypatch):
    monkeypatch.setitem(pp.SG_CONFIGS, "msd-sg", dataclasses.replace(
        pp.SG_CONFIGS["msd-sg"], n_heldout_users=4, min_user=6, min_item=3,
    ))
    users, items = random_interactions(9, n_users=90, n_items=50, string_ids=True)
    counts = np.random.default_rng(0).integers(1, 30, size=len(users))
    (tmp_path / "msd").mkdir()
    text = "".join(f"{u}\t{i}\t{c}\n" for u, i, c in zip(users, items, counts))
    with gzip.open(tmp_path / "msd" / "train_triplets.txt.gz", "wt") as handle:
        handle.write(text)
    result = pp.prepare("msd-sg", tmp_path)

    expected = reference_split(users, items, 4, 6, 3)
    assert result.counts["users"] == len(expected["user_order"])
    assert result.counts["items"] == len(expected["item_order"])
    item_ids = (tmp_path / "msd-sg" / "item_ids.txt").read_text().split()
    assert item_ids == expected["item_order"]
    _, matrices = load_csr_bundle(tmp_path / "msd-sg" / "prepared.npz")
    assert matrices["validation_targets"].nnz == len(expected["validation_targets"])


def test_prepare_without_source_names_download(tmp_path):
    with pytest.raises(PrepareError, match="python -m ials data download ml-20m"):
        pp.prepare("ml-20m-sg", tmp_path)
    assert not (tmp_path / "ml-20m-sg").exists()


def test_prepare_unknown_name(tmp_path):
    with pytest.raises(KeyError, match="ml-20m-sg"):
        pp.prepare("ml-30m-sg", tmp_path)


def test_failed_prepare_leaves_previous_folder(tmp_path, small_ml20m, monkeypatch):
    (tmp_path / "ml-20m").mkdir()
    write_ratings_csv(tmp_path / "ml-20m" / "ratings.csv", movielens_rows(seed=4))
    pp.prepare("ml-20m-sg", tmp_path)
    before = (tmp_path / "ml-20m-sg" / "dataset.json").read_text()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pp, "save_csr_bundle", fail)
    with pytest.raises(OSError, match="disk full"):
        pp.prepare("ml-20m-sg", tmp_path, force=True)
    assert (tmp_path / "ml-20m-sg" / "dataset.json").read_text() == before
    assert not list(tmp_path.glob(".ml-20m-sg*"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ml-20m-sg", "msd-sg"])
def test_published_counts_on_real_data(name):
    try:
        pp.source_file(name, REPO_DATA)
    except PrepareError as error:
        pytest.skip(f"the raw file is not in {REPO_DATA} and this machine cannot download "
                    f"it, so the published counts cannot be checked: {error}")
    result = pp.prepare(name, REPO_DATA)
    published = pp.PUBLISHED_COUNTS[name]
    assert result.counts["users"] == published["users"]
    assert result.counts["items"] == published["items"]
    assert round(result.counts["interactions"] / 1e6, 1) == published["interactions_millions"]


# ------------------------------------------------------------------------ NCF format


def test_ncf_holds_out_latest_with_file_order_ties():
    users = [5, 5, 5, 7, 7, 7, 9, 9, 11]
    items = [1, 2, 3, 1, 2, 3, 3, 1, 4]
    times = [10, 30, 20, 50, 50, 40, 1, 1, 0]
    split = split_leave_last_out_ncf(users, items, times, n_negatives=1)
    assert split.user_ids.tolist() == [5, 7, 9, 11]
    assert split.item_ids.tolist() == [1, 2, 3, 4]
    held_out = dict(zip(split.user_ids[split.test["user"]], split.item_ids[split.test["item"]]))
    assert held_out == {5: 2, 7: 2, 9: 1, 11: 4}
    train_user5 = split.train[split.train["user"] == 0]
    assert split.item_ids[train_user5["item"]].tolist() == [1, 3]
    assert train_user5["timestamp"].tolist() == [10, 20]


def test_ncf_negatives_unrated_distinct_and_seeded():
    rows = movielens_rows(seed=2, n_users=30, n_items=150)
    users, items, times = (np.array(column) for column in zip(*[(u, i, t) for u, i, _, t in rows]))
    split = split_leave_last_out_ncf(users, items, times, n_negatives=99, seed=3)
    again = split_leave_last_out_ncf(users, items, times, n_negatives=99, seed=3)
    other = split_leave_last_out_ncf(users, items, times, n_negatives=99, seed=4)
    assert np.array_equal(split.negatives, again.negatives)
    assert not np.array_equal(split.negatives, other.negatives)
    rated = {}
    for user, item in zip(users, items):
        rated.setdefault(user, set()).add(item)
    for index, row in enumerate(split.negatives):
        assert len(set(row.tolist())) == 99
        assert not rated[split.user_ids[index]] & set(split.item_ids[row].tolist())
    assert len(split.train) + len(split.test) == len(users)


def test_ncf_rejects_user_without_room_for_negatives():
    users = [1] * 5 + [2]
    items = [1, 2, 3, 4, 5, 1]
    with pytest.raises(ValueError, match="user 1 rated 5 of 5 items"):
        split_leave_last_out_ncf(users, items, list(range(6)), n_negatives=1)


def test_prepare_ml1m_ncf_writes_readable_files(tmp_path):
    from ials.data.readers import read_ncf

    rows = movielens_rows(seed=6, n_users=40, n_items=160)
    (tmp_path / "ml-1m-raw").mkdir()
    write_ratings_dat(tmp_path / "ml-1m-raw" / "ratings.dat", rows)
    result = pp.prepare("ml-1m-ncf", tmp_path)
    folder = tmp_path / "ml-1m-ncf"
    assert result.counts["users"] == 40
    assert result.counts["train_interactions"] + 40 == len(rows)
    first_negative_line = (folder / "ml-1m-ncf.test.negative").read_text().splitlines()[0]
    assert first_negative_line.startswith("(0,")
    assert len(first_negative_line.split("\t")) == 100

    data = read_ncf(folder, "ml-1m-ncf")
    assert data.nnz == len(rows) - 40
    assert (data.ncf_test >= 0).all()
    assert pp.prepare("ml-1m-ncf", tmp_path).skipped


def _real_ratings_dat() -> Path | None:
    for folder in (REPO_DATA / "ml-1m", REPO_DATA / "ml-1m-raw"):
        for name in ("ratings.dat", "ratings.dat.gz"):
            if (folder / name).is_file():
                return folder / name
    return None


@pytest.mark.slow
def test_ncf_heldout_items_match_published_files():
    raw = _real_ratings_dat()
    ncf_test = REPO_DATA / "ml-1m" / "ml-1m.test.rating.gz"
    mapping = REPO_DATA / "ml-1m" / "ml-1m.ncf_item_to_movieid.tsv.gz"
    if raw is None or not ncf_test.is_file() or not mapping.is_file():
        pytest.skip("needs the GroupLens ratings.dat (with timestamps) next to the NCF "
                    "ml-1m files; the data directory has no ratings.dat, so the held-out "
                    "items cannot be compared")
    users, items, times = pp.read_movielens_ratings(raw)
    split = split_leave_last_out_ncf(users, items, times)
    ours = dict(zip(split.user_ids[split.test["user"]].tolist(),
                    split.item_ids[split.test["item"]].tolist()))

    movie_of = pd.read_csv(mapping, sep="\t")
    groups = {row.ncf_item: ({int(m) for m in str(row.identical_rater_set_group).split(",")}
                             if isinstance(row.identical_rater_set_group, str)
                             else {int(row.movielens_movie_id)})
              for row in movie_of.itertuples()}
    published = pd.read_csv(ncf_test, sep="\t", header=None, names=["user", "item", "r", "t"])
    latest = pd.DataFrame({"user": users, "item": items, "t": times})
    latest_time = latest.groupby("user")["t"].max()
    exact = 0
    for row in published.itertuples():
        user = row.user + 1
        movies = groups[row.item]
        times_of_user = latest[(latest["user"] == user) & latest["item"].isin(movies)]["t"]
        assert times_of_user.max() == latest_time[user], f"user {user}: NCF test item is not latest"
        exact += ours[user] in movies
    print(f"held-out item equal to NCF's for {exact} of {len(published)} users")
    assert exact >= 0.9 * len(published)
