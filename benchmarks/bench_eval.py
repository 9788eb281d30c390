"""Time full-ranking evaluation on synthetic factors and print a table.

The default case is 10,000 users × 20,000 items at d = 256, with 50 excluded items and
10 targets per user, ranked for Recall@20/50/100 and NDCG@20/50/100. For each dtype and
batch size the script reports:

- seconds: median wall time of ``--repeats`` calls of `ials.evaluation.evaluate` after
  one warm-up;
- best s: the fastest of those calls, closer to the figure on an idle machine;
- CPU s: median process CPU time (user + system, all threads) of those calls. It varies
  less than wall time when other processes share the cores;
- users/s: users divided by the median seconds;
- products s: median wall time of the batch products ``U_batch @ H.T`` alone (BLAS);
- traced MB: peak of the memory that numpy allocated during one call (tracemalloc);
- RSS MB: peak growth of the process's resident memory during that call (psutil,
  sampled every 5 ms, so a short spike can be missed).

Run from the project root::

    /work/venv/bin/python benchmarks/bench_eval.py
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import scipy.sparse as sp
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ials.data.types import RankingTask  # noqa: E402
from ials.evaluation import evaluate  # noqa: E402


class SyntheticModel:
    """Model with random factors of trained users (the benchmark task has no fold-in)."""

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors = user_factors
        self.item_factors = item_factors

    def fold_in(self, history):
        raise NotImplementedError("the benchmark task has no fold-in users")


def build_task(n_users: int, n_items: int, n_excluded: int, n_targets: int, seed: int):
    """Draw disjoint excluded and target items for every user (CSR, n_users × n_items)."""
    rng = np.random.default_rng(seed)
    per_user = n_excluded + n_targets
    items = np.empty((n_users, per_user), dtype=np.int32)
    for u in range(n_users):
        items[u] = rng.choice(n_items, per_user, replace=False)

    def to_csr(columns: np.ndarray) -> sp.csr_matrix:
        n_per_row = columns.shape[1]
        indptr = np.arange(0, n_users * n_per_row + 1, n_per_row)
        data = np.ones(columns.size, dtype=np.float32)
        matrix = sp.csr_matrix((data, columns.ravel(), indptr), shape=(n_users, n_items))
        matrix.sort_indices()
        return matrix

    return RankingTask(
        targets=to_csr(items[:, n_excluded:]),
        exclude=to_csr(items[:, :n_excluded]),
        users=np.arange(n_users, dtype=np.int32),
        ks=(20, 50, 100),
        metrics=("Recall", "NDCG"),
    )


def time_calls(function, repeats: int) -> tuple[float, float, float]:
    """Return (median wall s, best wall s, median CPU s) of ``repeats`` calls after a warm-up."""
    function()  # warm-up: page in the factors, start the BLAS and numba threads
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def products_only(model: SyntheticModel, batch_users: int) -> None:
    user_factors, item_factors = model.user_factors, model.item_factors
    for start in range(0, user_factors.shape[0], batch_users):
        user_factors[start : start + batch_users] @ item_factors.T


def peak_memory(function) -> tuple[float, float]:
    """Run ``function`` once; return (peak traced MB, peak RSS growth MB)."""
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak_rss = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss
        while not done.is_set():
            peak_rss = max(peak_rss, process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    tracemalloc.start()
    try:
        function()
        _, peak_traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        done.set()
        sampler.join()
    return peak_traced / 2**20, (peak_rss - baseline) / 2**20


def describe_machine() -> str:
    blas = ", ".join(
        f"{info['internal_api']} {info.get('version')} ({info['num_threads']} threads)"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, BLAS: {blas}, "
        f"load average {load}"
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000, help="evaluated users")
    parser.add_argument("--items", type=int, default=20_000, help="items ranked per user")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension d")
    parser.add_argument("--excluded", type=int, default=50, help="excluded items per user")
    parser.add_argument("--targets", type=int, default=10, help="target items per user")
    parser.add_argument(
        "--dtypes", nargs="+", default=["float32", "float64"], help="factor dtypes to time"
    )
    parser.add_argument(
        "--batch-users", nargs="+", type=int, default=[1024, 2048],
        help="users per batch (batch_users of evaluate) to time",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after warm-up")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    task = build_task(args.users, args.items, args.excluded, args.targets, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    scale = 1 / np.sqrt(args.dim)
    user_factors = rng.standard_normal((args.users, args.dim)) * scale
    item_factors = rng.standard_normal((args.items, args.dim)) * scale

    print(f"Machine: {describe_machine()}")
    print(
        f"Full ranking: {args.users} users × {args.items} items, d = {args.dim}, "
        f"{args.excluded} excluded and {args.targets} targets per user, "
        f"median of {args.repeats} after 1 warm-up"
    )
    header = (
        f"{'dtype':<8} {'batch':>6} {'seconds':>8} {'best s':>7} {'CPU s':>6} {'users/s':>8} "
        f"{'products s':>10} {'traced MB':>9} {'RSS MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for dtype in args.dtypes:
        model = SyntheticModel(user_factors.astype(dtype), item_factors.astype(dtype))
        for batch_users in args.batch_users:
            seconds, best, cpu = time_calls(
                lambda: evaluate(model, task, batch_users), args.repeats
            )
            products, _, _ = time_calls(lambda: products_only(model, batch_users), args.repeats)
            traced, rss = peak_memory(lambda: evaluate(model, task, batch_users))
            print(
                f"{dtype:<8} {batch_users:>6} {seconds:>8.3f} {best:>7.3f} {cpu:>6.2f} "
                f"{args.users / seconds:>8.0f} {products:>10.3f} {traced:>9.0f} {rss:>7.0f}"
            )
    metrics = evaluate(model, task)
    print("Metrics of the last model (random factors, near chance): " + ", ".join(
        f"{key} {value:.4f}" for key, value in metrics.items()
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
