"""Data sets by name: discovery in the data directory, loading and fingerprints.

A data set is a folder ``DATA_DIR/NAME/`` in one of these formats, checked in this order:

1. ``dataset.json``, a manifest written by ``python -m ials data``:
   ``{"format": "table", "file": "interactions.csv", "columns": {"user": ..., "item": ...,
   "rating": ... or null, "timestamp": ... or null}, "sep": ... or null,
   "rating_threshold": ... or null, "rating_min_exclusive": ... or null,
   "description": ...}`` for a table, or ``{"format": "strong-generalization",
   "file": "prepared.npz", "description": ...}`` for a prepared bundle with the matrices
   ``train``, ``validation_fold_in``, ``validation_targets``, ``test_fold_in`` and
   ``test_targets``. ``{"format": "predefined-split", "train_file": "train.csv",
   "test_file": "test.csv", "description": ...}`` is a train file plus a test file, both
   CSV with the columns ``user``, ``item`` and an optional ``timestamp``, as
   ``python -m ials data import TRAIN --test-file TEST`` writes them
   (`ials.data.importer.load_predefined_split` builds its split).
   ``{"format": "ncf"}`` only sets the description of NCF files.
2. NCF leave-one-out files ``NAME.train.rating``, ``NAME.test.rating``,
   ``NAME.test.negative`` (plain or ``.gz``).
3. A GroupLens ratings file: ``u.data``, ``ratings.dat`` or ``ratings.csv`` (plain or
   ``.gz``).

``synthetic`` and its variants (`ials.data.synthetic`) need no folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ials import paths
from ials.data import synthetic
from ials.data.bundle import load_csr_bundle
from ials.data.readers import (
    DataFormatError,
    find_file,
    find_grouplens_file,
    read_grouplens,
    read_ncf,
    read_table,
)
from ials.data.types import Interactions

logger = logging.getLogger(__name__)

MANIFEST_NAME = "dataset.json"
#: Values of ``"format"`` a ``dataset.json`` may have.
MANIFEST_FORMATS = ("table", "strong-generalization", "predefined-split", "ncf")
FORMATS = ("ncf", "table", "synthetic", "strong-generalization", "predefined-split")

#: Matrices a prepared strong-generalization bundle must contain.
BUNDLE_MATRICES = (
    "train", "validation_fold_in", "validation_targets", "test_fold_in", "test_targets",
)

#: Protocols each format allows, the default first.
FORMAT_PROTOCOLS = {
    "ncf": ("loo-sampled", "leave-last-out", "heldout-users", "strong-generalization"),
    "table": ("leave-last-out", "loo-sampled", "heldout-users", "strong-generalization"),
    "synthetic": ("leave-last-out", "loo-sampled", "heldout-users", "strong-generalization"),
    "strong-generalization": ("strong-generalization",),
    "predefined-split": ("predefined-split",),
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class DatasetNotFoundError(ValueError):
    """No data set of that name exists in the data directory."""

    def __init__(self, name: str, data_dir: Path, available: list[str], reason: str = ""):
        self.name = name
        self.data_dir = data_dir
        self.available = available
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"data set {name!r} not found in {data_dir}{detail}; available: "
            f"{', '.join(available)}. Put files in {data_dir}/NAME/ or run "
            "`python -m ials data` to download or import one."
        )


@dataclass
class DatasetInfo:
    """One data set the registry found.

    Attributes
    ----------
    name : str
        Name to pass to `load_split` (the folder name, or a synthetic variant).
    format : str
        ``"ncf"``, ``"table"``, ``"synthetic"``, ``"strong-generalization"`` or
        ``"predefined-split"``.
    path : Path or None
        The data set's folder (None for synthetic data).
    default_protocol : str
        Protocol used when a run names none.
    protocols : tuple of str
        Protocols this data set allows.
    description : str
        One or two sentences for the UI.
    files : tuple of Path
        Files the data set is read from; `dataset_fingerprint` hashes exactly these.
    manifest : dict
        Parsed ``dataset.json`` (empty for other formats).
    """

    name: str
    format: str
    path: Path | None
    default_protocol: str
    protocols: tuple[str, ...]
    description: str = ""
    files: tuple[Path, ...] = ()
    manifest: dict = field(default_factory=dict)


def _synthetic_info(name: str) -> DatasetInfo:
    params = synthetic.synthetic_params(name)
    description = synthetic.VARIANT_DESCRIPTIONS.get(
        name,
        f"Generated data, {params.n_users} users × {params.n_items} items, about "
        f"{params.n_interactions:,} interactions.",
    )
    protocols = FORMAT_PROTOCOLS["synthetic"]
    return DatasetInfo(name, "synthetic", None, protocols[0], protocols, description)


def list_datasets(data_dir: str | os.PathLike | None = None) -> list[DatasetInfo]:
    """List the data sets available: the synthetic ones first, then folders by name.

    Folders without a recognized format are skipped; a folder whose ``dataset.json`` is
    invalid is skipped with a warning in the log.
    """
    root = paths.data_dir(data_dir)
    found = [_synthetic_info(name) for name in synthetic.VARIANTS]
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if not folder.is_dir() or not _NAME.match(folder.name):
            continue
        try:
            info = _detect(folder)
        except (DataFormatError, OSError) as error:
            logger.warning("skipping data set folder %s: %s", folder, error)
            continue
        if info is not None:
            found.append(info)
    return found


def dataset_info(name: str, data_dir: str | os.PathLike | None = None) -> DatasetInfo:
    """Return the `DatasetInfo` of ``name``.

    Raises
    ------
    DatasetNotFoundError
        No such folder, or the folder contains no recognized data files.
    DataFormatError
        The folder's ``dataset.json`` is invalid.
    """
    root = paths.data_dir(data_dir)
    if not isinstance(name, str) or not name:
        raise ValueError(f"data set name must be a non-empty string, got {name!r}.")
    if synthetic.is_synthetic_name(name):
        return _synthetic_info(name)
    if not _NAME.match(name):
        raise DatasetNotFoundError(
            name, root, _available(root),
            "a name contains only letters, digits, '.', '_' and '-'",
        )
    folder = root / name
    info = _detect(folder) if folder.is_dir() else None
    if info is None:
        reason = "no such folder" if not folder.is_dir() else "no recognized data files in it"
        raise DatasetNotFoundError(name, root, _available(root), reason)
    return info


def _available(root: Path) -> list[str]:
    return [info.name for info in list_datasets(root)]


def _detect(folder: Path) -> DatasetInfo | None:
    """Return the data set in ``folder``, or None when no format matches."""
    name = folder.name
    manifest_path = folder / MANIFEST_NAME
    manifest = _read_manifest(manifest_path) if manifest_path.is_file() else None
    if manifest is not None and manifest["format"] != "ncf":
        return _manifest_info(folder, manifest_path, manifest)

    ncf = [find_file(folder, f"{name}.{part}")
           for part in ("train.rating", "test.rating", "test.negative")]
    if all(path is not None for path in ncf):
        protocols = FORMAT_PROTOCOLS["ncf"]
        description = (manifest or {}).get("description") or (
            "NCF leave-one-out files: held-out test item per user with 99 sampled "
            "negatives (HR@10, NDCG@10)."
        )
        return DatasetInfo(name, "ncf", folder, protocols[0], protocols, str(description),
                           files=tuple(ncf))
    if manifest is not None:
        raise DataFormatError(
            manifest_path, None,
            f"format is \"ncf\" but {name}.train.rating, {name}.test.rating or "
            f"{name}.test.negative (plain or .gz) is missing",
        )

    grouplens = find_grouplens_file(folder)
    if grouplens is not None:
        protocols = FORMAT_PROTOCOLS["table"]
        return DatasetInfo(
            name, "table", folder, protocols[0], protocols,
            f"GroupLens ratings file {grouplens.name}; every rating is an interaction.",
            files=(grouplens,),
        )
    return None


def _manifest_info(folder: Path, manifest_path: Path, manifest: dict) -> DatasetInfo:
    data_format = manifest["format"]
    # A predefined split's training file is files[1], so the table reader reads it.
    file_keys = ("train_file", "test_file") if data_format == "predefined-split" else ("file",)
    data_files = []
    for key in file_keys:
        data_file = folder / manifest[key]
        if not data_file.is_file():
            raise DataFormatError(
                manifest_path, None,
                f"the file its {key} names, {manifest[key]!r}, does not exist",
            )
        data_files.append(data_file)
    protocols = FORMAT_PROTOCOLS[data_format]
    description = manifest.get("description") or _DEFAULT_DESCRIPTIONS.get(data_format)
    if not description:
        description = f"Table {data_files[0].name}."
    return DatasetInfo(
        folder.name, data_format, folder, protocols[0], protocols, str(description),
        files=(manifest_path, *data_files), manifest=manifest,
    )


_DEFAULT_DESCRIPTIONS = {
    "strong-generalization":
        "Prepared strong-generalization split (held-out users with fold-in history).",
    "predefined-split":
        "Predefined train/test split (full ranking of the test items, Recall@k and NDCG@k).",
}


def _read_manifest(path: Path) -> dict:
    """Parse and check ``dataset.json``; raise DataFormatError naming the problem."""
    try:
        text = path.read_text(encoding="utf-8")
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFormatError(path, error.lineno, f"invalid JSON: {error.msg}") from error
    except UnicodeDecodeError as error:
        raise DataFormatError(path, None, f"not UTF-8 text: {error}") from error
    if not isinstance(manifest, dict):
        raise DataFormatError(path, 1, "expected a JSON object")
    data_format = manifest.get("format")
    if data_format not in MANIFEST_FORMATS:
        allowed = ", ".join(f'"{name}"' for name in MANIFEST_FORMATS)
        raise DataFormatError(path, None, f"format must be one of {allowed}, got {data_format!r}")
    if data_format == "ncf":
        return manifest
    file_keys = ("train_file", "test_file") if data_format == "predefined-split" else ("file",)
    for key in file_keys:
        file_name = manifest.get(key)
        if (not isinstance(file_name, str) or not file_name or "/" in file_name
                or "\\" in file_name):
            raise DataFormatError(
                path, None, f"{key} must name a file in the same folder, got {file_name!r}"
            )
    if data_format == "predefined-split" and manifest["train_file"] == manifest["test_file"]:
        raise DataFormatError(
            path, None,
            f"train_file and test_file must be two files, both are {manifest['test_file']!r}",
        )
    if data_format == "table":
        columns = manifest.get("columns")
        if not isinstance(columns, dict) or not columns.get("user") or not columns.get("item"):
            raise DataFormatError(
                path, None,
                "columns must be an object naming at least the user and item columns, "
                f"got {columns!r}",
            )
        unknown = sorted(set(columns) - {"user", "item", "rating", "timestamp"})
        if unknown:
            raise DataFormatError(path, None, f"unknown column role(s) {', '.join(unknown)}")
    return manifest


# --- loading --------------------------------------------------------------------------


def load_interactions(name: str, data_dir: str | os.PathLike | None = None) -> Interactions:
    """Read data set ``name`` into an `Interactions`.

    For a prepared strong-generalization bundle, the result stacks the training users and
    then the validation and test users (fold-in history plus targets), for statistics. For
    a predefined split it is the training file only, indexed on its own: its indices
    differ from those of `ials.data.load_split`, which indexes train and test together.
    """
    info = dataset_info(name, data_dir)
    return read_dataset(info)


def read_dataset(info: DatasetInfo) -> Interactions:
    """Read the data set ``info`` describes."""
    if info.format == "synthetic":
        return synthetic.generate(synthetic.synthetic_params(info.name), name=info.name)
    if info.format == "ncf":
        return read_ncf(info.path, info.name)
    if info.format == "strong-generalization":
        return _bundle_interactions(info)
    if info.manifest:
        return _read_manifest_table(info)
    return read_grouplens(info.files[0], name=info.name)


def _read_manifest_table(info: DatasetInfo) -> Interactions:
    """Read the table a manifest names (a predefined split's training file)."""
    manifest = info.manifest
    manifest_path = info.files[0]
    if info.format == "predefined-split":
        # The importer writes the columns user, item and, when given, timestamp.
        written = manifest.get("columns")
        timestamp = written.get("timestamp") if isinstance(written, dict) else None
        columns = {"user": "user", "item": "item", "timestamp": timestamp}
    else:
        columns = manifest["columns"]
    try:
        return read_table(
            info.files[1],
            user=columns["user"], item=columns["item"],
            rating=columns.get("rating"), timestamp=columns.get("timestamp"),
            sep=manifest.get("sep"),
            rating_threshold=manifest.get("rating_threshold"),
            rating_min_exclusive=manifest.get("rating_min_exclusive"),
            header=manifest.get("header", True),
            name=info.name,
        )
    except DataFormatError:
        raise
    except (ValueError, TypeError) as error:
        raise DataFormatError(manifest_path, None, str(error)) from error


def load_bundle(info: DatasetInfo) -> dict[str, sp.csr_matrix]:
    """Load a prepared strong-generalization bundle and check its matrices."""
    bundle_path = info.files[1]
    try:
        _, matrices = load_csr_bundle(bundle_path)
    except (OSError, ValueError, KeyError) as error:
        raise DataFormatError(bundle_path, None, f"cannot read the bundle: {error}") from error
    missing = [name for name in BUNDLE_MATRICES if name not in matrices]
    if missing:
        raise DataFormatError(
            bundle_path, None,
            f"missing matrices {', '.join(missing)}; found {', '.join(sorted(matrices))}",
        )
    n_items = matrices["train"].shape[1]
    for name in BUNDLE_MATRICES:
        if matrices[name].shape[1] != n_items:
            raise DataFormatError(
                bundle_path, None,
                f"matrix {name} has {matrices[name].shape[1]} item columns, train has {n_items}",
            )
    for prefix in ("validation", "test"):
        fold_in, targets = matrices[f"{prefix}_fold_in"], matrices[f"{prefix}_targets"]
        if fold_in.shape[0] != targets.shape[0]:
            raise DataFormatError(
                bundle_path, None,
                f"{prefix}_fold_in has {fold_in.shape[0]} rows but {prefix}_targets has "
                f"{targets.shape[0]}; row k of both must be the same user",
            )
    return matrices


def _bundle_interactions(info: DatasetInfo) -> Interactions:
    matrices = load_bundle(info)
    stacked = sp.vstack([
        matrices["train"],
        matrices["validation_fold_in"] + matrices["validation_targets"],
        matrices["test_fold_in"] + matrices["test_targets"],
    ]).tocoo()
    return Interactions(
        user=stacked.row.astype(np.int32), item=stacked.col.astype(np.int32),
        n_users=stacked.shape[0], n_items=stacked.shape[1], name=info.name,
    )


# --- fingerprints ---------------------------------------------------------------------

#: (path, size, mtime_ns) -> sha256 of the name and bytes, so repeated calls stay cheap.
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_signature(info: DatasetInfo) -> tuple:
    """Return (name, size, mtime_ns) of each file: changes when a file is rewritten."""
    signature = []
    for path in info.files:
        stat = path.stat()
        signature.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(signature)


def dataset_fingerprint(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Return a sha256 hex digest identifying the data set's content.

    For files: sha256 over each file's name and bytes, in the order of
    `DatasetInfo.files`, cached by size and modification time. For synthetic data: the
    digest of the generator parameters and version.
    """
    info = dataset_info(name, data_dir)
    if info.format == "synthetic":
        return synthetic.synthetic_params(name).fingerprint()
    digest = hashlib.sha256()
    for path in info.files:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(_file_hash(path).encode())
    return digest.hexdigest()


def _file_hash(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _FILE_HASHES.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    _FILE_HASHES[key] = digest.hexdigest()
    return _FILE_HASHES[key]


def default_protocol(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Return the protocol a run on ``name`` uses when it names none.

    NCF files: ``loo-sampled``; prepared strong-generalization bundles:
    ``strong-generalization``; synthetic data and other tables: ``leave-last-out``.
    """
    return dataset_info(name, data_dir).default_protocol
