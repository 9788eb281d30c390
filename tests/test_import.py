"""Import of users' own data: tables, per-user lists, k-core, predefined splits, CLI."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from ials.cli import main
from ials.data import dataset_info, load_split
from ials.data.importer import (
    DataImportError,
    ImportOptions,
    import_dataset,
    k_core,
    load_predefined_split,
    preview,
    read_per_user_lists,
    summarize,
    validate_name,
)
from ials.data.readers import DataFormatError


def brute_force_k_core(pairs, min_user, min_item):
    """Drop one offending user or item at a time until none is left."""
    pairs = list(pairs)
    while True:
        users = pd.Series([u for u, _ in pairs]).value_counts()
        items = pd.Series([i for _, i in pairs]).value_counts()
        bad_users = set(users[users < min_user].index)
        bad_items = set(items[items < min_item].index)
        if not bad_users and not bad_items:
            return set(pairs)
        pairs = [(u, i) for u, i in pairs if u not in bad_users and i not in bad_items]


def test_k_core_needs_several_rounds():
    # Dropping item "c" (1 user) leaves user "y" with 1 item, which then drops item "b".
    pairs = [("x", "a"), ("x", "b"), ("y", "b"), ("y", "c"), ("z", "a"), ("z", "d"),
             ("w", "a"), ("w", "d"), ("x", "d")]
    users, items = map(np.array, zip(*pairs))
    mask = k_core(users, items, min_user=2, min_item=2)
    kept = set(zip(users[mask], items[mask]))
    assert kept == brute_force_k_core(pairs, 2, 2)
    assert ("y", "b") not in kept
    assert ("x", "b") not in kept


@pytest.mark.parametrize("seed", range(5))
def test_k_core_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 40, size=300)
    items = rng.integers(0, 30, size=300)
    pairs = sorted(set(zip(users.tolist(), items.tolist())))
    users, items = map(np.array, zip(*pairs))
    mask = k_core(users, items, min_user=4, min_item=5)
    assert set(zip(users[mask].tolist(), items[mask].tolist())) == brute_force_k_core(pairs, 4, 5)


def test_summarize_counts_and_distribution():
    stats = summarize(["a", "a", "a", "b", "c", "c"], [1, 2, 3, 1, 1, 2])
    assert stats["users"] == 3
    assert stats["items"] == 3
    assert stats["interactions"] == 6
    assert stats["density"] == pytest.approx(6 / 9)
    assert stats["per_user"]["min"] == 1
    assert stats["per_user"]["max"] == 3
    assert stats["per_user"]["median"] == 2
    assert stats["per_user"]["mean"] == pytest.approx(2.0)


def write_clicks_csv(path, rows):
    frame = pd.DataFrame(rows, columns=["visitor", "product", "stars", "when"])
    frame.to_csv(path, index=False)


CLICKS = [
    ("alice", "p1", 5, 10), ("alice", "p2", 4, 11), ("alice", "p3", 2, 12),
    ("bob", "p1", 4, 13), ("bob", "p2", 5, 14), ("bob", "p4", 5, 15),
    ("carol", "p1", 3, 16), ("carol", "p2", 4, 17),
    ("dave", "p9", 5, 18),
]


def test_import_csv_with_string_ids(tmp_path):
    write_clicks_csv(tmp_path / "clicks.csv", CLICKS)
    options = ImportOptions(user="visitor", item="product", rating="stars", timestamp="when",
                            rating_threshold=4, min_user=2, min_item=2)
    result = import_dataset(tmp_path / "clicks.csv", "my-clicks", options,
                            data_dir=tmp_path / "data")
    folder = tmp_path / "data" / "my-clicks"
    manifest = json.loads((folder / "dataset.json").read_text())
    assert manifest["format"] == "table"
    assert manifest["columns"]["timestamp"] == "timestamp"
    written = pd.read_csv(folder / "interactions.csv")
    # Threshold ≥ 4 drops alice/p3 and carol/p1; k-core (2, 2) then drops p4, dave/p9
    # and carol (1 item left).
    assert sorted(zip(written["user"], written["item"])) == [
        ("alice", "p1"), ("alice", "p2"), ("bob", "p1"), ("bob", "p2"),
    ]
    assert result.statistics["users"] == 2
    assert result.statistics["interactions"] == 4

    info = dataset_info("my-clicks", tmp_path / "data")
    assert info.format == "table"
    loaded = load_split("my-clicks", split="test", data_dir=tmp_path / "data")
    assert loaded.train.shape == (2, 2)


def test_imported_folder_and_files_follow_umask(tmp_path):
    write_clicks_csv(tmp_path / "clicks.csv", CLICKS)
    options = ImportOptions(user="visitor", item="product", rating="stars", timestamp="when")
    previous = os.umask(0o022)
    try:
        import_dataset(tmp_path / "clicks.csv", "my-clicks", options, data_dir=tmp_path / "data")
    finally:
        os.umask(previous)
    folder = tmp_path / "data" / "my-clicks"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_import_tsv_without_header(tmp_path):
    (tmp_path / "u.tsv").write_text("1\t10\t5\n1\t11\t3\n2\t10\t4\n")
    options = ImportOptions(user=0, item=1, rating=2, header=False, rating_threshold=4)
    result = import_dataset(tmp_path / "u.tsv", "tsv-data", options, data_dir=tmp_path)
    assert result.statistics["interactions"] == 2


def test_import_parquet(tmp_path):
    frame = pd.DataFrame({"u": ["a", "a", "b"], "i": [1, 2, 1]})
    frame.to_parquet(tmp_path / "data.parquet")
    result = import_dataset(tmp_path / "data.parquet", "pq", ImportOptions(user="u", item="i"),
                            data_dir=tmp_path / "out")
    assert result.statistics["users"] == 2
    assert (tmp_path / "out" / "pq" / "interactions.csv").is_file()


def test_import_rejects_unsafe_names(tmp_path):
    for name in ("../evil", "a/b", ".hidden", "", "x" * 65, "ml-20m", "synthetic-big"):
        with pytest.raises(DataImportError):
            validate_name(name, tmp_path)


def test_import_refuses_existing_name(tmp_path):
    write_clicks_csv(tmp_path / "clicks.csv", CLICKS)
    options = ImportOptions(user="visitor", item="product")
    import_dataset(tmp_path / "clicks.csv", "mine", options, data_dir=tmp_path)
    with pytest.raises(DataImportError, match="already exists"):
        import_dataset(tmp_path / "clicks.csv", "mine", options, data_dir=tmp_path)
    import_dataset(tmp_path / "clicks.csv", "mine", options, data_dir=tmp_path, overwrite=True)


def test_import_missing_column_names_columns(tmp_path):
    write_clicks_csv(tmp_path / "clicks.csv", CLICKS)
    with pytest.raises(DataFormatError, match="columns found: visitor, product"):
        import_dataset(tmp_path / "clicks.csv", "bad", ImportOptions(user="user", item="product"),
                       data_dir=tmp_path)
    assert not (tmp_path / "bad").exists()


def test_import_everything_filtered_leaves_nothing(tmp_path):
    write_clicks_csv(tmp_path / "clicks.csv", CLICKS)
    options = ImportOptions(user="visitor", item="product", min_user=50)
    with pytest.raises(DataImportError, match="no interactions left"):
        import_dataset(tmp_path / "clicks.csv", "empty", options, data_dir=tmp_path)
    assert not (tmp_path / "empty").exists()
    assert not list(tmp_path.glob(".empty*"))


@pytest.mark.parametrize("options,message", [
    (ImportOptions(user="u", item="i", min_user=0), "min_user must be an integer ≥ 1"),
    (ImportOptions(user="u", item="i", rating_threshold=3), "needs a rating column"),
    (ImportOptions(user="u", item="u"), "must be different columns"),
    (ImportOptions(format="lists"), "format must be one of"),
])
def test_import_options_validation(options, message):
    with pytest.raises(DataImportError, match=message):
        options.validate()


def test_per_user_lists_reader(tmp_path):
    (tmp_path / "train.txt").write_text("0 1 2 3\n1 2\n\n2\n3 7 7 1\n")
    pairs = read_per_user_lists(tmp_path / "train.txt")
    assert pairs.users.tolist() == [0, 0, 0, 1, 3, 3, 3]
    assert pairs.items.tolist() == [1, 2, 3, 2, 7, 7, 1]
    (tmp_path / "empty.txt").write_text("5\n6\n")
    with pytest.raises(DataFormatError, match="no interactions found"):
        read_per_user_lists(tmp_path / "empty.txt")


def write_lightgcn_split(tmp_path):
    train = {0: [0, 1, 2, 3, 4, 5], 1: [1, 2, 3, 6, 7], 2: [0, 2, 4, 6, 8, 9], 3: [1, 3]}
    test = {0: [6, 7], 1: [5], 2: [1, 10], 4: [3]}
    (tmp_path / "train.txt").write_text(
        "".join(f"{u} " + " ".join(map(str, items)) + "\n" for u, items in train.items())
    )
    (tmp_path / "test.txt").write_text(
        "".join(f"{u} " + " ".join(map(str, items)) + "\n" for u, items in test.items())
    )
    return train, test


def test_predefined_split_from_per_user_lists(tmp_path):
    write_lightgcn_split(tmp_path)
    options = ImportOptions(format="per-user-lists")
    result = import_dataset(tmp_path / "train.txt", "gcn", options,
                            test_path=tmp_path / "test.txt", data_dir=tmp_path / "data")
    manifest = result.manifest
    assert manifest["format"] == "predefined-split"
    # User 4 is not in training and item 10 is not either: both test rows drop.
    assert manifest["import"]["test_interactions_dropped"] == 2

    split = load_predefined_split(tmp_path / "data" / "gcn", split="test")
    task = split.test_task
    assert split.train.nnz == 19
    assert task.users.tolist() == [0, 1, 2]
    assert task.targets.nnz == 4
    assert task.metrics == ("Recall", "NDCG")
    # Excluded items are each evaluated user's training items.
    assert np.array_equal(task.exclude.toarray(), split.train[task.users].toarray())


def test_predefined_split_popularity_by_hand(tmp_path):
    from ials.evaluation.evaluate import evaluate
    from ials.evaluation.popularity import PopularityModel

    write_lightgcn_split(tmp_path)
    import_dataset(tmp_path / "train.txt", "gcn", ImportOptions(format="per-user-lists"),
                   test_path=tmp_path / "test.txt", data_dir=tmp_path)
    split = load_predefined_split(tmp_path / "gcn", split="test", ks=(2,))
    metrics = evaluate(PopularityModel().fit(split.train), split.test_task)
    # Column order = first appearance: items 0..5, 6, 7, 8, 9. Training counts: item 2
    # has 3 users; items 1, 3 have 3; 0, 4, 6 have 2; 5, 7, 8, 9 have 1. Ties rank by
    # column id, so the ranking is 1, 2, 3, 0, 4, 6, 5, 7, 8, 9.
    # User 0 (excl. 0-5): top 2 = 6, 7 -> both targets: recall 1.
    # User 1 (excl. 1,2,3,6,7): top 2 = 0, 4 -> target 5 missed: recall 0.
    # User 2 (excl. 0,2,4,6,8,9): top 2 = 1, 3 -> target 1: recall 1/1 (item 10 dropped).
    assert metrics["Recall@2"] == pytest.approx(2 / 3)
    # NDCG@2: user 0 hits at ranks 0 and 1 (ideal), user 2 at rank 0: 1, 0, 1.
    assert metrics["NDCG@2"] == pytest.approx(2 / 3)


def test_predefined_split_validation_holds_out_from_train(tmp_path):
    write_lightgcn_split(tmp_path)
    import_dataset(tmp_path / "train.txt", "gcn", ImportOptions(format="per-user-lists"),
                   test_path=tmp_path / "test.txt", data_dir=tmp_path)
    full = load_predefined_split(tmp_path / "gcn", split="test")
    validation = load_predefined_split(tmp_path / "gcn", split="validation", seed=1)
    # Users 0, 1, 2 have ≥ 5 training items: int(0.2 * n) = 1 each goes to validation.
    assert validation.eval_task.targets.nnz == 3
    assert validation.train.nnz == full.train.nnz - 3
    users = validation.eval_task.users
    assert validation.train[users].multiply(validation.eval_task.targets).nnz == 0
    assert (full.train[users] - validation.train[users] - validation.eval_task.targets).nnz == 0
    again = load_predefined_split(tmp_path / "gcn", split="validation", seed=1)
    assert (again.eval_task.targets != validation.eval_task.targets).nnz == 0


def test_preview_reports_before_and_after(tmp_path):
    write_clicks_csv(tmp_path / "clicks.csv", CLICKS)
    result = preview(tmp_path / "clicks.csv",
                     ImportOptions(user="visitor", item="product", min_user=2, min_item=2))
    assert result.before["users"] == 4
    assert result.after["users"] == 3
    assert sorted(result.per_user_before.tolist()) == [1, 2, 3, 3]


def test_cli_import_and_list(tmp_path, capsys):
    write_clicks_csv(tmp_path / "clicks.csv", CLICKS)
    data = tmp_path / "data"
    code = main(["data", "import", str(tmp_path / "clicks.csv"), "--name", "shop",
                 "--user", "visitor", "--item", "product", "--rating", "stars",
                 "--rating-threshold", "4", "--data-dir", str(data)])
    output = capsys.readouterr().out
    assert code == 0
    assert "users: 4" in output
    assert "interactions: 7" in output
    assert "interactions per user" in output

    assert main(["data", "list", "--data-dir", str(data)]) == 0
    listing = capsys.readouterr().out
    shop_line = next(line for line in listing.splitlines() if line.startswith("shop "))
    assert "present" in shop_line
    assert "ml-20m-sg" in listing


def test_cli_import_error_is_one_line(tmp_path, capsys):
    code = main(["data", "import", str(tmp_path / "missing.csv"), "--name", "x",
                 "--data-dir", str(tmp_path)])
    assert code == 1
    assert "file not found" in capsys.readouterr().err


def test_cli_popularity_on_imported_table(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}", 5, int(rng.integers(1000))) for u in range(30)
            for i in rng.choice(20, size=6, replace=False)]
    write_clicks_csv(tmp_path / "clicks.csv", rows)
    data = tmp_path / "data"
    assert main(["data", "import", str(tmp_path / "clicks.csv"), "--name", "shop",
                 "--user", "visitor", "--item", "product", "--timestamp", "when",
                 "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert main(["data", "popularity", "shop", "--data-dir", str(data)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("most popular on shop (leave-last-out, test split, 30 users)")
    assert "Recall@20" in line


# ------------------------------------------------------------------------- page


def open_datasets_page():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    # Run the page file itself: through app.py and switch_page, AppTest (Streamlit
    # 1.67) dropped this page's button clicks.
    page = str(Path(__file__).resolve().parent.parent / "pages" / "datasets.py")
    at = AppTest.from_file(page, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_lists_and_downloads(project_dirs, monkeypatch):
    from test_download import U_DATA, FileServer, _zip_bytes

    at = open_datasets_page()
    table = at.dataframe[0].value
    statuses = dict(zip(table["name"], table["status"]))
    assert statuses["ml-100k"] == "missing"
    assert statuses["synthetic"] == "generated"

    with FileServer({"ml-100k.zip": _zip_bytes({"ml-100k/u.data": U_DATA})}) as server:
        monkeypatch.setenv("IALS_DOWNLOAD_BASE_URL", server.base_url)
        at.selectbox(key="download_name").set_value("ml-100k")
        at.button(key="download_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "Downloaded ml-100k" in at.success[0].value
    assert (project_dirs.data_dir / "ml-100k" / "u.data").read_bytes() == U_DATA


def test_page_prepare_without_source_shows_error(project_dirs):
    at = open_datasets_page()
    at.selectbox(key="prepare_name").set_value("ml-20m-sg")
    at.button(key="prepare_button").click().run()
    assert not at.exception
    assert "python -m ials data download ml-20m" in at.error[0].value


def test_page_read_only_disables_buttons(project_dirs, monkeypatch):
    monkeypatch.setenv("IALS_READ_ONLY", "1")
    at = open_datasets_page()
    assert at.button(key="download_button").disabled
    assert at.button(key="prepare_button").disabled
