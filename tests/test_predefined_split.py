"""Predefined train/test splits end to end: CLI import, registry, training, metrics."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ials import data
from ials.config import PROTOCOLS, RunSpec
from ials.data.protocols import make_split
from ials.evaluation import evaluate

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Each user of the tiny data sets has this many training and test items.
TRAIN_PER_USER = 8
TEST_PER_USER = 2


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m ials ARGS`` from the repository root and capture its output."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "ials", *args], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=600,
    )


def import_split(data_dir: Path, name: str, train: Path, test: Path, *extra: str) -> None:
    result = run_cli("data", "import", str(train), "--test-file", str(test), "--name", name,
                     "--data-dir", str(data_dir), *extra)
    assert result.returncode == 0, result.stderr
    assert "predefined-split" in result.stdout


def tiny_pairs(seed: int = 0) -> tuple[dict, dict]:
    """Return train and test items per user: 30 users, 40 items, disjoint per user."""
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for user in range(30):
        items = rng.choice(40, size=TRAIN_PER_USER + TEST_PER_USER, replace=False)
        train[f"u{user}"] = [f"i{item}" for item in items[:TRAIN_PER_USER]]
        test[f"u{user}"] = [f"i{item}" for item in items[TRAIN_PER_USER:]]
    return train, test


def write_table(path: Path, lists: dict) -> Path:
    rows = [f"{user},{item}" for user, items in lists.items() for item in items]
    path.write_text("user,item\n" + "\n".join(rows) + "\n")
    return path


def write_user_lists(path: Path, lists: dict) -> Path:
    path.write_text("".join(f"{user} {' '.join(items)}\n" for user, items in lists.items()))
    return path


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> SimpleNamespace:
    """Import the tiny split twice through the CLI: as tables and as per-user lists."""
    folder = tmp_path_factory.mktemp("predefined")
    data_dir = folder / "data"
    train, test = tiny_pairs()
    import_split(data_dir, "clicks-table", write_table(folder / "train.csv", train),
                 write_table(folder / "test.csv", test))
    # The per-user-lists format has integer ids in practice (the LightGCN files).
    train_ids = {user[1:]: [item[1:] for item in items] for user, items in train.items()}
    test_ids = {user[1:]: [item[1:] for item in items] for user, items in test.items()}
    import_split(data_dir, "clicks-lists", write_user_lists(folder / "train.txt", train_ids),
                 write_user_lists(folder / "test.txt", test_ids), "--format", "per-user-lists")
    return SimpleNamespace(data_dir=data_dir, train=train, test=test)


@pytest.fixture(autouse=True)
def _fresh_cache():
    data.clear_cache()
    yield
    data.clear_cache()


# --- registry -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clicks-table", "clicks-lists"])
def test_list_datasets_shows_split(imported, name):
    infos = {info.name: info for info in data.list_datasets(imported.data_dir)}
    assert name in infos
    info = infos[name]
    assert info.format == "predefined-split"
    assert info.protocols == ("predefined-split",)
    assert info.default_protocol == "predefined-split"
    assert data.default_protocol(name, imported.data_dir) == "predefined-split"
    assert [path.name for path in info.files] == ["dataset.json", "train.csv", "test.csv"]


@pytest.mark.parametrize("name", ["clicks-table", "clicks-lists"])
def test_load_split_matches_files(imported, name):
    for split in ("test", "validation"):
        loaded = data.load_split(name, split=split, data_dir=imported.data_dir)
        assert loaded.protocol == "predefined-split"
        assert loaded.split == split
        assert loaded.info["dataset"] == name
        assert loaded.train.shape == (30, 40)
        # Every user has its 2 test items as targets, none of them excluded.
        assert loaded.test_task.targets.shape[0] == 30
        assert loaded.test_task.targets.nnz == 30 * TEST_PER_USER
        assert loaded.test_task.targets.multiply(loaded.test_task.exclude).nnz == 0
        assert loaded.test_task.ks == (20, 50, 100)
        assert loaded.test_task.metrics == ("Recall", "NDCG")
    full = data.load_split(name, split="test", data_dir=imported.data_dir)
    assert full.train.nnz == 30 * TRAIN_PER_USER
    validation = data.load_split(name, split="validation", seed=3, data_dir=imported.data_dir)
    # int(0.2 · 8) = 1 validation item per user leaves training.
    assert validation.train.nnz == 30 * (TRAIN_PER_USER - 1)
    assert validation.eval_task.targets.nnz == 30


def test_load_split_cached_per_process(imported):
    first = data.load_split("clicks-table", split="validation", seed=1,
                            data_dir=imported.data_dir)
    again = data.load_split("clicks-table", split="validation", seed=1,
                            data_dir=imported.data_dir)
    other_seed = data.load_split("clicks-table", split="validation", seed=2,
                                 data_dir=imported.data_dir)
    assert again is first
    assert other_seed is not first
    assert (other_seed.eval_task.targets != first.eval_task.targets).nnz > 0


def test_load_interactions_reads_train_file(imported):
    interactions = data.load_interactions("clicks-table", imported.data_dir)
    assert interactions.nnz == 30 * TRAIN_PER_USER
    pairs = {(str(interactions.user_ids[u]), str(interactions.item_ids[i]))
             for u, i in zip(interactions.user, interactions.item)}
    expected = {(user, item) for user, items in imported.train.items() for item in items}
    assert pairs == expected


def test_fingerprint_covers_test_file(tmp_path):
    train, test = tiny_pairs()
    import_split(tmp_path, "fp", write_table(tmp_path / "train.csv", train),
                 write_table(tmp_path / "test.csv", test))
    before = data.dataset_fingerprint("fp", tmp_path)
    test_file = tmp_path / "fp" / "test.csv"
    lines = test_file.read_text().splitlines()
    test_file.write_text("\n".join(lines[:-1]) + "\n")
    assert data.dataset_fingerprint("fp", tmp_path) != before


def test_missing_test_file_skipped(tmp_path, caplog):
    train, test = tiny_pairs()
    import_split(tmp_path, "broken", write_table(tmp_path / "train.csv", train),
                 write_table(tmp_path / "test.csv", test))
    (tmp_path / "broken" / "test.csv").unlink()
    assert "broken" not in [info.name for info in data.list_datasets(tmp_path)]
    assert "test_file" in caplog.text
    with pytest.raises(data.DataFormatError, match="test.csv"):
        data.dataset_info("broken", tmp_path)


def test_manifest_without_description_listed(tmp_path):
    train, test = tiny_pairs()
    import_split(tmp_path, "bare", write_table(tmp_path / "train.csv", train),
                 write_table(tmp_path / "test.csv", test))
    manifest_path = tmp_path / "bare" / "dataset.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["description"]
    manifest.pop("file", None)  # hand-written manifests name only train_file and test_file
    manifest_path.write_text(json.dumps(manifest))
    info = data.dataset_info("bare", tmp_path)
    assert info.description.startswith("Predefined train/test split")
    assert "bare" in [entry.name for entry in data.list_datasets(tmp_path)]


# --- protocol checks ------------------------------------------------------------------


def test_protocol_in_config():
    assert "predefined-split" in PROTOCOLS
    spec = RunSpec(dataset="clicks", protocol="predefined-split").validate()
    assert spec.protocol == "predefined-split"


@pytest.mark.parametrize("protocol", ["heldout-users", "leave-last-out", "loo-sampled"])
def test_wrong_protocol_names_dataset(imported, protocol):
    with pytest.raises(ValueError) as caught:
        data.load_split("clicks-table", protocol=protocol, data_dir=imported.data_dir)
    message = str(caught.value)
    assert "'clicks-table'" in message
    assert repr(protocol) in message
    assert "use one of predefined-split" in message


def test_predefined_protocol_on_synthetic_rejected():
    with pytest.raises(ValueError) as caught:
        data.load_split("synthetic-tiny", protocol="predefined-split")
    message = str(caught.value)
    assert "'synthetic-tiny'" in message
    assert "'predefined-split'" in message
    assert "leave-last-out" in message


def test_make_split_rejects_predefined():
    interactions = data.load_interactions("synthetic-tiny")
    with pytest.raises(ValueError, match="--test-file"):
        make_split(interactions, "predefined-split")


# --- metrics on a forced ranking ------------------------------------------------------


class FixedFactors:
    """A model whose factors are given: score = user_factors @ item_factors.T."""

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray):
        self.user_factors = user_factors
        self.item_factors = item_factors

    def fold_in(self, history):
        raise AssertionError("a predefined split evaluates trained users only")


def forced_ranking_files(folder: Path) -> tuple[Path, Path]:
    """Write a split where training popularity orders the items i00 > i01 > ... > i29.

    Filler users fk and gk (k = 0..29) have items i00..i(29-k), so item j has 2·(30 − j)
    training users. User A (train i00, i01) and user B (train i05) add one more each,
    which keeps every count distinct. Only A and B have test items.
    """
    train = {}
    for k in range(30):
        items = [f"i{j:02d}" for j in range(30 - k)]
        train[f"f{k}"] = items
        train[f"g{k}"] = items
    train["A"] = ["i00", "i01"]
    train["B"] = ["i05"]
    test = {"A": ["i02", "i25"], "B": ["i10"]}
    return write_table(folder / "train.csv", train), write_table(folder / "test.csv", test)


def test_metrics_on_forced_ranking(tmp_path):
    train_path, test_path = forced_ranking_files(tmp_path)
    import_split(tmp_path / "data", "forced", train_path, test_path)
    loaded = data.load_split("forced", split="test", data_dir=tmp_path / "data")
    assert loaded.train.shape == (62, 30)

    # d = 1: every user factor is 1 and every item factor its training popularity, so
    # each user ranks its unseen items by popularity, without ties.
    popularity = np.asarray(loaded.train.sum(axis=0), dtype=np.float64).reshape(-1, 1)
    assert len(np.unique(popularity)) == 30
    model = FixedFactors(np.ones((62, 1)), popularity)
    metrics = evaluate(model, loaded.test_task)

    # A ranks i02 first and i25 24th (after i02..i24 without i00, i01): one of its two
    # targets in the top 20. B ranks i00..i04, i06..i10: i10 is 10th.
    recall_a, recall_b = 1 / 2, 1 / 1
    ndcg_a = 1.0 / (1.0 + 1.0 / math.log2(3))
    ndcg_b = 1.0 / math.log2(11)
    assert metrics["Recall@20"] == pytest.approx((recall_a + recall_b) / 2)
    assert metrics["NDCG@20"] == pytest.approx((ndcg_a + ndcg_b) / 2)
    # At k = 50 both of A's targets are in the list: i25 at 0-based rank 23.
    ndcg_a_50 = (1.0 + 1.0 / math.log2(25)) / (1.0 + 1.0 / math.log2(3))
    assert metrics["Recall@50"] == pytest.approx(1.0)
    assert metrics["NDCG@50"] == pytest.approx((ndcg_a_50 + ndcg_b) / 2)


# --- training through the CLI ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("name", "split"), [("clicks-table", "test"),
                                             ("clicks-lists", "validation")])
def test_train_cli_on_predefined_split(imported, name, split):
    result = run_cli("train", "--data-dir", str(imported.data_dir), "--dataset", name,
                     "--epochs", "2", "--dim", "4", "--split", split, "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    epochs = [line for line in lines if "epoch" in line]
    final = lines[-1]
    assert [line["epoch"] for line in epochs] == [1, 2]
    assert final["final"] is True
    assert final["split"] == split
    assert final["protocol"] == "predefined-split"
    for metrics in [final["metrics"], *(line["metrics"] for line in epochs)]:
        assert set(metrics) >= {"Recall@20", "NDCG@20"}
        assert 0.0 <= metrics["Recall@20"] <= 1.0
        assert 0.0 <= metrics["NDCG@20"] <= 1.0
    if split == "validation":
        assert set(final["test_metrics"]) >= {"Recall@20", "NDCG@20"}


def test_train_cli_wrong_protocol(imported):
    result = run_cli("train", "--data-dir", str(imported.data_dir), "--dataset",
                     "clicks-table", "--protocol", "heldout-users", "--epochs", "1",
                     "--dim", "4", "--json")
    assert result.returncode == 2
    assert "'clicks-table'" in result.stderr
    assert "'heldout-users'" in result.stderr
    assert "use one of predefined-split" in result.stderr
    assert "Traceback" not in result.stderr
