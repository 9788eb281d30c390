"""Readers for interaction files: NCF leave-one-out files, GroupLens files, generic tables.

Every reader returns an `Interactions` with 0-based user and item indices and raises
`DataFormatError` (a `ValueError`) naming the file, the line and the problem when a file
is malformed. Files ending in ``.gz`` are read through gzip.

Parsing runs in pandas for speed. When pandas fails or returns a missing or non-numeric
value, `_find_bad_line` rereads the file line by line to report the first bad line, so
the slow path only runs on files that are malformed anyway.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ials.data.types import Interactions

logger = logging.getLogger(__name__)

#: Errors that reading a corrupt or truncated file raises below pandas.
_READ_ERRORS = (EOFError, OSError, zlib.error, UnicodeDecodeError)


class DataFormatError(ValueError):
    """A data file is malformed.

    Attributes
    ----------
    path : str
        The file.
    line : int or None
        1-based line number of the first problem (None when no line applies, as for a
        Parquet file).
    problem : str
        What is wrong, in words.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


# --- opening files ---------------------------------------------------------------------


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """Open ``path`` for reading text, through gzip when the name ends in ``.gz``."""
    path = Path(path)
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def find_file(folder: Path, name: str) -> Path | None:
    """Return ``folder/name`` or ``folder/name.gz``, whichever exists (plain first)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _compression(path: Path) -> str | None:
    return "gzip" if path.name.endswith(".gz") else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _split_line(line: str, sep: str) -> list[str]:
    if len(sep) == 1:
        return next(csv.reader([line], delimiter=sep))
    return line.split(sep)


def _find_bad_line(
    path: Path,
    sep: str,
    n_columns: int | None,
    integer_columns: tuple[int, ...] = (),
    numeric_columns: tuple[int, ...] = (),
    skip_lines: int = 0,
    labels: dict[int, tuple[str, str | None]] | None = None,
) -> tuple[int, str] | None:
    """Reread ``path`` line by line and return ``(line, problem)`` for the first bad line.

    ``n_columns=None`` takes the field count of the first data line as the expected one.
    ``labels`` maps a field position to its role and column name for the message
    (default: "field N"). Returns None when every line is well formed.
    """
    labels = labels or {}
    expected = n_columns
    line_number = 0
    try:
        with open_text(path) as handle:
            for line_number, line in enumerate(handle, start=1):
                if line_number <= skip_lines:
                    continue
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                fields = _split_line(text, sep)
                if expected is None:
                    expected = len(fields)
                if len(fields) != expected:
                    return line_number, (
                        f"expected {expected} fields separated by {sep!r}, found {len(fields)}"
                    )
                for column in integer_columns:
                    if not _is_integer(fields[column].strip()):
                        return line_number, _describe(labels, column, fields, "an integer")
                for column in numeric_columns:
                    value = fields[column].strip()
                    if value == "" or not _is_number(value):
                        return line_number, _describe(labels, column, fields, "a number")
    except _READ_ERRORS as error:
        return line_number + 1, f"cannot read the file (corrupt or truncated?): {error}"
    except csv.Error as error:
        return line_number, f"malformed CSV: {error}"
    return None


def _describe(labels: dict, column: int, fields: list[str], expected: str) -> str:
    role, name = labels.get(column, (f"field {column + 1}", None))
    where = f" in column {name!r}" if name is not None else ""
    return f"{role} {fields[column]!r}{where} is not {expected}"


def _raise_bad_file(path: Path, error: Exception, **scan) -> None:
    """Raise `DataFormatError` for a file pandas failed on, at the first bad line."""
    found = _find_bad_line(path, **scan)
    if found is not None:
        raise DataFormatError(path, found[0], found[1]) from error
    raise DataFormatError(path, None, f"cannot parse the file: {error}") from error


def _read_columns(path: Path, sep: str, n_columns: int, **scan) -> pd.DataFrame:
    """Read a header-less file whose lines have exactly ``n_columns`` numeric fields."""
    if _is_empty(path):
        raise DataFormatError(path, 1, "the file is empty")
    try:
        frame = pd.read_csv(
            path, sep=sep, header=None, compression=_compression(path), engine="c",
            dtype=np.float64,
        )
    except pd.errors.EmptyDataError as error:
        raise DataFormatError(path, 1, "the file is empty") from error
    except (pd.errors.ParserError, ValueError, *_READ_ERRORS) as error:
        _raise_bad_file(path, error, sep=sep, n_columns=n_columns, **scan)
    if frame.shape[1] != n_columns or frame.isna().to_numpy().any():
        _raise_bad_file(
            path, ValueError(f"expected {n_columns} columns"), sep=sep, n_columns=n_columns,
            **scan,
        )
    return frame


def _is_empty(path: Path) -> bool:
    """Return whether ``path`` contains no text; raise DataFormatError if it is unreadable."""
    try:
        with open_text(path) as handle:
            return handle.read(1) == ""
    except _READ_ERRORS as error:
        raise DataFormatError(path, 1, f"cannot read the file (corrupt or truncated?): {error}")


# --- NCF files ------------------------------------------------------------------------


def read_ncf(folder: str | os.PathLike, name: str) -> Interactions:
    """Read the NCF leave-one-out files ``NAME.train.rating``, ``.test.rating``, ``.test.negative``.

    Train and test lines are ``user\\titem\\trating\\ttimestamp``; negative lines are
    ``(user,item)\\tneg1\\t...\\tnegM``. Each file may be gzip-compressed (``.gz``).

    Returns
    -------
    Interactions
        ``user``/``item`` are the training pairs; ``ncf_test[u]`` is user u's test item
        (-1 when u has none) and ``ncf_negatives[u]`` its M negatives (-1 when none).
        ``n_items`` is the largest item id over all three files plus 1. A negative list
        may contain the user's own test item; it is kept, because the evaluator ignores
        such a duplicate.
    """
    folder = Path(folder)
    paths = {}
    for part in ("train.rating", "test.rating", "test.negative"):
        path = find_file(folder, f"{name}.{part}")
        if path is None:
            raise DataFormatError(
                folder / f"{name}.{part}", None,
                "file not found (plain or .gz); NCF data needs the train.rating, "
                "test.rating and test.negative files",
            )
        paths[part] = path

    scan = {"integer_columns": (0, 1), "numeric_columns": (2, 3),
            "labels": {p: (role, None) for p, role in
                       enumerate(["user", "item", "rating", "timestamp"])}}
    train = _read_columns(paths["train.rating"], "\t", 4, **scan)
    test = _read_columns(paths["test.rating"], "\t", 4, **scan)
    train_user, train_item = _id_columns(paths["train.rating"], train)
    test_user, test_item = _id_columns(paths["test.rating"], test)
    neg_user, neg_item, negatives = _read_ncf_negatives(paths["test.negative"])

    n_users = int(max(train_user.max(initial=-1), test_user.max(initial=-1),
                      neg_user.max(initial=-1))) + 1
    n_items = int(max(train_item.max(initial=-1), test_item.max(initial=-1),
                      neg_item.max(initial=-1), negatives.max(initial=-1))) + 1

    ncf_test = np.full(n_users, -1, dtype=np.int32)
    _check_unique_users(paths["test.rating"], test_user)
    ncf_test[test_user] = test_item
    ncf_negatives = np.full((n_users, negatives.shape[1]), -1, dtype=np.int32)
    _check_unique_users(paths["test.negative"], neg_user)
    ncf_negatives[neg_user] = negatives
    _check_negatives_match(paths["test.negative"], ncf_test, neg_user, neg_item)
    without = np.flatnonzero((ncf_test >= 0) & (ncf_negatives[:, 0] < 0))
    if without.size:
        raise DataFormatError(
            paths["test.negative"], None,
            f"{without.size} users with a test item have no negatives line, the first "
            f"is user {int(without[0])}",
        )

    user, item, timestamp = _collapse_duplicates(
        train_user, train_item, train[3].to_numpy(np.float64)
    )
    logger.info("read NCF %s: %d users, %d items, %d training pairs", name, n_users,
                n_items, user.shape[0])
    return Interactions(
        user=user, item=item, n_users=n_users, n_items=n_items, timestamp=timestamp,
        ncf_test=ncf_test, ncf_negatives=ncf_negatives, name=name,
    )


def _id_columns(path: Path, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return columns 0 and 1 as int32 ids, rejecting negative or fractional values."""
    ids = frame[[0, 1]].to_numpy(np.float64)
    bad = np.flatnonzero((ids < 0).any(axis=1) | (ids != np.floor(ids)).any(axis=1))
    if bad.size:
        found = _find_bad_line(path, "\t", None, integer_columns=(0, 1))
        line = found[0] if found else None
        raise DataFormatError(
            path, line, f"user and item ids must be integers ≥ 0, got {ids[bad[0]].tolist()}"
        )
    return ids[:, 0].astype(np.int32), ids[:, 1].astype(np.int32)


def _read_ncf_negatives(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``(user,item)\\tneg...`` lines; return users, test items and the negatives."""
    if _is_empty(path):
        raise DataFormatError(path, 1, "the file is empty")
    try:
        frame = pd.read_csv(
            path, sep="\t", header=None, compression=_compression(path), engine="c",
            dtype={0: str},
        )
    except pd.errors.EmptyDataError as error:
        raise DataFormatError(path, 1, "the file is empty") from error
    except (pd.errors.ParserError, ValueError, *_READ_ERRORS) as error:
        _raise_bad_file(path, error, sep="\t", n_columns=None)

    pairs = frame[0].str.extract(r"^\((\d+),(\d+)\)$")
    bad_pair = np.flatnonzero(pairs.isna().any(axis=1).to_numpy())
    if bad_pair.size:
        line = _nth_data_line(path, int(bad_pair[0]))
        raise DataFormatError(
            path, line, f"expected '(user,item)' as the first field, got {frame[0].iloc[bad_pair[0]]!r}"
        )
    if frame.shape[1] < 2:
        raise DataFormatError(path, 1, "expected '(user,item)' followed by negative items")
    values = frame.iloc[:, 1:]
    numeric = values.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    if np.isnan(numeric).any() or (numeric < 0).any() or (numeric != np.floor(numeric)).any():
        found = _find_bad_line(path, "\t", frame.shape[1],
                               integer_columns=tuple(range(1, frame.shape[1])))
        line, problem = found if found else (None, "negatives must be integer item ids ≥ 0")
        raise DataFormatError(path, line, problem)
    users = pairs[0].to_numpy().astype(np.int64).astype(np.int32)
    items = pairs[1].to_numpy().astype(np.int64).astype(np.int32)
    return users, items, numeric.astype(np.int32)


def _nth_data_line(path: Path, row: int, skip: int = 0) -> int:
    """Return the 1-based line number of data row ``row`` (0-based), the ``row``-th
    non-blank line after the first ``skip`` lines, as pandas counts rows."""
    seen = -1
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if line_number > skip and line.strip():
                seen += 1
                if seen == row:
                    return line_number
    return skip + row + 1


def _check_unique_users(path: Path, users: np.ndarray) -> None:
    counts = np.bincount(users)
    repeated = np.flatnonzero(counts > 1)
    if repeated.size:
        user = int(repeated[0])
        line = _nth_data_line(path, int(np.flatnonzero(users == user)[1]))
        raise DataFormatError(path, line, f"user {user} appears more than once; NCF files "
                                          "hold one test item per user")


def _check_negatives_match(
    path: Path, ncf_test: np.ndarray, neg_user: np.ndarray, neg_item: np.ndarray
) -> None:
    mismatch = np.flatnonzero(ncf_test[neg_user] != neg_item)
    if mismatch.size:
        row = int(mismatch[0])
        user = int(neg_user[row])
        raise DataFormatError(
            path, _nth_data_line(path, row),
            f"pair ({user},{int(neg_item[row])}) does not match user {user}'s test item "
            f"{int(ncf_test[user])} in the test.rating file",
        )


# --- generic tables -------------------------------------------------------------------


def _detect_sep(path: Path) -> str:
    """Guess the field separator from the file name, else from the first line."""
    name = path.name.removesuffix(".gz").lower()
    if name.endswith((".tsv", ".tab")):
        return "\t"
    if name.endswith(".csv"):
        return ","
    try:
        with open_text(path) as handle:
            first = handle.readline()
    except _READ_ERRORS as error:
        raise DataFormatError(path, 1, f"cannot read the file (corrupt or truncated?): {error}")
    for sep in ("::", "\t", ",", ";", " "):
        if sep in first:
            return sep
    return ","


def read_table(
    path: str | os.PathLike,
    user: str | int,
    item: str | int,
    rating: str | int | None = None,
    timestamp: str | int | None = None,
    sep: str | None = None,
    rating_threshold: float | None = None,
    rating_min_exclusive: float | None = None,
    header: bool = True,
    name: str = "",
) -> Interactions:
    """Read a CSV, TSV or Parquet table of (user, item[, rating][, timestamp]) rows.

    Parameters
    ----------
    path : path
        ``.csv``, ``.tsv``, ``.parquet`` or any text table, optionally ``.gz``.
    user, item, rating, timestamp : str or int
        Column names (``header=True`` or Parquet) or 0-based positions (``header=False``).
        ``rating`` and ``timestamp`` are optional.
    sep : str or None
        Field separator; None picks it from the extension (``.csv`` → ",", ``.tsv`` →
        tab), else from the first line (``::``, tab, ``,``, ``;`` or space).
    rating_threshold : float or None
        Keep rows with rating ≥ this value.
    rating_min_exclusive : float or None
        Keep rows with rating > this value (the ML-20M preprocessing of Liang et al. keeps
        ratings > 3.5). At most one of the two thresholds may be set.
    header : bool
        Whether the first line contains the column names (text files only).
    name : str
        Data set name stored in the result.

    Returns
    -------
    Interactions
        Ids map to 0-based indices in order of first appearance among the kept rows, and
        ``user_ids``/``item_ids`` hold the original ids. Numeric-looking ids are parsed as
        numbers, so ``007`` and ``7`` are the same id. A repeated (user, item) pair keeps
        only its latest row (largest timestamp, else the last in the file); the rating
        thresholds apply to that row, so a later low rating removes an earlier high one.

    Raises
    ------
    DataFormatError
        Empty or corrupt file, a missing column (the message lists the columns found),
        a wrong field count, or a non-numeric rating or timestamp, with the line number.
    """
    path = Path(path)
    if rating_threshold is not None and rating_min_exclusive is not None:
        raise ValueError("set rating_threshold (≥) or rating_min_exclusive (>), not both.")
    if (rating_threshold is not None or rating_min_exclusive is not None) and rating is None:
        raise ValueError("a rating threshold needs the rating column; pass rating=.")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found.")

    columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    columns = {role: column for role, column in columns.items() if column is not None}
    if path.name.endswith(".parquet"):
        frame = _read_parquet(path, columns)
        line_offset = None
    else:
        frame, line_offset = _read_text_table(path, columns, sep, header)

    if len(frame) == 0:
        raise DataFormatError(path, None, "the table contains no rows")
    for role in ("user", "item"):
        missing = frame[role].isna().to_numpy()
        if missing.any():
            raise DataFormatError(path, _row_line(path, line_offset, missing),
                                  f"missing {role} id in column {columns[role]!r}")
    for role in ("rating", "timestamp"):
        if role in frame:
            frame[role] = _numeric_column(path, frame[role], role, columns[role], line_offset)

    return _to_interactions(frame, rating_threshold, rating_min_exclusive, name or path.stem)


def _read_parquet(path: Path, columns: dict) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataFormatError(path, None, f"cannot read the Parquet file: {error}") from error
    found = list(schema.names)
    for role, column in columns.items():
        if column not in found:
            raise DataFormatError(
                path, None, f"{role} column {column!r} not found; columns found: {', '.join(found)}"
            )
    try:
        table = pd.read_parquet(path, columns=list(dict.fromkeys(columns.values())))
    except (pa.ArrowInvalid, OSError) as error:
        raise DataFormatError(path, None, f"cannot read the Parquet file: {error}") from error
    return pd.DataFrame({role: table[column] for role, column in columns.items()})


def _read_text_table(
    path: Path, columns: dict, sep: str | None, header: bool
) -> tuple[pd.DataFrame, int]:
    """Read a delimited text table; return the columns by role and the header line count."""
    if _is_empty(path):
        raise DataFormatError(path, 1, "the file is empty")
    sep = sep or _detect_sep(path)
    names = _header_names(path, sep) if header else None
    if names is not None:
        for role, column in columns.items():
            if column not in names:
                raise DataFormatError(
                    path, 1,
                    f"{role} column {column!r} not found; columns found: {', '.join(names)}",
                )
        positions = {role: names.index(column) for role, column in columns.items()}
    else:
        for role, column in columns.items():
            if isinstance(column, bool) or not isinstance(column, (int, np.integer)) or column < 0:
                raise ValueError(
                    f"with header=False, {role} must be a 0-based column position, got {column!r}."
                )
        positions = {role: int(column) for role, column in columns.items()}

    skip = 1 if header else 0
    numeric = tuple(positions[role] for role in ("rating", "timestamp") if role in positions)
    scan = {"sep": sep, "n_columns": len(names) if names else None, "skip_lines": skip,
            "numeric_columns": numeric, "labels": _field_labels(positions, columns)}
    n_fields = len(names) if names is not None else _first_line_field_count(path, sep)
    if sep == "::":
        # Splitting "a::b" on ":" gives the fields a, "", b. The C parser is much faster
        # than the python engine that a multi-character separator needs.
        read_sep, field_of = ":", {role: 2 * p for role, p in positions.items()}
        n_fields = 2 * n_fields - 1
    else:
        read_sep, field_of = sep, dict(positions)
    if max(field_of.values()) >= n_fields:
        raise DataFormatError(
            path, skip + 1,
            f"expected at least {max(positions.values()) + 1} fields, found "
            f"{len(names) if names else _first_line_field_count(path, sep)}",
        )
    try:
        # Naming every field makes the parser reject lines with extra fields.
        raw = pd.read_csv(
            path, sep=read_sep, header=None, skiprows=skip, names=list(range(n_fields)),
            compression=_compression(path), engine="c", skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError as error:
        raise DataFormatError(path, skip + 1, "the table contains no rows") from error
    except (pd.errors.ParserError, ValueError, *_READ_ERRORS) as error:
        _raise_bad_file(path, error, **scan)
    frame = pd.DataFrame({role: raw[field] for role, field in field_of.items()})

    # A short line shows up as a missing value and a bad number as a text column: find
    # the first bad line by rescanning, so the error names the line and the cause.
    has_missing = frame.isna().to_numpy().any()
    has_text = any(not pd.api.types.is_numeric_dtype(frame[role])
                   for role in ("rating", "timestamp") if role in frame)
    if has_missing or has_text:
        found = _find_bad_line(path, **scan)
        if found is not None:
            raise DataFormatError(path, found[0], found[1])
    return frame, skip


def _field_labels(positions: dict, columns: dict) -> dict[int, tuple[str, str | None]]:
    """Return the role and column name of each field read, for error messages."""
    return {p: (role, str(columns[role])) for role, p in positions.items()}


def _first_line_field_count(path: Path, sep: str) -> int:
    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                return len(_split_line(line.rstrip("\r\n"), sep))
    return 0


def _header_names(path: Path, sep: str) -> list[str]:
    with open_text(path) as handle:
        first = handle.readline().rstrip("\r\n")
    names = [field.strip() for field in _split_line(first, sep)]
    return names


def _row_line(path: Path, line_offset: int | None, bad: np.ndarray) -> int | None:
    """Return the line of the first row flagged in ``bad`` (None for Parquet)."""
    if line_offset is None:
        return None
    row = int(np.flatnonzero(bad)[0])
    return _nth_data_line(path, row, skip=line_offset)


def _numeric_column(
    path: Path, values: pd.Series, role: str, column, line_offset: int | None
) -> np.ndarray:
    converted = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    bad = np.isnan(converted)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            path, _row_line(path, line_offset, bad),
            f"{role} {values.iloc[row]!r} in column {column!r} is not a number",
        )
    return converted


def _to_interactions(
    frame: pd.DataFrame,
    rating_threshold: float | None,
    rating_min_exclusive: float | None,
    name: str,
) -> Interactions:
    """Collapse duplicates, apply the rating threshold and map ids to indices."""
    n_rows = len(frame)
    frame = frame.reset_index(drop=True)
    if "timestamp" in frame:
        order = np.lexsort((np.arange(n_rows), frame["timestamp"].to_numpy()))
    else:
        order = np.arange(n_rows)
    # Keep the last row of each (user, item) in time order, then restore file order.
    latest = frame.iloc[order].drop_duplicates(subset=["user", "item"], keep="last")
    frame = latest.sort_index()
    if rating_threshold is not None:
        frame = frame[frame["rating"].to_numpy() >= rating_threshold]
    if rating_min_exclusive is not None:
        frame = frame[frame["rating"].to_numpy() > rating_min_exclusive]
    if len(frame) == 0:
        raise ValueError(f"{name}: no interactions left after the rating threshold.")

    user_codes, user_ids = pd.factorize(frame["user"], sort=False)
    item_codes, item_ids = pd.factorize(frame["item"], sort=False)
    timestamp = frame["timestamp"].to_numpy(np.float64) if "timestamp" in frame else None
    logger.info("read table %s: %d users, %d items, %d interactions (from %d rows)",
                name, len(user_ids), len(item_ids), len(frame), n_rows)
    return Interactions(
        user=user_codes.astype(np.int32), item=item_codes.astype(np.int32),
        n_users=len(user_ids), n_items=len(item_ids), timestamp=timestamp,
        user_ids=np.asarray(user_ids), item_ids=np.asarray(item_ids), name=name,
    )


def _collapse_duplicates(
    user: np.ndarray, item: np.ndarray, timestamp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop repeated (user, item) pairs, keeping the latest timestamp, in first-seen order."""
    n_items = int(item.max(initial=0)) + 1
    key = user.astype(np.int64) * n_items + item
    order = np.lexsort((-timestamp, key))
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    keep = np.sort(order[first])
    if keep.shape[0] == user.shape[0]:
        return user, item, timestamp
    return user[keep], item[keep], timestamp[keep]


# --- GroupLens files ------------------------------------------------------------------

#: GroupLens file names and how to read them (plain or .gz).
GROUPLENS_FILES = {
    "u.data": {"user": 0, "item": 1, "rating": 2, "timestamp": 3, "sep": "\t", "header": False},
    "ratings.dat": {"user": 0, "item": 1, "rating": 2, "timestamp": 3, "sep": "::",
                    "header": False},
    "ratings.csv": {"user": "userId", "item": "movieId", "rating": "rating",
                    "timestamp": "timestamp", "sep": ",", "header": True},
}


def find_grouplens_file(folder: Path) -> Path | None:
    """Return the first GroupLens ratings file in ``folder`` (u.data, ratings.dat, ratings.csv)."""
    for file_name in GROUPLENS_FILES:
        path = find_file(folder, file_name)
        if path is not None:
            return path
    return None


def read_grouplens(path: str | os.PathLike, name: str = "") -> Interactions:
    """Read a GroupLens ratings file: ``u.data`` (ML-100K), ``ratings.dat`` (ML-1M/10M) or
    ``ratings.csv`` (ML-20M, ml-latest), plain or ``.gz``. Every rating is an interaction."""
    path = Path(path)
    layout = GROUPLENS_FILES.get(path.name.removesuffix(".gz"))
    if layout is None:
        raise ValueError(
            f"{path}: not a GroupLens ratings file; expected one of {', '.join(GROUPLENS_FILES)}."
        )
    return read_table(path, name=name or path.parent.name, **layout)
