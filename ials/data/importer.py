"""Import a user's own interaction data into the data directory.

`import_dataset` reads a CSV, TSV or Parquet table (through
`ials.data.readers.read_table`, with a column mapping) or a file of per-user lists
(``user item item ...`` per line, the LightGCN format), applies a rating threshold and an
iterated k-core filter, and writes ``DATA_DIR/NAME/`` atomically:

- one input file: ``interactions.csv`` (columns ``user``, ``item``, and ``timestamp``
  when given) and a ``dataset.json`` manifest of format ``"table"``;
- a train file plus a test file (a predefined split): ``train.csv``, ``test.csv`` and a
  manifest of format ``"predefined-split"``, evaluated by full ranking with Recall@k and
  NDCG@k through `load_predefined_split`.

`preview` computes the statistics of a file before importing it (users, items,
interactions, density, interactions-per-user distribution).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ials.data.download import (
    KNOWN_DATASETS,
    PREPARED_DATASETS,
    staged_folder,
    write_json_atomically,
)
from ials.data.protocols import binary_csr
from ials.data.readers import DataFormatError, open_text, read_table
from ials.data.types import RankingTask, Split
from ials.paths import data_dir as resolve_data_dir

logger = logging.getLogger(__name__)

FORMATS = ("table", "per-user-lists")
PREDEFINED_SPLIT_FORMAT = "predefined-split"

#: Cut-offs and metrics of the full-ranking evaluation of a predefined split.
PREDEFINED_KS = (20, 50, 100)
PREDEFINED_METRICS = ("Recall", "NDCG")

#: Validation split of a predefined split: users with at least this many training
#: interactions lend `VALIDATION_SHARE` of them (rounded down) as validation targets.
VALIDATION_MIN_ITEMS = 5
VALIDATION_SHARE = 0.2

MAX_NAME_LENGTH = 64
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class DataImportError(ValueError):
    """Import input is invalid; the message names the value and what to do."""


@dataclass
class ImportOptions:
    """How to read and filter the input.

    Attributes
    ----------
    user, item : str or int
        Column names (header or Parquet) or 0-based positions (``header=False``). Unused
        for per-user lists.
    rating, timestamp : str or int or None
        Optional columns.
    rating_threshold : float or None
        Keep rows with rating ≥ this value (needs ``rating``).
    min_user, min_item : int
        Iterated k-core: drop users with fewer than ``min_user`` and items with fewer
        than ``min_item`` interactions, repeatedly, until no more rows drop (1 = off).
    sep : str or None
        Field separator of text tables; None guesses it from the name or first line.
    header : bool
        Whether text tables start with a header line.
    format : str
        ``"table"`` or ``"per-user-lists"``.
    """

    user: str | int = "user"
    item: str | int = "item"
    rating: str | int | None = None
    timestamp: str | int | None = None
    rating_threshold: float | None = None
    min_user: int = 1
    min_item: int = 1
    sep: str | None = None
    header: bool = True
    format: str = "table"

    def validate(self) -> "ImportOptions":
        """Raise `DataImportError` naming the first invalid option; return self."""
        if self.format not in FORMATS:
            raise DataImportError(
                f"format must be one of {', '.join(FORMATS)}, got {self.format!r}."
            )
        for label, value in (("min_user", self.min_user), ("min_item", self.min_item)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise DataImportError(
                    f"{label} must be an integer ≥ 1 (1 keeps everything), got {value!r}."
                )
        if self.rating_threshold is not None:
            if self.format == "per-user-lists":
                raise DataImportError(
                    "per-user lists have no ratings, so a rating threshold cannot apply; "
                    "remove the threshold."
                )
            if self.rating is None:
                raise DataImportError(
                    f"rating threshold {self.rating_threshold} needs a rating column; "
                    "name it or remove the threshold."
                )
            try:
                threshold = float(self.rating_threshold)
            except (TypeError, ValueError):
                threshold = float("nan")
            if not np.isfinite(threshold):
                raise DataImportError(
                    f"rating threshold must be a finite number, got {self.rating_threshold!r}."
                )
        if self.format == "table":
            if self.user in (None, "") or self.item in (None, ""):
                raise DataImportError("name the user and the item column.")
            if self.user == self.item:
                raise DataImportError(
                    f"user and item must be different columns, both are {self.user!r}."
                )
        return self


@dataclass
class Pairs:
    """Interactions with original ids, in input order.

    Attributes
    ----------
    users, items : ndarray, shape (n,)
        Original user and item id of each interaction.
    timestamps : ndarray of float64, shape (n,), or None
    """

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def select(self, mask: np.ndarray) -> "Pairs":
        stamps = None if self.timestamps is None else self.timestamps[mask]
        return Pairs(self.users[mask], self.items[mask], stamps)


@dataclass
class ImportResult:
    """Outcome of `import_dataset`: the folder, manifest and statistics written.

    Attributes
    ----------
    name : str
    folder : Path
    manifest : dict
        The ``dataset.json`` written.
    statistics : dict
        `summarize` of the imported interactions (train and test together for a split).
    """

    name: str
    folder: Path
    manifest: dict
    statistics: dict = field(default_factory=dict)


# ------------------------------------------------------------------------ reading


def read_per_user_lists(path: str | os.PathLike) -> Pairs:
    """Read ``user item item ...`` lines (whitespace separated; the LightGCN format).

    A line with a user and no items adds nothing. Ids are parsed as integers when
    every id in the file is an integer, else kept as strings.

    Raises
    ------
    DataFormatError
        If the file is empty or contains no interaction.
    """
    path = Path(path)
    users: list[str] = []
    items: list[str] = []
    with open_text(path) as handle:
        for line in handle:
            tokens = line.split()
            if len(tokens) < 2:
                continue
            users.extend([tokens[0]] * (len(tokens) - 1))
            items.extend(tokens[1:])
    if not items:
        raise DataFormatError(
            path, None, "no interactions found; expected lines 'user item item ...' "
            "separated by spaces or tabs",
        )
    return Pairs(_parse_ids(users), _parse_ids(items))


def _parse_ids(tokens: list[str]) -> np.ndarray:
    values = np.asarray(tokens, dtype=object)
    try:
        return values.astype(np.int64)
    except (ValueError, OverflowError):
        return values.astype(str)


def read_pairs(path: str | os.PathLike, options: ImportOptions) -> Pairs:
    """Read ``path`` per ``options`` and apply the rating threshold (no k-core)."""
    options.validate()
    path = Path(path)
    if not path.is_file():
        raise DataImportError(f"{path}: file not found; check the path.")
    if options.format == "per-user-lists":
        return read_per_user_lists(path)
    interactions = read_table(
        path, user=options.user, item=options.item, rating=options.rating,
        timestamp=options.timestamp, sep=options.sep, header=options.header,
        rating_threshold=options.rating_threshold, name=path.stem,
    )
    users = np.asarray(interactions.user_ids)[interactions.user]
    items = np.asarray(interactions.item_ids)[interactions.item]
    return Pairs(users, items, interactions.timestamp)


# ------------------------------------------------------------------------ filtering


def k_core(users, items, min_user: int, min_item: int) -> np.ndarray:
    """Return the mask of interactions in the iterated (min_user, min_item)-core.

    Repeatedly drops users with fewer than ``min_user`` and items with fewer than
    ``min_item`` remaining interactions until no interaction drops, so every kept user
    and item meets its minimum.

    Parameters
    ----------
    users, items : array-like, shape (n,)
        Ids of each interaction (any hashable ids).
    min_user, min_item : int
        Minimum interactions per user and per item (≥ 1; 1 keeps everything).

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    user_codes, _ = pd.factorize(np.asarray(users))
    item_codes, _ = pd.factorize(np.asarray(items))
    keep = np.ones(user_codes.shape[0], dtype=bool)
    while True:
        user_counts = np.bincount(user_codes[keep], minlength=user_codes.max(initial=-1) + 1)
        item_counts = np.bincount(item_codes[keep], minlength=item_codes.max(initial=-1) + 1)
        new_keep = keep & (user_counts[user_codes] >= min_user) & (item_counts[item_codes] >= min_item)
        if np.array_equal(new_keep, keep):
            return keep
        keep = new_keep


def summarize(users, items) -> dict:
    """Return counts and the interactions-per-user distribution of ``(users, items)``.

    Returns
    -------
    dict
        ``users``, ``items``, ``interactions`` (distinct pairs), ``density`` (pairs over
        users × items), and ``per_user`` with ``min``, ``p25``, ``median``, ``p75``,
        ``p90``, ``max`` and ``mean`` interactions per user.
    """
    counts = interactions_per_user(users, items)
    n_users = int(counts.size)
    n_items = int(pd.unique(np.asarray(items)).size)
    n_pairs = int(counts.sum())
    summary = {
        "users": n_users,
        "items": n_items,
        "interactions": n_pairs,
        "density": n_pairs / (n_users * n_items) if n_users and n_items else 0.0,
        "per_user": {},
    }
    if n_users:
        quantiles = np.quantile(counts, [0.25, 0.5, 0.75, 0.9])
        summary["per_user"] = {
            "min": int(counts.min()), "p25": float(quantiles[0]), "median": float(quantiles[1]),
            "p75": float(quantiles[2]), "p90": float(quantiles[3]), "max": int(counts.max()),
            "mean": float(counts.mean()),
        }
    return summary


def interactions_per_user(users, items) -> np.ndarray:
    """Return the number of distinct items of each user (shape (n_users,), int64)."""
    frame = pd.DataFrame({"user": np.asarray(users), "item": np.asarray(items)})
    frame = frame.drop_duplicates()
    return frame.groupby("user", sort=False).size().to_numpy(np.int64)


@dataclass
class Preview:
    """Statistics of an input before and after the threshold and the k-core.

    Attributes
    ----------
    before, after : dict
        `summarize` of the rows read (after the rating threshold) and of the k-core.
    per_user_before, per_user_after : ndarray of int64
        Interactions of each user, for a histogram.
    """

    before: dict
    after: dict
    per_user_before: np.ndarray
    per_user_after: np.ndarray


def preview(path: str | os.PathLike, options: ImportOptions) -> Preview:
    """Compute the statistics `import_dataset` would produce for one input file."""
    pairs = read_pairs(path, options)
    kept = pairs.select(k_core(pairs.users, pairs.items, options.min_user, options.min_item))
    return Preview(
        before=summarize(pairs.users, pairs.items),
        after=summarize(kept.users, kept.items),
        per_user_before=interactions_per_user(pairs.users, pairs.items),
        per_user_after=interactions_per_user(kept.users, kept.items),
    )


def table_columns(path: str | os.PathLike, sep: str | None = None, header: bool = True) -> list:
    """Return the column names of a table (positions 0..n-1 when it has no header)."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    frame = pd.read_csv(path, sep=sep, nrows=5, header=0 if header else None,
                        engine="python" if sep is None else "c")
    return [str(column) for column in frame.columns] if header else list(range(frame.shape[1]))


# ------------------------------------------------------------------------ writing


def save_upload(file_name: str, content: bytes, folder: str | os.PathLike) -> Path:
    """Write uploaded bytes to ``folder`` under the upload's base name; return the path.

    Only the last path component of ``file_name`` is kept, so a name like
    ``../../x.csv`` cannot leave ``folder``. The suffix (``.csv``, ``.tsv``,
    ``.parquet``, ``.gz``) is kept because the readers detect the format from it.
    """
    base = Path(str(file_name).replace("\\", "/")).name.lstrip(".") or "upload"
    path = Path(folder) / base
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path



def validate_name(name: str, data_dir: str | os.PathLike | None = None,
                  overwrite: bool = False) -> str:
    """Check that ``name`` is a safe, free folder name for an imported data set.

    Raises
    ------
    DataImportError
        If the name has characters other than letters, digits, ``.``, ``_`` and ``-``,
        does not start with a letter or digit, is longer than 64 characters, is
        reserved (a benchmark or ``synthetic`` name), or exists and ``overwrite`` is
        False.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        raise DataImportError(
            f"invalid data set name {name!r}: use 1 to {MAX_NAME_LENGTH} letters, digits, "
            f"'.', '_' or '-', starting with a letter or digit (e.g. 'my-clicks')."
        )
    reserved = set(KNOWN_DATASETS) | set(PREPARED_DATASETS) | {
        entry.folder for entry in KNOWN_DATASETS.values()
    }
    if name in reserved or name.startswith("synthetic"):
        raise DataImportError(
            f"data set name {name!r} is reserved for a benchmark or generated data set; "
            f"choose another name."
        )
    folder = resolve_data_dir(data_dir) / name
    if folder.exists() and not overwrite:
        raise DataImportError(
            f"a data set called {name!r} already exists in {folder.parent}; choose another "
            f"name or replace it (--overwrite)."
        )
    return name


def import_dataset(
    path: str | os.PathLike,
    name: str,
    options: ImportOptions | None = None,
    *,
    test_path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    description: str = "",
    overwrite: bool = False,
) -> ImportResult:
    """Import ``path`` (and ``test_path`` for a predefined split) as data set ``name``.

    With ``test_path``, the k-core runs on the training file; test interactions whose
    user or item is no longer in the training data are dropped and counted.

    Returns
    -------
    ImportResult

    Raises
    ------
    DataImportError
        Invalid name or options, or nothing left after filtering.
    DataFormatError
        A malformed input file (the message names the file and line).
    """
    options = (options or ImportOptions()).validate()
    validate_name(name, data_dir, overwrite)
    root = resolve_data_dir(data_dir)

    train = read_pairs(path, options)
    kept = train.select(k_core(train.users, train.items, options.min_user, options.min_item))
    if len(kept) == 0:
        raise DataImportError(
            f"no interactions left after the k-core filter (users ≥ {options.min_user}, "
            f"items ≥ {options.min_item}); lower the minimums."
        )
    source = {
        "file": Path(path).name,
        "options": {key: value for key, value in vars(options).items()},
        "rows_read": len(train),
    }

    if test_path is None:
        manifest = {
            "format": "table",
            "file": "interactions.csv",
            "columns": {"user": "user", "item": "item", "rating": None,
                        "timestamp": "timestamp" if kept.timestamps is not None else None},
            "sep": ",",
            "rating_threshold": None,
            "description": description or f"Imported from {Path(path).name}.",
            "import": source,
            "statistics": summarize(kept.users, kept.items),
        }
        with staged_folder(root, name) as staging:
            _write_pairs(staging / "interactions.csv", kept)
            write_json_atomically(staging / "dataset.json", manifest)
    else:
        test = read_pairs(test_path, options)
        in_train = (pd.Index(pd.unique(kept.users)).get_indexer(test.users) >= 0) & (
            pd.Index(pd.unique(kept.items)).get_indexer(test.items) >= 0
        )
        test_kept = test.select(in_train)
        if len(test_kept) == 0:
            raise DataImportError(
                f"no test interaction of {Path(test_path).name} has a user and an item of "
                f"the training data after filtering; check the files and the id columns."
            )
        both_users = np.concatenate([kept.users, test_kept.users])
        both_items = np.concatenate([kept.items, test_kept.items])
        manifest = {
            "format": PREDEFINED_SPLIT_FORMAT,
            "file": "train.csv",
            "train_file": "train.csv",
            "test_file": "test.csv",
            "columns": {"user": "user", "item": "item", "rating": None,
                        "timestamp": "timestamp" if kept.timestamps is not None else None},
            "sep": ",",
            "rating_threshold": None,
            "description": description or (
                f"Predefined split imported from {Path(path).name} and {Path(test_path).name}."
            ),
            "protocol": "predefined-split (full ranking, Recall@k and NDCG@k)",
            "import": {**source, "test_file": Path(test_path).name,
                       "test_rows_read": len(test),
                       "test_interactions_dropped": len(test) - len(test_kept)},
            "statistics": summarize(both_users, both_items),
            "train_statistics": summarize(kept.users, kept.items),
            "test_statistics": summarize(test_kept.users, test_kept.items),
        }
        with staged_folder(root, name) as staging:
            _write_pairs(staging / "train.csv", kept)
            _write_pairs(staging / "test.csv", test_kept)
            write_json_atomically(staging / "dataset.json", manifest)

    logger.info("imported %s into %s: %s", path, root / name, manifest["statistics"])
    return ImportResult(name, root / name, manifest, manifest["statistics"])


def _write_pairs(path: Path, pairs: Pairs) -> None:
    columns = {"user": pairs.users, "item": pairs.items}
    if pairs.timestamps is not None:
        columns["timestamp"] = pairs.timestamps
    pd.DataFrame(columns).to_csv(path, index=False)


# ------------------------------------------------------------------------ loading


def load_predefined_split(
    folder: str | os.PathLike, split: str = "test", seed: int = 0,
    ks: tuple[int, ...] = PREDEFINED_KS,
) -> Split:
    """Build the full-ranking `Split` of an imported predefined split.

    Users and items are indexed over train and test together, so every test item has a
    column. The test task ranks all items for each training user with test items,
    excluding the user's training items. ``split="validation"`` moves, for each user
    with ≥ 5 training items, a random 20 % of them (rounded down, seeded by ``seed``)
    to validation targets. The training matrix then lacks them, and the test task
    stays the same.

    Parameters
    ----------
    folder : path
        ``DATA_DIR/NAME`` holding ``dataset.json`` of format ``"predefined-split"``.
    split : str
        ``"validation"`` or ``"test"``.
    seed : int
        Seed of the validation holdout.
    ks : tuple of int
        Cut-offs of Recall@k and NDCG@k.

    Raises
    ------
    DataFormatError
        If the manifest or a file is missing or malformed.
    ValueError
        If ``split`` is not ``"validation"`` or ``"test"``.
    """
    if split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}.")
    folder = Path(folder)
    manifest_path = folder / "dataset.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataFormatError(manifest_path, None, f"cannot read the manifest: {error}") from error
    if manifest.get("format") != PREDEFINED_SPLIT_FORMAT:
        raise DataFormatError(
            manifest_path, None,
            f"format must be {PREDEFINED_SPLIT_FORMAT!r}, got {manifest.get('format')!r}",
        )
    train = _read_written_pairs(folder / manifest["train_file"])
    test = _read_written_pairs(folder / manifest["test_file"])

    user_codes, _ = pd.factorize(np.concatenate([train["user"], test["user"]]))
    item_codes, item_ids = pd.factorize(np.concatenate([train["item"], test["item"]]))
    n_train = len(train)
    n_users = int(user_codes.max()) + 1
    n_items = len(item_ids)
    train_users, train_items = user_codes[:n_train], item_codes[:n_train]
    test_users, test_items = user_codes[n_train:], item_codes[n_train:]

    full_train = binary_csr(train_users, train_items, (n_users, n_items))
    test_task = _ranking_task(full_train, test_users, test_items, ks)
    if split == "test":
        train_matrix, eval_task = full_train, test_task
    else:
        is_validation = _validation_mask(train_users, seed)
        train_matrix = binary_csr(train_users[~is_validation], train_items[~is_validation],
                               (n_users, n_items))
        eval_task = _ranking_task(train_matrix, train_users[is_validation],
                                  train_items[is_validation], ks)
    info = {
        "dataset": folder.name, "protocol": PREDEFINED_SPLIT_FORMAT, "split": split,
        "users": n_users, "items": n_items,
        "interactions": int(full_train.nnz + test_task.targets.nnz),
        "train_interactions": int(train_matrix.nnz),
        "evaluated_users": int(eval_task.targets.shape[0]),
        "test_users": int(test_task.targets.shape[0]),
    }
    return Split(train=train_matrix, eval_task=eval_task, test_task=test_task,
                 protocol=PREDEFINED_SPLIT_FORMAT, split=split, info=info)


def _read_written_pairs(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFormatError(path, None, "file not found; import the data set again")
    return pd.read_csv(path, usecols=["user", "item"])


def _ranking_task(train: sp.csr_matrix, users, items, ks) -> RankingTask:
    targets_all = binary_csr(users, items, train.shape)
    # A target the user also has in training is excluded from ranking, so it cannot count.
    targets_all = targets_all - targets_all.multiply(train)
    targets_all.eliminate_zeros()
    evaluated = np.flatnonzero(np.diff(targets_all.indptr) > 0).astype(np.int32)
    return RankingTask(
        targets=sp.csr_matrix(targets_all[evaluated]), exclude=sp.csr_matrix(train[evaluated]),
        users=evaluated, ks=tuple(ks), metrics=PREDEFINED_METRICS,
    )


def _validation_mask(users: np.ndarray, seed: int) -> np.ndarray:
    """Mark ``int(0.2 n)`` random interactions of each user with n ≥ 5 (vectorized)."""
    rng = np.random.default_rng(seed)
    keys = rng.random(users.shape[0])
    order = np.lexsort((keys, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    sizes = np.diff(np.r_[starts, users.shape[0]])
    rank = np.arange(users.shape[0]) - np.repeat(starts, sizes)
    quota = np.repeat(np.where(sizes >= VALIDATION_MIN_ITEMS,
                               (VALIDATION_SHARE * sizes).astype(np.int64), 0), sizes)
    mask = np.empty(users.shape[0], dtype=bool)
    mask[order] = rank < quota
    return mask
