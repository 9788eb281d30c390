"""Seconds per training epoch on ML-1M: our solvers next to `implicit`, in one run.

Usage::

    python benchmarks/bench_solvers.py [--data-dir data] [--dims 64 128 256 512]
                                       [--epochs 3] [--skip-implicit]

For every d it times our exact and cg solvers and implicit's AlternatingLeastSquares with
use_cg False and True; at d = 512 and 1024 it also times our block solver with b = 64 and
128. Each figure is the median of ``--epochs`` epochs after one warm-up epoch. Both
libraries use every core (numba threads, implicit's num_threads) with BLAS capped at one
thread (threadpoolctl).

Settings: α₀ = 0.1, λ = 0.003, ν = 1. implicit gets alpha = 1 + 1/α₀ = 11, so observed
pairs carry the same weight relative to unobserved ones as in our loss; with alpha = 1 on
binary data implicit would skip the observed-item work and time a different model.
implicit's λ has no frequency scaling, which does not change the work per epoch.

Targets (ratios in the same run): exact ≤ 0.3× implicit Cholesky and cg ≤ 1.0× implicit
CG at every d; block b = 64 ≤ 0.25× our exact at d = 512.

Our exact solver solves rows with fewer than d interactions through an n × n system
(Woodbury identity), which makes it much faster than a d × d Cholesky per row at large d.
The block table therefore also times the classic exact solver (d × d system for every
row, ``IALS.woodbury = False``), the baseline iALS++ was designed to beat.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from ials.config import IALSConfig  # noqa: E402
from ials.data import load_split  # noqa: E402
from ials.model import IALS  # noqa: E402

ALPHA0 = 0.1
REG = 0.003


def time_ours(train, dim: int, solver: str, epochs: int, block_size: int = 128,
              woodbury: bool = True) -> float:
    config = IALSConfig(dim=dim, alpha0=ALPHA0, reg=REG, nu=1.0, epochs=epochs + 1,
                        solver=solver, block_size=block_size, cg_steps=3)
    model = IALS(config)
    model.woodbury = woodbury
    seconds = [stats.seconds for stats in model.fit_epochs(train)]
    return statistics.median(seconds[1:])


def time_implicit(train, dim: int, use_cg: bool, epochs: int) -> float:
    from implicit.cpu.als import AlternatingLeastSquares

    seconds: list[float] = []
    model = AlternatingLeastSquares(
        factors=dim, regularization=REG, alpha=1.0 + 1.0 / ALPHA0, use_cg=use_cg,
        iterations=epochs + 1, num_threads=os.cpu_count() or 1, dtype=np.float32,
        calculate_training_loss=False, random_state=0,
    )
    with threadpool_limits(limits=1, user_api="blas"):
        model.fit(train, show_progress=False, callback=lambda it, elapsed, loss: seconds.append(elapsed))
    return statistics.median(seconds[1:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--block-dims", type=int, nargs="*", default=[512, 1024])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up")
    parser.add_argument("--skip-implicit", action="store_true")
    args = parser.parse_args(argv)

    train = load_split("ml-1m", protocol="loo-sampled", split="test", data_dir=args.data_dir).train
    print(f"ML-1M training matrix: {train.shape[0]} users × {train.shape[1]} items, "
          f"{train.nnz} interactions; {os.cpu_count()} cores; median of {args.epochs} "
          "epochs after one warm-up\n")

    # Compile (or load from numba's cache) before timing anything.
    for solver in ("exact", "cg", "block"):
        time_ours(train[:200], 8, solver, 1, block_size=4)

    rows = []
    exact_by_dim = {}
    for dim in args.dims:
        started = time.perf_counter()
        exact = time_ours(train, dim, "exact", args.epochs)
        cg = time_ours(train, dim, "cg", args.epochs)
        exact_by_dim[dim] = exact
        peer_chol = peer_cg = float("nan")
        if not args.skip_implicit:
            peer_chol = time_implicit(train, dim, False, args.epochs)
            peer_cg = time_implicit(train, dim, True, args.epochs)
        rows.append((dim, exact, peer_chol, exact / peer_chol, cg, peer_cg, cg / peer_cg))
        print(f"  d = {dim} done in {time.perf_counter() - started:.0f} s", flush=True)

    print("\nseconds per epoch (ratio = ours / implicit; targets exact ≤ 0.30, cg ≤ 1.00)")
    print(f"{'d':>6} {'exact':>9} {'implicit':>9} {'ratio':>7} {'cg':>9} {'impl. cg':>9} {'ratio':>7}")
    for dim, exact, peer_chol, r1, cg, peer_cg, r2 in rows:
        print(f"{dim:>6} {exact:>9.3f} {peer_chol:>9.3f} {r1:>7.2f} {cg:>9.3f} {peer_cg:>9.3f} {r2:>7.2f}")

    print("\nblock solver; ratios = block / exact at the same d (target b = 64 at d = 512 ≤ 0.25)")
    print(f"{'d':>6} {'b':>5} {'block':>9} {'exact':>9} {'ratio':>7} {'classic':>9} {'ratio':>7}")
    for dim in args.block_dims:
        exact = exact_by_dim.get(dim)
        if exact is None:
            exact = time_ours(train, dim, "exact", args.epochs)
        # The classic d × d solve costs O(d³) per row: skipped above d = 512 (minutes per epoch).
        classic = (time_ours(train, dim, "exact", args.epochs, woodbury=False)
                   if dim <= 512 else float("nan"))
        for block_size in (64, 128):
            block = time_ours(train, dim, "block", args.epochs, block_size=block_size)
            print(f"{dim:>6} {block_size:>5} {block:>9.3f} {exact:>9.3f} {block / exact:>7.2f} "
                  f"{classic:>9.3f} {block / classic:>7.2f}", flush=True)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
