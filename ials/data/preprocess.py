"""Build the benchmark splits from downloaded raw files.

Two kinds of prepared data sets (see `ials.data.download.PREPARED_DATASETS`):

- ``ml-20m-sg`` and ``msd-sg``: the strong-generalization split of the Mult-VAE
  benchmarks (Liang et al., "Variational Autoencoders for Collaborative Filtering",
  WWW 2018), following its public preprocessing script step by step, including the
  order of its random calls, so the split is the published one. Output:
  ``DATA_DIR/NAME/prepared.npz`` (a CSR bundle with ``train``, ``validation_fold_in``,
  ``validation_targets``, ``test_fold_in``, ``test_targets``), ``item_ids.txt`` and a
  ``dataset.json`` manifest.
- ``ml-1m-ncf``: ML-1M in the NCF leave-one-out format (He et al. 2017), rebuilt from
  the GroupLens ``ratings.dat`` in ``DATA_DIR/ml-1m-raw``: ``NAME.train.rating``,
  ``NAME.test.rating`` and ``NAME.test.negative`` plus a ``prepare.json`` record.

`prepare` skips the work when the folder's record has the same preprocessing version,
parameters and source checksum. Each prepared folder is built in a temporary folder
and swapped in with ``os.replace``, so a reader never sees half of one.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ials.data.bundle import save_csr_bundle
from ials.data.download import (
    KNOWN_DATASETS,
    PREPARED_DATASETS,
    ProgressCallback,
    find_present_file,
    read_download_record,
    sha256_file,
    staged_folder,
    write_json_atomically,
)
from ials.data.protocols import binary_csr
from ials.data.readers import GROUPLENS_FILES, read_table
from ials.paths import data_dir as resolve_data_dir

logger = logging.getLogger(__name__)

#: Bump when a change alters any prepared output, so existing folders are rebuilt.
PREPROCESS_VERSION = 1

#: Seed of the Mult-VAE reference script, used both for the user permutation and
#: (re-seeded) before each fold-in/target split.
REFERENCE_SEED = 98765

#: Held-out users with fewer interactions keep them all as fold-in history.
MIN_ITEMS_FOR_TARGETS = 5

#: Published counts after preprocessing: users, items, interactions in millions
#: (Liang et al. 2018, Table 1).
PUBLISHED_COUNTS = {
    "ml-20m-sg": {"users": 136_677, "items": 20_108, "interactions_millions": 10.0},
    "msd-sg": {"users": 571_355, "items": 41_140, "interactions_millions": 33.6},
}


@dataclass(frozen=True)
class StrongGeneralizationConfig:
    """Parameters of one strong-generalization benchmark.

    Attributes
    ----------
    source : str
        Downloaded data set the raw file comes from.
    raw_file : str
        File name inside the source folder (plain or ``.gz``).
    n_heldout_users : int
        Users held out for validation, and again for test.
    min_user : int
        Drop users with fewer interactions (after the item filter).
    min_item : int
        Drop items with fewer interactions (applied first, once).
    rating_threshold : float or None
        Keep only ratings strictly greater than this.
    test_prop : float
        Share of each held-out user's items that become targets.
    seed : int
        Seed of the user permutation and of each fold-in/target split.
    """

    source: str
    raw_file: str
    n_heldout_users: int
    min_user: int
    min_item: int
    rating_threshold: float | None
    test_prop: float = 0.2
    seed: int = REFERENCE_SEED


SG_CONFIGS = {
    "ml-20m-sg": StrongGeneralizationConfig(
        source="ml-20m", raw_file="ratings.csv", n_heldout_users=10_000,
        min_user=5, min_item=0, rating_threshold=3.5,
    ),
    "msd-sg": StrongGeneralizationConfig(
        source="msd", raw_file="train_triplets.txt", n_heldout_users=50_000,
        min_user=20, min_item=200, rating_threshold=None,
    ),
}

#: Seed of the sampled negatives of ``ml-1m-ncf``.
NCF_NEGATIVE_SEED = 0
NCF_NEGATIVES = 99


class PrepareError(RuntimeError):
    """A prepared data set cannot be built; the message names what is missing."""


@dataclass
class PrepareResult:
    """Outcome of `prepare`.

    Attributes
    ----------
    name : str
        Prepared data set name.
    folder : Path
        Its folder.
    counts : dict
        Counts of the output (users, items, interactions, ...).
    skipped : bool
        True when an up-to-date folder already existed.
    """

    name: str
    folder: Path
    counts: dict = field(default_factory=dict)
    skipped: bool = False


class _Steps:
    """Log each preprocessing step with its duration and report it to ``progress``."""

    def __init__(self, name: str, total: int, progress: ProgressCallback | None):
        self.name = name
        self.total = total
        self.done = 0
        self.progress = progress
        self.started = time.perf_counter()
        self.label = ""

    def start(self, label: str) -> None:
        self.label = label
        self.started = time.perf_counter()
        logger.info("%s: %s ...", self.name, label)
        if self.progress is not None:
            self.progress(f"{self.name}: {label}", self.done, self.total)

    def finish(self, detail: str = "") -> None:
        self.done += 1
        seconds = time.perf_counter() - self.started
        logger.info("%s: %s done in %.1f s%s", self.name, self.label, seconds,
                    f" ({detail})" if detail else "")
        if self.progress is not None:
            self.progress(f"{self.name}: {self.label} done", self.done, self.total)


# --------------------------------------------------------------------------- raw files


def read_movielens_ratings(
    path: str | os.PathLike, rating_min_exclusive: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a GroupLens ratings file (``u.data``, ``ratings.dat`` or ``ratings.csv``).

    Parsing and format errors are those of `ials.data.readers.read_table`. A repeated
    (user, movie) pair would keep only its latest row; the MovieLens files have none.

    Parameters
    ----------
    path : path
        The ratings file, plain or ``.gz``.
    rating_min_exclusive : float or None
        Keep only ratings strictly greater than this.

    Returns
    -------
    users, items : ndarray, shape (n,)
        Original user and movie id of each kept rating, in file order.
    timestamps : ndarray of float64, shape (n,)
        Unix time of each rating.
    """
    path = Path(path)
    layout = GROUPLENS_FILES.get(path.name.removesuffix(".gz"))
    if layout is None:
        raise PrepareError(
            f"{path} is not a GroupLens ratings file; expected one of "
            f"{', '.join(GROUPLENS_FILES)} (plain or .gz)."
        )
    interactions = read_table(
        path, rating_min_exclusive=rating_min_exclusive, name=path.parent.name, **layout,
    )
    users = np.asarray(interactions.user_ids)[interactions.user]
    items = np.asarray(interactions.item_ids)[interactions.item]
    return users, items, interactions.timestamp


def read_msd_triplets(path: str | os.PathLike) -> pd.DataFrame:
    """Read the MSD taste-profile ``train_triplets.txt`` (user, song, play count; tabs).

    Returns
    -------
    DataFrame
        Columns ``user`` and ``item`` (categorical strings) and ``count`` (int64), in
        file order.
    """
    try:
        return pd.read_csv(
            path, sep="\t", header=None, names=["user", "item", "count"],
            dtype={"user": "category", "item": "category", "count": np.int64},
        )
    except (ValueError, pd.errors.ParserError) as error:
        raise PrepareError(
            f"{path} is not an MSD triplet file (user \\t song \\t count): {error}."
        ) from error


# ------------------------------------------------------------ strong generalization


@dataclass
class StrongGeneralizationSplit:
    """The five matrices of a strong-generalization split.

    Rows of ``train`` are the training users in the order of the seeded permutation;
    rows of the validation (test) matrices are the validation (test) users in that
    order, including users whose every interaction was dropped (empty rows). Columns
    are the items seen in training, in order of first appearance in the input.

    Attributes
    ----------
    train : csr_matrix of float32, shape (n_train_users, n_items)
    validation_fold_in, validation_targets : csr_matrix, shape (n_heldout_users, n_items)
    test_fold_in, test_targets : csr_matrix, shape (n_heldout_users, n_items)
    item_ids : ndarray, shape (n_items,)
        Original id of each column.
    user_ids : ndarray, shape (n_users,)
        Original id of each user in permuted order: training rows, then validation
        rows, then test rows.
    counts : dict
        ``users``, ``items``, ``interactions`` after filtering (the published
        counts) and the sizes of each part.
    """

    train: sp.csr_matrix
    validation_fold_in: sp.csr_matrix
    validation_targets: sp.csr_matrix
    test_fold_in: sp.csr_matrix
    test_targets: sp.csr_matrix
    item_ids: np.ndarray
    user_ids: np.ndarray
    counts: dict


def split_strong_generalization(
    users,
    items,
    *,
    n_heldout_users: int,
    min_user: int = 0,
    min_item: int = 0,
    test_prop: float = 0.2,
    seed: int = REFERENCE_SEED,
    steps: _Steps | None = None,
) -> StrongGeneralizationSplit:
    """Split interactions into training users and held-out validation and test users.

    Reproduces the Mult-VAE reference preprocessing exactly:

    1. keep items with ≥ ``min_item`` interactions, then users with ≥ ``min_user``;
    2. sort the remaining user ids, ``np.random.seed(seed)`` and permute them; the last
       ``2 * n_heldout_users`` are validation users, then test users;
    3. the item set is the items of the training users, indexed by first appearance;
       held-out interactions on other items are dropped;
    4. for the validation users, then the test users: re-seed with ``seed``, visit the
       users in ascending id order and, for each user with ≥ 5 interactions, pick
       ``int(test_prop * n)`` targets with ``choice(n, k, replace=False)`` among the
       user's interactions in input order. The rest is fold-in history.

    Everything is vectorized except step 4, which makes one `RandomState.choice` call
    per held-out user, exactly the reference's calls in the reference's order.

    Parameters
    ----------
    users, items : array-like, shape (n,)
        User and item id of each interaction in input order; any sortable ids.
    n_heldout_users : int
        Number of validation users and of test users (≥ 1).
    min_user, min_item : int
        Minimum interactions per user and per item (0 disables the filter).
    test_prop : float
        Share of targets per held-out user, in (0, 1).
    seed : int
        Seed of the permutation and of each target draw.

    Raises
    ------
    ValueError
        If the lengths differ, a parameter is out of range, or fewer than
        ``2 * n_heldout_users + 1`` users remain after filtering.
    """
    steps = steps or _Steps("split", 4, None)
    _check_split_arguments(users, items, n_heldout_users, min_user, min_item, test_prop)

    steps.start("filtering users and items")
    # Sorted user codes: the reference visits users in ascending id order (groupby).
    user_codes, user_ids = pd.factorize(_as_factorizable(users), sort=True)
    item_codes, item_ids = pd.factorize(_as_factorizable(items))
    user_codes = user_codes.astype(np.int64)
    item_codes = item_codes.astype(np.int64)
    keep = np.ones(user_codes.shape[0], dtype=bool)
    if min_item > 0:
        item_counts = np.bincount(item_codes, minlength=len(item_ids))
        keep &= item_counts[item_codes] >= min_item
    if min_user > 0:
        user_counts = np.bincount(user_codes[keep], minlength=len(user_ids))
        keep &= user_counts[user_codes] >= min_user
    user_codes = user_codes[keep]
    item_codes = item_codes[keep]
    active_users = np.unique(user_codes)
    n_users = int(active_users.size)
    n_filtered_items = int(np.unique(item_codes).size)
    steps.finish(f"{user_codes.size:,} interactions, {n_users:,} users, {n_filtered_items:,} items")

    if n_users <= 2 * n_heldout_users:
        raise ValueError(
            f"only {n_users} users remain after filtering (users ≥ {min_user}, items ≥ "
            f"{min_item}), but {2 * n_heldout_users} are held out for validation and test; "
            f"use n_heldout_users < {n_users // 2 if n_users > 1 else 1} or more data."
        )

    steps.start("permuting users and building the training matrix")
    permutation = np.random.RandomState(seed).permutation(n_users)
    permuted_users = active_users[permutation]
    row_of_user = np.full(len(user_ids), -1, dtype=np.int64)
    row_of_user[permuted_users] = np.arange(n_users)
    rows = row_of_user[user_codes]
    n_train_users = n_users - 2 * n_heldout_users
    is_train = rows < n_train_users

    # Columns are the training items in order of first appearance (pd.unique order).
    _, train_items = pd.factorize(item_codes[is_train])
    n_items = int(train_items.size)
    column_of_item = np.full(len(item_ids), -1, dtype=np.int64)
    column_of_item[train_items] = np.arange(n_items)
    columns = column_of_item[item_codes]
    train = binary_csr(rows[is_train], columns[is_train], (n_train_users, n_items))
    steps.finish(f"{n_train_users:,} training users, {n_items:,} items, {train.nnz:,} interactions")

    parts = {}
    dropped = 0
    for part, first_row in (("validation", n_train_users),
                            ("test", n_train_users + n_heldout_users)):
        steps.start(f"splitting {part} users into fold-in and targets")
        in_part = (rows >= first_row) & (rows < first_row + n_heldout_users)
        dropped += int(np.count_nonzero(in_part & (columns < 0)))
        selected = in_part & (columns >= 0)
        is_target = _choose_targets(user_codes[selected], test_prop, seed)
        part_rows = rows[selected] - first_row
        part_columns = columns[selected]
        shape = (n_heldout_users, n_items)
        fold_in = binary_csr(part_rows[~is_target], part_columns[~is_target], shape)
        targets = binary_csr(part_rows[is_target], part_columns[is_target], shape)
        parts[part] = (fold_in, targets)
        steps.finish(f"{fold_in.nnz:,} fold-in, {targets.nnz:,} target interactions")

    counts = {
        "users": n_users,
        "items": n_items,
        "interactions": int(user_codes.size),
        "items_after_filtering": n_filtered_items,
        "train_users": n_train_users,
        "heldout_users": n_heldout_users,
        "train_interactions": int(train.nnz),
        "validation_fold_in": int(parts["validation"][0].nnz),
        "validation_targets": int(parts["validation"][1].nnz),
        "test_fold_in": int(parts["test"][0].nnz),
        "test_targets": int(parts["test"][1].nnz),
        "heldout_interactions_dropped": dropped,
    }
    return StrongGeneralizationSplit(
        train=train,
        validation_fold_in=parts["validation"][0],
        validation_targets=parts["validation"][1],
        test_fold_in=parts["test"][0],
        test_targets=parts["test"][1],
        item_ids=np.asarray(item_ids)[train_items],
        user_ids=np.asarray(user_ids)[permuted_users],
        counts=counts,
    )


def _as_factorizable(values):
    return values if isinstance(values, pd.Series) else np.asarray(values)


def _check_split_arguments(users, items, n_heldout_users, min_user, min_item, test_prop) -> None:
    if len(users) != len(items):
        raise ValueError(
            f"users and items must have the same length, got {len(users)} and {len(items)}."
        )
    for label, value, low in (("n_heldout_users", n_heldout_users, 1),
                              ("min_user", min_user, 0), ("min_item", min_item, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{label} must be an integer ≥ {low}, got {value!r}.")
    if not 0.0 < float(test_prop) < 1.0:
        raise ValueError(f"test_prop must be in (0, 1), got {test_prop!r}.")


def _choose_targets(user_codes: np.ndarray, test_prop: float, seed: int) -> np.ndarray:
    """Mark the target interactions of held-out users, as the reference does.

    ``user_codes`` are the held-out interactions in input order, coded so that code
    order is id order. Returns a boolean mask of the same length.
    """
    order = np.argsort(user_codes, kind="stable")
    sorted_codes = user_codes[order]
    n = sorted_codes.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, n])
    # Same float64 product and truncation as int(test_prop * n) in the reference.
    n_targets = (float(test_prop) * sizes).astype(np.int64)
    eligible = sizes >= MIN_ITEMS_FOR_TARGETS

    is_target_sorted = np.zeros(n, dtype=bool)
    random_state = np.random.RandomState(seed)
    for start, size, k in zip(starts[eligible].tolist(), sizes[eligible].tolist(),
                              n_targets[eligible].tolist()):
        chosen = random_state.choice(size, size=k, replace=False)
        is_target_sorted[start + chosen] = True

    is_target = np.empty(n, dtype=bool)
    is_target[order] = is_target_sorted
    return is_target


# ---------------------------------------------------------------------- NCF format


@dataclass
class NCFSplit:
    """ML-1M in the NCF leave-one-out format.

    Attributes
    ----------
    train : DataFrame
        Columns ``user``, ``item`` (0-based indices) and ``timestamp``, sorted by user,
        then time, then input order.
    test : DataFrame
        One row per user with the held-out (latest) interaction, same columns.
    negatives : ndarray of int64, shape (n_users, n_negatives)
        Sampled items each user never interacted with, distinct within a row.
    user_ids, item_ids : ndarray
        Original id of each index (indices follow first appearance in the input).
    """

    train: pd.DataFrame
    test: pd.DataFrame
    negatives: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray


def split_leave_last_out_ncf(
    users,
    items,
    timestamps,
    *,
    n_negatives: int = NCF_NEGATIVES,
    seed: int = NCF_NEGATIVE_SEED,
) -> NCFSplit:
    """Hold out each user's latest rating and sample negatives, as in the NCF files.

    Users and items are indexed by first appearance in the input (for ML-1M's
    ``ratings.dat`` this gives the NCF ids). The held-out rating of a user is the one
    with the largest timestamp. Among ratings with the same timestamp, the one later
    in the input counts as later.

    Parameters
    ----------
    users, items : array-like, shape (n,)
        User and item id of each rating, in file order.
    timestamps : array-like of numbers, shape (n,)
        Time of each rating.
    n_negatives : int
        Negatives per user (≥ 1), drawn uniformly without replacement from the items
        the user never rated.
    seed : int
        Seed of `numpy.random.default_rng` for the negatives.

    Raises
    ------
    ValueError
        If the lengths differ, the input is empty, or a user has rated so many items
        that fewer than ``n_negatives`` remain.
    """
    users, items, timestamps = np.asarray(users), np.asarray(items), np.asarray(timestamps)
    if not users.shape == items.shape == timestamps.shape or users.ndim != 1:
        raise ValueError(
            f"users, items and timestamps must be 1-D and of equal length, got shapes "
            f"{users.shape}, {items.shape} and {timestamps.shape}."
        )
    if users.size == 0:
        raise ValueError("no ratings given; an NCF split needs at least one rating.")
    if isinstance(n_negatives, bool) or not isinstance(n_negatives, int) or n_negatives < 1:
        raise ValueError(f"n_negatives must be an integer ≥ 1, got {n_negatives!r}.")

    user_index, user_ids = pd.factorize(users)
    item_index, item_ids = pd.factorize(items)
    position = np.arange(users.size)
    order = np.lexsort((position, timestamps, user_index))
    sorted_users = user_index[order]
    is_last = np.r_[sorted_users[1:] != sorted_users[:-1], True]

    columns = {
        "user": user_index.astype(np.int64),
        "item": item_index.astype(np.int64),
        "timestamp": timestamps,
    }
    table = pd.DataFrame({key: value[order] for key, value in columns.items()})
    train = table[~is_last].reset_index(drop=True)
    test = table[is_last].reset_index(drop=True)

    negatives = _sample_negatives(
        user_index.astype(np.int64), item_index.astype(np.int64),
        len(user_ids), len(item_ids), n_negatives, seed, user_ids,
    )
    return NCFSplit(train=train, test=test, negatives=negatives,
                    user_ids=np.asarray(user_ids), item_ids=np.asarray(item_ids))


def _sample_negatives(users, items, n_users, n_items, n_negatives, seed, user_ids) -> np.ndarray:
    """Draw ``n_negatives`` distinct unrated items per user by rejection sampling."""
    rated = binary_csr(users, items, (n_users, n_items))
    room = n_items - np.diff(rated.indptr)
    short = np.flatnonzero(room < n_negatives)
    if short.size:
        user = short[0]
        raise ValueError(
            f"user {user_ids[user]} rated {n_items - room[user]} of {n_items} items, so "
            f"fewer than {n_negatives} unrated items remain for negatives; lower "
            f"n_negatives or drop such users first."
        )
    rng = np.random.default_rng(seed)
    negatives = np.empty((n_users, n_negatives), dtype=np.int64)
    for user in range(n_users):
        seen = rated.indices[rated.indptr[user]:rated.indptr[user + 1]]
        chosen: list[int] = []
        taken = set(seen.tolist())
        while len(chosen) < n_negatives:
            for candidate in rng.integers(n_items, size=2 * (n_negatives - len(chosen))).tolist():
                if candidate not in taken:
                    taken.add(candidate)
                    chosen.append(candidate)
                    if len(chosen) == n_negatives:
                        break
        negatives[user] = chosen
    return negatives


def write_ncf_files(split: NCFSplit, folder: Path, name: str) -> None:
    """Write ``NAME.train.rating``, ``NAME.test.rating``, ``NAME.test.negative`` in ``folder``.

    The layout matches the original NCF files: tab separated ``user item rating
    timestamp`` lines, and ``(user,item)`` followed by the negatives. The rating field
    is always 1, because the split treats every rating as an interaction (the NCF
    loaders keep pairs with rating > 0).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, frame in (("train.rating", split.train), ("test.rating", split.test)):
        table = pd.DataFrame({
            "user": frame["user"], "item": frame["item"], "rating": 1,
            "timestamp": frame["timestamp"].to_numpy().astype(np.int64),
        })
        table.to_csv(folder / f"{name}.{suffix}", sep="\t", header=False, index=False)
    with open(folder / f"{name}.test.negative", "w", encoding="utf-8") as handle:
        for (user, item), row in zip(split.test[["user", "item"]].itertuples(index=False),
                                     split.negatives):
            handle.write(f"({user},{item})\t" + "\t".join(map(str, row.tolist())) + "\n")


# --------------------------------------------------------------------------- prepare


def prepare(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> PrepareResult:
    """Build prepared data set ``name`` (``ml-20m-sg``, ``msd-sg`` or ``ml-1m-ncf``).

    Skips the work when ``DATA_DIR/NAME`` was built by this preprocessing version from
    a source file with the same SHA-256 (``force`` rebuilds it).

    Raises
    ------
    KeyError
        If ``name`` is not a prepared data set.
    PrepareError
        If the source data set has not been downloaded.
    """
    if name not in PREPARED_DATASETS:
        raise KeyError(
            f"unknown prepared data set {name!r}; known: {', '.join(PREPARED_DATASETS)}."
        )
    root = resolve_data_dir(data_dir)
    if name in SG_CONFIGS:
        return _prepare_strong_generalization(name, root, progress, force)
    return _prepare_ncf(name, root, progress, force)


def source_file(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Return the raw file prepared data set ``name`` is built from.

    Raises
    ------
    PrepareError
        Saying which download to run when the file is missing.
    """
    entry = PREPARED_DATASETS[name]
    source = KNOWN_DATASETS[entry.source]
    raw_name = SG_CONFIGS[name].raw_file if name in SG_CONFIGS else "ratings.dat"
    folder = resolve_data_dir(data_dir) / source.folder
    found = find_present_file(folder, raw_name)
    if found is None:
        raise PrepareError(
            f"{name} is built from {folder / raw_name}, which is missing; run "
            f"`python -m ials data download {source.name}` first."
        )
    return found


def read_prepare_record(name: str, data_dir: str | os.PathLike | None = None) -> dict | None:
    """Return the record of how ``DATA_DIR/NAME`` was prepared, or None if it is absent."""
    import json

    folder = resolve_data_dir(data_dir) / name
    for record_name in ("dataset.json", "prepare.json"):
        path = folder / record_name
        if path.is_file():
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
            if "preprocessing_version" in record:
                return record
    return None


def _source_checksum(raw: Path, source_name: str) -> str:
    """Return the SHA-256 of the raw file (logged, because hashing 0.5 GB takes seconds)."""
    started = time.perf_counter()
    digest = sha256_file(raw)
    logger.info("SHA-256 of %s computed in %.1f s", raw, time.perf_counter() - started)
    return digest


def _is_up_to_date(record: dict | None, parameters: dict, checksum: str) -> bool:
    return (
        record is not None
        and record.get("preprocessing_version") == PREPROCESS_VERSION
        and record.get("parameters") == parameters
        and record.get("source", {}).get("sha256") == checksum
    )


def _prepare_strong_generalization(name, root, progress, force) -> PrepareResult:
    config = SG_CONFIGS[name]
    raw = source_file(name, root)
    steps = _Steps(name, 7, progress)
    steps.start("computing the source checksum")
    checksum = _source_checksum(raw, config.source)
    steps.finish()
    parameters = asdict(config)
    folder = root / name
    record = read_prepare_record(name, root)
    if not force and _is_up_to_date(record, parameters, checksum):
        logger.info("%s is up to date in %s; skipping", name, folder)
        return PrepareResult(name, folder, record.get("counts", {}), skipped=True)

    steps.start(f"reading {raw.name}")
    if config.source == "msd":
        frame = read_msd_triplets(raw)
        users, items = frame["user"], frame["item"]
        del frame
    else:
        users, items, _ = read_movielens_ratings(raw, config.rating_threshold)
    steps.finish(f"{len(users):,} interactions kept")

    split = split_strong_generalization(
        users, items, n_heldout_users=config.n_heldout_users,
        min_user=config.min_user, min_item=config.min_item,
        test_prop=config.test_prop, seed=config.seed, steps=steps,
    )
    del users, items

    steps.start("writing prepared.npz")
    manifest = {
        "format": "strong-generalization",
        "file": "prepared.npz",
        "description": PREPARED_DATASETS[name].description,
        "item_ids_file": "item_ids.txt",
        "preprocessing_version": PREPROCESS_VERSION,
        "parameters": parameters,
        "source": {
            "dataset": config.source,
            "file": raw.name,
            "sha256": checksum,
            "download": read_download_record(raw.parent).get(config.source),
        },
        "counts": split.counts,
    }
    with staged_folder(root, name) as staging:
        save_csr_bundle(
            staging / "prepared.npz",
            {"format": "strong-generalization", "dataset": name, "counts": split.counts},
            train=split.train,
            validation_fold_in=split.validation_fold_in,
            validation_targets=split.validation_targets,
            test_fold_in=split.test_fold_in,
            test_targets=split.test_targets,
        )
        (staging / "item_ids.txt").write_text(
            "".join(f"{item}\n" for item in split.item_ids.tolist()), encoding="utf-8"
        )
        write_json_atomically(staging / "dataset.json", manifest)
    steps.finish()
    _log_counts(name, split.counts)
    return PrepareResult(name, folder, split.counts)


def _prepare_ncf(name, root, progress, force) -> PrepareResult:
    raw = source_file(name, root)
    steps = _Steps(name, 4, progress)
    steps.start("computing the source checksum")
    source_name = PREPARED_DATASETS[name].source
    checksum = _source_checksum(raw, source_name)
    steps.finish()
    parameters = {"n_negatives": NCF_NEGATIVES, "seed": NCF_NEGATIVE_SEED}
    folder = root / name
    record = read_prepare_record(name, root)
    if not force and _is_up_to_date(record, parameters, checksum):
        logger.info("%s is up to date in %s; skipping", name, folder)
        return PrepareResult(name, folder, record.get("counts", {}), skipped=True)

    steps.start(f"reading {raw.name}")
    users, items, timestamps = read_movielens_ratings(raw)
    steps.finish(f"{len(users):,} ratings")

    steps.start("holding out the latest rating per user and sampling negatives")
    split = split_leave_last_out_ncf(
        users, items, timestamps, n_negatives=NCF_NEGATIVES, seed=NCF_NEGATIVE_SEED,
    )
    counts = {
        "users": int(len(split.user_ids)),
        "items": int(len(split.item_ids)),
        "interactions": int(len(users)),
        "train_interactions": int(len(split.train)),
        "test_interactions": int(len(split.test)),
        "negatives_per_user": NCF_NEGATIVES,
    }
    steps.finish()

    steps.start("writing the NCF files")
    record = {
        "format": "ncf",
        "description": PREPARED_DATASETS[name].description,
        "preprocessing_version": PREPROCESS_VERSION,
        "parameters": parameters,
        "source": {"dataset": source_name, "file": raw.name, "sha256": checksum},
        "counts": counts,
    }
    with staged_folder(root, name) as staging:
        write_ncf_files(split, staging, name)
        write_json_atomically(staging / "prepare.json", record)
    steps.finish()
    _log_counts(name, counts)
    return PrepareResult(name, folder, counts)


def _log_counts(name: str, counts: dict) -> None:
    logger.info(
        "%s: %s users, %s items, %s interactions", name, f"{counts['users']:,}",
        f"{counts['items']:,}", f"{counts['interactions']:,}",
    )


# ------------------------------------------------------------- most-popular baseline

#: Most-popular baseline on the test users as reported by Steck (EASE, WWW 2019):
#: Recall@20, Recall@50, NDCG@100. A correct split and evaluation reproduce them.
PUBLISHED_POPULARITY = {
    "ml-20m-sg": {"Recall@20": 0.162, "Recall@50": 0.235, "NDCG@100": 0.191},
    "msd-sg": {"Recall@20": 0.043, "Recall@50": 0.068, "NDCG@100": 0.058},
}


def popularity_metrics(
    name: str,
    *,
    protocol: str | None = None,
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
) -> tuple[dict[str, float], dict]:
    """Score the most-popular baseline on data set ``name``.

    The baseline is fitted on the split's training matrix and scored on its test task
    (``split="test"``) or its per-epoch evaluation task (``split="validation"``).

    Returns
    -------
    metrics : dict
        Metric name (``"Recall@20"``, ``"HR@10"``, ...) to value.
    info : dict
        ``protocol`` and ``evaluated_users``.
    """
    from ials.data import load_split
    from ials.evaluation.evaluate import evaluate, evaluated_users
    from ials.evaluation.popularity import PopularityModel

    loaded = load_split(name, protocol=protocol, split=split, data_dir=data_dir)
    task = loaded.test_task if split == "test" else loaded.eval_task
    model = PopularityModel().fit(loaded.train)
    metrics = evaluate(model, task)
    return metrics, {"protocol": loaded.protocol, "evaluated_users": evaluated_users(task)}
