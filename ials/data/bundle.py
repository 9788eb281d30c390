"""Save and load several sparse matrices plus metadata in one .npz file, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def save_csr_bundle(path: str | os.PathLike, meta: dict, **matrices: sp.spmatrix) -> None:
    """Write ``matrices`` (name -> sparse matrix) and ``meta`` (JSON-able) to ``path``.

    The file is written to a temporary name in the same folder and renamed, so a reader
    never sees a half-written bundle.
    """
    arrays: dict[str, np.ndarray] = {"__meta__": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for name, matrix in matrices.items():
        csr = sp.csr_matrix(matrix)
        arrays[f"{name}__data"] = csr.data
        arrays[f"{name}__indices"] = csr.indices
        arrays[f"{name}__indptr"] = csr.indptr
        arrays[f"{name}__shape"] = np.asarray(csr.shape, dtype=np.int64)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        # mkstemp creates mode 600; give the bundle the mode a plain new file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_csr_bundle(path: str | os.PathLike) -> tuple[dict, dict[str, sp.csr_matrix]]:
    """Read a bundle written by `save_csr_bundle`; return ``(meta, {name: csr_matrix})``."""
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["__meta__"].tobytes().decode())
        names = {key.rsplit("__", 1)[0] for key in archive.files if key != "__meta__"}
        matrices = {
            name: sp.csr_matrix(
                (archive[f"{name}__data"], archive[f"{name}__indices"], archive[f"{name}__indptr"]),
                shape=tuple(archive[f"{name}__shape"]),
            )
            for name in names
        }
    return meta, matrices
