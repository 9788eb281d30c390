"""CSR bundles: round trip, atomic write, file mode."""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from ials.data.bundle import load_csr_bundle, save_csr_bundle


def test_bundle_round_trip(tmp_path):
    train = sp.random(20, 15, density=0.2, format="csr", dtype=np.float32, random_state=0)
    targets = sp.random(4, 15, density=0.3, format="csr", dtype=np.float32, random_state=1)
    path = tmp_path / "prepared.npz"
    save_csr_bundle(path, {"version": 2, "name": "x"}, train=train, targets=targets)
    meta, matrices = load_csr_bundle(path)
    assert meta == {"version": 2, "name": "x"}
    assert set(matrices) == {"train", "targets"}
    assert (matrices["train"] != train).nnz == 0
    assert matrices["targets"].shape == (4, 15)
    assert [p.name for p in tmp_path.iterdir()] == ["prepared.npz"]  # no temp file left


def test_bundle_has_plain_file_mode(tmp_path):
    old_umask = os.umask(0o022)
    try:
        save_csr_bundle(tmp_path / "b.npz", {}, m=sp.eye(3, format="csr"))
    finally:
        os.umask(old_umask)
    assert (tmp_path / "b.npz").stat().st_mode & 0o777 == 0o644
