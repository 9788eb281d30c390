"""Data sets and evaluation splits.

Typical use::

    from ials import data
    split = data.load_split("ml-1m")                  # default protocol, validation split
    split.train                                       # csr_matrix, users × items, binary
    split.eval_task                                   # scored after every epoch
    data.list_datasets()                              # what the data directory contains

`load_split` caches results per process, because a worker running a sweep loads the same
split for every run. Treat the returned `Split` as read-only: later calls return the same
object.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict

from ials import paths
from ials.config import PROTOCOLS, SPLITS
from ials.data.importer import load_predefined_split
from ials.data.protocols import make_split, split_from_bundle
from ials.data.readers import DataFormatError, read_grouplens, read_ncf, read_table
from ials.data.registry import (
    DatasetInfo,
    DatasetNotFoundError,
    dataset_fingerprint,
    dataset_info,
    default_protocol,
    file_signature,
    list_datasets,
    load_bundle,
    load_interactions,
    read_dataset,
)
from ials.data.types import Interactions, RankingTask, SampledTask, Split

__all__ = [
    "DataFormatError", "DatasetInfo", "DatasetNotFoundError", "Interactions",
    "RankingTask", "SampledTask", "Split", "clear_cache", "dataset_fingerprint",
    "dataset_info", "default_protocol", "list_datasets", "load_interactions",
    "load_split", "make_split", "read_grouplens", "read_ncf", "read_table",
]

logger = logging.getLogger(__name__)

#: Splits and data sets kept per process. A split of ML-20M takes a few hundred MB, so
#: the caches stay small.
SPLIT_CACHE_SIZE = 4
INTERACTIONS_CACHE_SIZE = 2

_splits: OrderedDict = OrderedDict()
_interactions: OrderedDict = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached split and data set."""
    with _lock:
        _splits.clear()
        _interactions.clear()


def _cache_get(cache: OrderedDict, key):
    with _lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    return None


def _cache_put(cache: OrderedDict, key, value, size: int) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)


def load_split(
    name: str,
    protocol: str | None = None,
    split: str = "validation",
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> Split:
    """Load data set ``name`` and build the ``split`` of ``protocol`` with ``seed``.

    Parameters
    ----------
    name : str
        Data set name (`list_datasets`).
    protocol : str or None
        One of the data set's allowed protocols; None picks its default.
    split : str
        ``"validation"`` or ``"test"``.
    seed : int
        Split seed (≥ 0); fixes held-out items, users and sampled negatives. A prepared
        strong-generalization bundle is already split, so the seed has no effect there.
        On a predefined split it only picks the validation items held out of training.
    data_dir : path or None
        Data directory; None uses ``$IALS_DATA_DIR`` or ``data/``.

    Raises
    ------
    DatasetNotFoundError
        Unknown data set name.
    DataFormatError
        Malformed data file.
    ValueError
        Protocol not allowed for this data set, unknown split, invalid seed.
    """
    info = dataset_info(name, data_dir)
    protocol = protocol or info.default_protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}.")
    if protocol not in info.protocols:
        raise ValueError(
            f"data set {name!r} ({info.format}) does not support protocol {protocol!r}; "
            f"use one of {', '.join(info.protocols)}."
        )
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}.")

    root = str(paths.data_dir(data_dir).resolve())
    signature = file_signature(info)
    key = (name, protocol, split, seed, root, signature)
    cached = _cache_get(_splits, key)
    if cached is not None:
        return cached

    if info.format == "strong-generalization":
        result = split_from_bundle(load_bundle(info), split, name=name)
    elif info.format == "predefined-split":
        result = load_predefined_split(info.path, split=split, seed=seed)
    else:
        interactions = _load_cached(info, root, signature)
        result = make_split(interactions, protocol, split, seed)
    _cache_put(_splits, key, result, SPLIT_CACHE_SIZE)
    return result


def _load_cached(info: DatasetInfo, root: str, signature: tuple) -> Interactions:
    key = (info.name, root, signature)
    cached = _cache_get(_interactions, key)
    if cached is None:
        cached = read_dataset(info)
        _cache_put(_interactions, key, cached, INTERACTIONS_CACHE_SIZE)
    return cached
