"""Readers and the data set registry: real MovieLens files, hand-written files in tmp_path,
malformed input, manifests and fingerprints."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ials import data
from ials.data import registry
from ials.data.bundle import save_csr_bundle
from ials.data.readers import DataFormatError, read_grouplens, read_ncf, read_table

REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def real_folder(name: str) -> Path:
    folder = REPO_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real data set {name} is not in {REPO_DATA}")
    return folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_ncf(folder: Path, name: str, train: str, test: str, negative: str, gz=False):
    suffix = ".gz" if gz else ""
    write(folder / f"{name}.train.rating{suffix}", train)
    write(folder / f"{name}.test.rating{suffix}", test)
    write(folder / f"{name}.test.negative{suffix}", negative)


SMALL_TRAIN = "0\t0\t1\t10\n0\t1\t1\t20\n1\t1\t1\t5\n1\t2\t1\t6\n"
SMALL_TEST = "0\t2\t1\t30\n1\t0\t1\t7\n"
SMALL_NEGATIVE = "(0,2)\t3\t4\n(1,0)\t5\t3\n"


# --- NCF ------------------------------------------------------------------------------


def test_ncf_ml1m_counts():
    interactions = read_ncf(real_folder("ml-1m"), "ml-1m")
    assert interactions.n_users == 6040
    assert interactions.n_items == 3706
    assert interactions.nnz == 994_169
    assert interactions.ncf_negatives.shape == (6040, 99)
    assert (interactions.ncf_test >= 0).all()
    assert interactions.to_csr().nnz == 994_169


def test_ncf_ml1m_negatives_containing_test_item():
    interactions = read_ncf(real_folder("ml-1m"), "ml-1m")
    contains = (interactions.ncf_negatives == interactions.ncf_test[:, None]).any(axis=1)
    assert int(contains.sum()) == 156
    train = interactions.to_csr()
    rows = np.repeat(np.arange(6040), 99)
    assert train[rows, interactions.ncf_negatives.ravel()].sum() == 0


@pytest.mark.parametrize("gz", [False, True])
def test_ncf_small_files(tmp_path, gz):
    write_ncf(tmp_path, "toy", SMALL_TRAIN, SMALL_TEST, SMALL_NEGATIVE, gz=gz)
    interactions = read_ncf(tmp_path, "toy")
    assert interactions.n_users == 2
    assert interactions.n_items == 6  # item 5 occurs only as a negative
    assert interactions.user.tolist() == [0, 0, 1, 1]
    assert interactions.item.tolist() == [0, 1, 1, 2]
    assert interactions.timestamp.tolist() == [10, 20, 5, 6]
    assert interactions.ncf_test.tolist() == [2, 0]
    assert interactions.ncf_negatives.tolist() == [[3, 4], [5, 3]]


def test_ncf_missing_file(tmp_path):
    write(tmp_path / "toy.train.rating", SMALL_TRAIN)
    with pytest.raises(DataFormatError, match="toy.test.rating"):
        read_ncf(tmp_path, "toy")


@pytest.mark.parametrize(
    "train, line, problem",
    [
        ("0\t0\t1\t10\n0\t1\t1\n", 2, "expected 4 fields"),
        ("0\t0\t1\t10\n0\t1\t1\t20\n1\t1\t1\t5\t9\n", 3, "expected 4 fields"),
        ("0\t0\t1\t10\n0\tx\t1\t20\n", 2, "item 'x' is not an integer"),
        ("0\t0\t1\t10\n0\t1\tgood\t20\n", 2, "rating 'good' is not a number"),
        ("", 1, "empty"),
    ],
)
def test_ncf_malformed_train(tmp_path, train, line, problem):
    write_ncf(tmp_path, "toy", train, SMALL_TEST, SMALL_NEGATIVE)
    with pytest.raises(DataFormatError) as caught:
        read_ncf(tmp_path, "toy")
    assert caught.value.path.endswith("toy.train.rating")
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert f"line {line}" in str(caught.value)


def test_ncf_negative_pair_mismatch(tmp_path):
    write_ncf(tmp_path, "toy", SMALL_TRAIN, SMALL_TEST, "(0,2)\t3\t4\n(1,4)\t5\t3\n")
    with pytest.raises(DataFormatError) as caught:
        read_ncf(tmp_path, "toy")
    assert caught.value.line == 2
    assert "test item 0" in caught.value.problem


def test_ncf_negative_bad_first_field(tmp_path):
    write_ncf(tmp_path, "toy", SMALL_TRAIN, SMALL_TEST, "(0,2)\t3\t4\n1,0\t5\t3\n")
    with pytest.raises(DataFormatError) as caught:
        read_ncf(tmp_path, "toy")
    assert caught.value.line == 2
    assert "(user,item)" in caught.value.problem


def test_ncf_negative_non_integer(tmp_path):
    write_ncf(tmp_path, "toy", SMALL_TRAIN, SMALL_TEST, "(0,2)\t3\t4\n(1,0)\t5\tfoo\n")
    with pytest.raises(DataFormatError) as caught:
        read_ncf(tmp_path, "toy")
    assert caught.value.line == 2
    assert "'foo'" in caught.value.problem


def test_ncf_broken_gzip(tmp_path):
    write_ncf(tmp_path, "toy", SMALL_TRAIN * 200, SMALL_TEST, SMALL_NEGATIVE, gz=True)
    path = tmp_path / "toy.train.rating.gz"
    payload = path.read_bytes()
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataFormatError) as caught:
        read_ncf(tmp_path, "toy")
    assert caught.value.path == str(path)
    assert caught.value.line is not None
    assert "corrupt or truncated" in caught.value.problem


def test_not_gzip_with_gz_name(tmp_path):
    path = tmp_path / "table.csv.gz"
    path.write_bytes(b"user,item\n1,2\n")
    with pytest.raises(DataFormatError) as caught:
        read_table(path, user="user", item="item")
    assert caught.value.line == 1
    assert "corrupt or truncated" in caught.value.problem


# --- GroupLens files ------------------------------------------------------------------


def test_grouplens_ml100k_counts():
    interactions = read_grouplens(real_folder("ml-100k") / "u.data.gz")
    assert (interactions.n_users, interactions.n_items, interactions.nnz) == (943, 1682, 100_000)
    assert interactions.user_ids[:2].tolist() == [196, 186]  # order of first appearance
    assert interactions.timestamp[0] == 881250949


def test_grouplens_ml_latest_small_counts():
    interactions = read_grouplens(real_folder("ml-latest-small") / "ratings.csv.gz")
    assert (interactions.n_users, interactions.n_items, interactions.nnz) == (610, 9724, 100_836)


def test_grouplens_ratings_dat(tmp_path):
    path = write(tmp_path / "ml" / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"
                 "2::1193::4::978298413\n")
    interactions = read_grouplens(path)
    assert interactions.user.tolist() == [0, 0, 1]
    assert interactions.item.tolist() == [0, 1, 0]
    assert interactions.item_ids.tolist() == [1193, 661]
    assert interactions.timestamp.tolist() == [978300760, 978302109, 978298413]


def test_grouplens_ratings_dat_short_line(tmp_path):
    path = write(tmp_path / "ml" / "ratings.dat", "1::1193::5::978300760\n1::661::3\n")
    with pytest.raises(DataFormatError) as caught:
        read_grouplens(path)
    assert caught.value.line == 2
    assert "expected 4 fields" in caught.value.problem


def test_grouplens_rejects_other_name(tmp_path):
    path = write(tmp_path / "other.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a GroupLens ratings file"):
        read_grouplens(path)


# --- generic tables -------------------------------------------------------------------


def test_table_string_ids_first_appearance(tmp_path):
    path = write(tmp_path / "t.csv", "who,what\nbob,x\nann,y\nbob,y\ncy,z\n")
    interactions = read_table(path, user="who", item="what")
    assert interactions.user_ids.tolist() == ["bob", "ann", "cy"]
    assert interactions.item_ids.tolist() == ["x", "y", "z"]
    assert interactions.user.tolist() == [0, 1, 0, 2]
    assert interactions.item.tolist() == [0, 1, 1, 2]
    assert interactions.timestamp is None
    assert interactions.user.dtype == np.int32


def test_table_duplicates_keep_latest(tmp_path):
    path = write(tmp_path / "t.tsv", "u\ti\tr\tt\n1\t5\t2\t300\n1\t5\t4\t100\n2\t5\t3\t50\n"
                 "1\t6\t1\t10\n")
    interactions = read_table(path, user="u", item="i", rating="r", timestamp="t")
    assert interactions.nnz == 3
    pairs = {(int(interactions.user_ids[u]), int(interactions.item_ids[i])): t
             for u, i, t in zip(interactions.user, interactions.item, interactions.timestamp)}
    assert pairs == {(1, 5): 300.0, (2, 5): 50.0, (1, 6): 10.0}


def test_table_duplicate_latest_rating_decides_threshold(tmp_path):
    # The latest rating of (1, 5) is 2, below the threshold, so the pair is dropped.
    path = write(tmp_path / "t.csv", "u,i,r,t\n1,5,5,100\n1,5,2,300\n1,6,4,10\n")
    interactions = read_table(path, user="u", item="i", rating="r", timestamp="t",
                              rating_threshold=4)
    assert interactions.nnz == 1
    assert interactions.item_ids.tolist() == [6]


def test_table_threshold_inclusive_and_exclusive(tmp_path):
    path = write(tmp_path / "t.csv", "u,i,r\n1,1,3.5\n1,2,4.0\n2,1,3.0\n2,3,5\n")
    inclusive = read_table(path, user="u", item="i", rating="r", rating_threshold=3.5)
    exclusive = read_table(path, user="u", item="i", rating="r", rating_min_exclusive=3.5)
    assert inclusive.nnz == 3
    assert exclusive.nnz == 2
    assert exclusive.item_ids.tolist() == [2, 3]
    assert inclusive.n_users == 2
    assert exclusive.n_items == 2


def test_table_both_thresholds_rejected(tmp_path):
    path = write(tmp_path / "t.csv", "u,i,r\n1,1,3.5\n")
    with pytest.raises(ValueError, match="not both"):
        read_table(path, user="u", item="i", rating="r", rating_threshold=3,
                   rating_min_exclusive=3)


def test_table_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"user": ["a", "b", "a"], "item": [10, 10, 11],
                  "ts": [1.0, 2.0, 3.0]}).to_parquet(path)
    interactions = read_table(path, user="user", item="item", timestamp="ts")
    assert interactions.user.tolist() == [0, 1, 0]
    assert interactions.item_ids.tolist() == [10, 11]
    assert interactions.timestamp.tolist() == [1.0, 2.0, 3.0]


def test_table_parquet_missing_column(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"user": [1], "item": [2]}).to_parquet(path)
    with pytest.raises(DataFormatError, match="columns found: user, item"):
        read_table(path, user="user", item="item", rating="score")


def test_table_without_header_gz(tmp_path):
    path = write(tmp_path / "t.txt.gz", "7\t8\t1\n7\t9\t1\n8\t9\t1\n")
    interactions = read_table(path, user=0, item=1, header=False)
    assert interactions.n_users == 2
    assert interactions.item_ids.tolist() == [8, 9]


def test_table_missing_column_lists_found(tmp_path):
    path = write(tmp_path / "t.csv", "userId,movieId\n1,2\n")
    with pytest.raises(DataFormatError) as caught:
        read_table(path, user="user", item="movieId")
    assert caught.value.line == 1
    assert "columns found: userId, movieId" in caught.value.problem


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("u,i,r\n1,1,4\n1,2\n", 3, "expected 3 fields"),
        ("u,i,r\n1,1,4\n1,2,4,5\n", 3, "expected 3 fields"),
        ("u,i,r\n1,1,4\n1,2,4\n2,2,high\n", 4, "rating 'high' in column 'r' is not a number"),
        ("u,i,r\n1,1,4\n\n1,2,\n", 4, "rating '' in column 'r' is not a number"),
        ("", 1, "empty"),
    ],
)
def test_table_malformed(tmp_path, text, line, problem):
    path = write(tmp_path / "t.csv", text)
    with pytest.raises(DataFormatError) as caught:
        read_table(path, user="u", item="i", rating="r")
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert problem in caught.value.problem


def test_table_header_only(tmp_path):
    path = write(tmp_path / "t.csv", "u,i\n")
    with pytest.raises(DataFormatError, match="no rows"):
        read_table(path, user="u", item="i")


def test_table_bad_timestamp_line(tmp_path):
    path = write(tmp_path / "t.csv", "u,i,t\n1,1,100\n1,2,yesterday\n")
    with pytest.raises(DataFormatError) as caught:
        read_table(path, user="u", item="i", timestamp="t")
    assert caught.value.line == 3
    assert "timestamp 'yesterday' in column 't'" in caught.value.problem


# --- registry -------------------------------------------------------------------------


def make_table_dataset(root: Path, name="mine", text="a,b,r\n1,x,5\n1,y,1\n2,x,4\n2,z,5\n3,y,4\n",
                       **manifest):
    folder = root / name
    write(folder / "interactions.csv", text)
    content = {"format": "table", "file": "interactions.csv",
               "columns": {"user": "a", "item": "b", "rating": "r", "timestamp": None},
               "sep": ",", "rating_threshold": 4, "description": "my table"}
    content.update(manifest)
    write(folder / "dataset.json", json.dumps(content))
    return folder


def test_list_datasets_synthetic_first(tmp_path):
    make_table_dataset(tmp_path)
    (tmp_path / "empty-folder").mkdir()
    infos = data.list_datasets(tmp_path)
    names = [info.name for info in infos]
    assert names[0] == "synthetic"
    assert "mine" in names
    assert "empty-folder" not in names
    mine = infos[names.index("mine")]
    assert mine.format == "table"
    assert mine.description == "my table"
    assert mine.default_protocol == "leave-last-out"


def test_list_datasets_missing_dir(tmp_path):
    infos = data.list_datasets(tmp_path / "absent")
    assert infos[0].name == "synthetic"
    assert all(info.format == "synthetic" for info in infos)


def test_list_datasets_real_folder():
    real_folder("ml-1m")
    infos = {info.name: info for info in data.list_datasets(REPO_DATA)}
    assert infos["ml-1m"].format == "ncf"
    assert infos["ml-1m"].default_protocol == "loo-sampled"
    assert infos["ml-100k"].format == "table"
    assert "loo-sampled" in infos["ml-100k"].protocols


def test_manifest_table_threshold(tmp_path):
    make_table_dataset(tmp_path)
    interactions = data.load_interactions("mine", tmp_path)
    assert interactions.nnz == 4  # rating 1 is below the threshold 4
    assert interactions.user_ids.tolist() == [1, 2, 3]


def test_manifest_invalid_json(tmp_path):
    folder = make_table_dataset(tmp_path)
    write(folder / "dataset.json", '{"format": "table",\n "file": }')
    with pytest.raises(DataFormatError) as caught:
        data.load_interactions("mine", tmp_path)
    assert caught.value.line == 2
    assert [info.name for info in data.list_datasets(tmp_path)].count("mine") == 0


def test_manifest_unknown_format(tmp_path):
    folder = make_table_dataset(tmp_path)
    write(folder / "dataset.json", json.dumps({"format": "xml", "file": "interactions.csv"}))
    with pytest.raises(DataFormatError, match="format must be"):
        data.dataset_info("mine", tmp_path)


def test_manifest_missing_file(tmp_path):
    folder = make_table_dataset(tmp_path)
    (folder / "interactions.csv").unlink()
    with pytest.raises(DataFormatError, match="does not exist"):
        data.dataset_info("mine", tmp_path)


def test_manifest_bad_column_reports_table_line(tmp_path):
    make_table_dataset(tmp_path, text="a,b,r\n1,x,5\n2,y,five\n")
    with pytest.raises(DataFormatError) as caught:
        data.load_interactions("mine", tmp_path)
    assert caught.value.path.endswith("interactions.csv")
    assert caught.value.line == 3


def test_dataset_not_found_message(tmp_path):
    make_table_dataset(tmp_path)
    with pytest.raises(data.DatasetNotFoundError) as caught:
        data.load_split("nope", data_dir=tmp_path)
    message = str(caught.value)
    assert "'nope'" in message
    assert str(tmp_path) in message
    assert "synthetic" in message
    assert "mine" in message
    assert isinstance(caught.value, ValueError)


def test_dataset_name_with_path_rejected(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="letters, digits"):
        data.dataset_info("../etc", tmp_path)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    make_table_dataset(tmp_path)
    monkeypatch.setenv("IALS_DATA_DIR", str(tmp_path))
    assert data.dataset_info("mine").path == tmp_path / "mine"


def test_default_protocols(tmp_path):
    make_table_dataset(tmp_path)
    write_ncf(tmp_path / "toy", "toy", SMALL_TRAIN, SMALL_TEST, SMALL_NEGATIVE)
    make_bundle(tmp_path)
    assert data.default_protocol("synthetic", tmp_path) == "leave-last-out"
    assert data.default_protocol("synthetic-small", tmp_path) == "leave-last-out"
    assert data.default_protocol("mine", tmp_path) == "leave-last-out"
    assert data.default_protocol("toy", tmp_path) == "loo-sampled"
    assert data.default_protocol("prepared", tmp_path) == "strong-generalization"


def make_bundle(root: Path, name="prepared") -> Path:
    folder = root / name
    rng = np.random.default_rng(3)

    def random_binary(rows):
        matrix = sp.random(rows, 30, density=0.3, format="csr", random_state=rng)
        matrix.data[:] = 1
        return matrix

    save_csr_bundle(
        folder / "prepared.npz", {"format": "strong-generalization"},
        train=random_binary(40), validation_fold_in=random_binary(8),
        validation_targets=random_binary(8), test_fold_in=random_binary(6),
        test_targets=random_binary(6),
    )
    write(folder / "dataset.json", json.dumps(
        {"format": "strong-generalization", "file": "prepared.npz", "description": "toy"}))
    return folder


def test_bundle_interactions_stack_all_users(tmp_path):
    make_bundle(tmp_path)
    interactions = data.load_interactions("prepared", tmp_path)
    assert interactions.n_users == 40 + 8 + 6
    assert interactions.n_items == 30


def test_bundle_missing_matrix(tmp_path):
    folder = make_bundle(tmp_path)
    save_csr_bundle(folder / "prepared.npz", {}, train=sp.eye(3, format="csr"))
    with pytest.raises(DataFormatError, match="missing matrices validation_fold_in"):
        data.load_split("prepared", data_dir=tmp_path)


def test_ncf_manifest_sets_description(tmp_path):
    write_ncf(tmp_path / "toy", "toy", SMALL_TRAIN, SMALL_TEST, SMALL_NEGATIVE)
    write(tmp_path / "toy" / "dataset.json", json.dumps({"format": "ncf", "description": "d"}))
    info = data.dataset_info("toy", tmp_path)
    assert info.format == "ncf"
    assert info.description == "d"


# --- fingerprints ---------------------------------------------------------------------


def test_fingerprint_stable_and_content_sensitive(tmp_path):
    folder = make_table_dataset(tmp_path)
    first = data.dataset_fingerprint("mine", tmp_path)
    assert first == data.dataset_fingerprint("mine", tmp_path)
    assert len(first) == 64
    path = folder / "interactions.csv"
    path.write_text(path.read_text() + "4,x,5\n")
    assert data.dataset_fingerprint("mine", tmp_path) != first


def test_fingerprint_same_bytes_other_folder(tmp_path):
    make_table_dataset(tmp_path / "one")
    make_table_dataset(tmp_path / "two")
    assert (data.dataset_fingerprint("mine", tmp_path / "one")
            == data.dataset_fingerprint("mine", tmp_path / "two"))


def test_fingerprint_synthetic_variants_differ(tmp_path):
    fingerprints = {data.dataset_fingerprint(name, tmp_path)
                    for name in ("synthetic", "synthetic-small", "synthetic-100x80")}
    assert len(fingerprints) == 3
    assert data.dataset_fingerprint("synthetic", tmp_path) == data.dataset_fingerprint(
        "synthetic", tmp_path / "elsewhere")


def test_fingerprint_real_ml1m_cached():
    real_folder("ml-1m")
    first = data.dataset_fingerprint("ml-1m", REPO_DATA)
    assert data.dataset_fingerprint("ml-1m", REPO_DATA) == first
    assert any(key[0].endswith("ml-1m.train.rating.gz") for key in registry._FILE_HASHES)


def test_fingerprint_notices_rewrite(tmp_path):
    folder = make_table_dataset(tmp_path)
    first = data.dataset_fingerprint("mine", tmp_path)
    path = folder / "interactions.csv"
    text = path.read_text().replace("1,x,5", "1,q,5")
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert data.dataset_fingerprint("mine", tmp_path) != first
