"""Test-split quality on ML-1M (NCF files) for each solver and d, over several seeds.

Usage::

    python benchmarks/bench_quality.py [--data-dir data] [--dims 64 192] [--seeds 0 1 2]
                                       [--solvers exact block cg] [--epochs 16]

Settings are those of the 2021 iALS study's ML-1M runs: ν = 1, α₀ = 0.3, λ = 0.007,
σ* = 0.1, loo-sampled protocol, test split. The block solver uses b = d/3 rounded to
a multiple of 32 (32 at d = 64, 64 at d = 192); cg uses 3 steps. Prints HR@10 and NDCG@10
of the final model per seed, then mean ± standard deviation per setting.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ials.config import IALSConfig, RunSpec  # noqa: E402
from ials.experiment import Experiment  # noqa: E402


def block_size_for(dim: int) -> int:
    return max(32, (dim // 3) // 32 * 32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 192])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--solvers", nargs="+", default=["exact", "block", "cg"])
    parser.add_argument("--epochs", type=int, default=16)
    args = parser.parse_args(argv)

    print(f"{'d':>5} {'solver':>7} {'seed':>5} {'HR@10':>8} {'NDCG@10':>8} {'seconds':>8}")
    summary = []
    for dim in args.dims:
        for solver in args.solvers:
            results = []
            for seed in args.seeds:
                model = IALSConfig(dim=dim, alpha0=0.3, reg=0.007, nu=1.0, sigma=0.1,
                                   epochs=args.epochs, solver=solver,
                                   block_size=block_size_for(dim), cg_steps=3, seed=seed)
                spec = RunSpec(dataset="ml-1m", protocol="loo-sampled", split="test", model=model)
                started = time.perf_counter()
                experiment = Experiment(spec, data_dir=args.data_dir).prepare()
                for _ in experiment.epochs():
                    pass
                final = experiment.final_metrics()
                seconds = time.perf_counter() - started
                results.append(final)
                print(f"{dim:>5} {solver:>7} {seed:>5} {final['HR@10']:>8.4f} "
                      f"{final['NDCG@10']:>8.4f} {seconds:>8.1f}", flush=True)
            summary.append((dim, solver, results))

    print(f"\nmean ± std over seeds {args.seeds}, {args.epochs} epochs")
    print(f"{'d':>5} {'solver':>7} {'HR@10':>17} {'NDCG@10':>17}")
    for dim, solver, results in summary:
        cells = []
        for key in ("HR@10", "NDCG@10"):
            values = [r[key] for r in results]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {spread:.4f}")
        print(f"{dim:>5} {solver:>7} {cells[0]:>17} {cells[1]:>17}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
