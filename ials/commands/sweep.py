"""`python -m ials sweep`: tune α₀ and λ on a grid and report the best setting.

The command queues one run per grid cell and seed in the run store (as one sweep), starts
``--workers`` worker processes that train the queue and exit when it is empty, and polls
the store. Text output is a table row per finished run and, at the end, the cells sorted
by the metric and the tuning advice (`ials.advice`). With ``--json`` each line is one JSON
object: one per finished run, then a last object with ``"final": true`` naming the best
setting (``alpha0``, ``reg``, ``nu``, ``metric``, ``value``, ``best_epoch``) and the
``advice``. Every metric is read at the run's best epoch by
the validation metric.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from ials.commands.train import add_train_arguments, spec_from_args
from ials.sweeps import BROAD_SEARCH_EPOCHS, DEFAULT_ALPHA0S, DEFAULT_REGS

logger = logging.getLogger(__name__)

#: Seconds between looks at the run store while the sweep runs.
POLL_SECONDS = 0.5
#: Times the command restarts its workers when they all exited with runs still queued,
#: e.g. after a crash on start. After that it exits with an error and leaves the runs queued.
MAX_WORKER_RESTARTS = 3
#: Seconds to wait for the workers to stop after SIGTERM before killing them.
STOP_TIMEOUT_SECONDS = 15.0


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sweep",
        help="tune α₀ and λ on a grid of runs trained by worker processes",
        description=(
            "Queue one run per (ν, α₀, λ, seed) cell as one sweep in the run store, train "
            "them with worker processes, print a row per finished run and name the best "
            "setting by the validation metric at each run's best epoch."
        ),
    )
    add_train_arguments(parser, grid=True)
    parser.set_defaults(epochs=BROAD_SEARCH_EPOCHS)
    grid = parser.add_argument_group("grid")
    grid.add_argument("--alpha0", type=float, nargs="+", default=list(DEFAULT_ALPHA0S),
                      metavar="A",
                      help="unobserved weights α₀ > 0 to try (default "
                           f"{' '.join(f'{v:g}' for v in DEFAULT_ALPHA0S)})")
    grid.add_argument("--reg", type=float, nargs="+", default=list(DEFAULT_REGS), metavar="L",
                      help="regularizations λ > 0 to try, or λ* with --normalized-reg "
                           f"(default {' '.join(f'{v:g}' for v in DEFAULT_REGS)})")
    grid.add_argument("--nu", type=float, nargs="+", default=None, metavar="NU",
                      help="frequency exponents ν ≥ 0 to try (default: 1 only)")
    grid.add_argument("--seeds", type=int, default=1, metavar="N",
                      help="seeds per cell, from --seed upwards (default 1; ≥ 2 measures "
                           "the noise)")
    grid.add_argument("--metric", default=None,
                      help="validation metric that picks the best epoch and cell, e.g. "
                           "HR@10 or Recall@20 (default: the first metric the protocol "
                           "reports)")
    grid.add_argument("--name", default=None, help="name of the sweep in the run store")
    execution = parser.add_argument_group("execution")
    execution.add_argument("--runs-dir", default=None,
                           help="run-store directory (default $IALS_RUNS_DIR or runs/)")
    execution.add_argument("--workers", type=int, default=1, metavar="N",
                           help="worker processes to start; each gets cores / N numba "
                                "threads (default 1)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per line instead of a table")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ials.runs.store import RunStore
    from ials.sweeps import launch_sweep

    if args.workers < 1:
        print(f"error: --workers must be ≥ 1, got {args.workers}.", file=sys.stderr)
        return 2
    try:
        # The grid flags are lists; the base spec takes their first values, and
        # launch_sweep replaces them cell by cell.
        base_spec = spec_from_args(
            args, alpha0=args.alpha0[0], reg=args.reg[0],
            nu=1.0 if args.nu is None else args.nu[0],
        ).validate()
        store = RunStore(args.runs_dir)
        sweep_id = launch_sweep(
            store, base_spec, args.alpha0, args.reg, args.nu, args.seeds, name=args.name
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    printer = _JsonPrinter() if args.json else _TablePrinter()
    total = len(store.get_sweep(sweep_id)["run_ids"])
    printer.start(sweep_id, total, store.path)
    pool = _WorkerPool(store.runs_dir, args.data_dir, args.workers)
    try:
        pool.start()
        metric = _follow(store, sweep_id, pool, printer, args.metric)
    except KeyboardInterrupt:
        _cancel_sweep(store, sweep_id)
        raise
    except RuntimeError as error:
        print(f"error: {error} The queued runs stay in sweep {sweep_id}.", file=sys.stderr)
        return 1
    finally:
        pool.stop()
    return _finish(store, sweep_id, printer, metric)


def _follow(store, sweep_id: str, pool: "_WorkerPool", printer, metric: str | None) -> str | None:
    """Poll the store until every run of the sweep has ended; print each run once."""
    from ials.sweeps import sweep_results

    reported: set[str] = set()
    while True:
        runs = store.list_runs(sweep_id=sweep_id)
        ended = [r for r in runs if r["status"] in ("finished", "failed", "cancelled")]
        fresh = [r for r in sorted(ended, key=lambda r: r.get("finished_at") or 0) if r["id"] not in reported]
        if fresh:
            if metric is None:
                metric = _first_metric(store, fresh)
            results = sweep_results(store, sweep_id, metric) if metric else None
            for run in fresh:
                row = None
                if results is not None:
                    match = results[results["run_id"] == run["id"]]
                    row = match.iloc[0] if len(match) else None
                printer.run(run, row, metric)
                reported.add(run["id"])
        if len(ended) == len(runs):
            return metric
        if not pool.alive() and any(r["status"] == "queued" for r in runs):
            pool.restart()
        time.sleep(POLL_SECONDS)


def _first_metric(store, runs: list[dict]) -> str | None:
    for run in runs:
        for record in store.epochs(run["id"]):
            if record.get("metrics"):
                return next(iter(record["metrics"]))
    return None


def _finish(store, sweep_id: str, printer, metric: str | None) -> int:
    from ials.advice import advise
    from ials.sweeps import aggregate_cells, best_setting, sweep_results

    if metric is None:
        printer.final(sweep_id, None, None, store, [])
        return 1
    results = sweep_results(store, sweep_id, metric)
    best = best_setting(results, metric)
    advice = advise(results, metric)
    printer.final(sweep_id, best, aggregate_cells(results, metric), store, advice)
    return 0 if best is not None else 1


def _cancel_sweep(store, sweep_id: str) -> None:
    for run in store.list_runs(sweep_id=sweep_id, status=("queued", "running")):
        store.request_cancel(run["id"])


class _WorkerPool:
    """Worker processes of this command: ``python -m ials worker --exit-when-idle``."""

    def __init__(self, runs_dir: Path, data_dir: str | None, count: int) -> None:
        from ials.paths import data_dir as default_data_dir

        self.runs_dir = Path(runs_dir).resolve()
        self.data_dir = default_data_dir(data_dir).resolve()
        self.count = count
        self.processes: list[subprocess.Popen] = []
        self.restarts = 0

    def start(self) -> None:
        log_dir = self.runs_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        threads = max(1, (os.cpu_count() or 1) // self.count)
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env["NUMBA_NUM_THREADS"] = str(threads)
        command = [
            sys.executable, "-m", "ials", "--log-level", "INFO", "worker",
            "--runs-dir", str(self.runs_dir), "--data-dir", str(self.data_dir),
            "--exit-when-idle", "--poll-seconds", "0.5", "--threads", str(threads),
        ]
        with open(log_dir / "sweep-workers.out", "ab") as log:
            for _ in range(self.count):
                self.processes.append(subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                ))
        logger.info("started %d worker process(es): %s", self.count, [p.pid for p in self.processes])

    def alive(self) -> bool:
        return any(process.poll() is None for process in self.processes)

    def restart(self) -> None:
        """Start the workers again after they all exited with runs still queued."""
        if self.restarts >= MAX_WORKER_RESTARTS:
            raise RuntimeError(
                f"the worker processes exited {self.restarts + 1} times with runs still "
                f"queued; see {self.runs_dir / 'logs'} for their output."
            )
        self.restarts += 1
        logger.warning("all workers exited with runs still queued; restart %d of %d",
                       self.restarts, MAX_WORKER_RESTARTS)
        self.processes = []
        self.start()

    def stop(self) -> None:
        """Stop workers that are still running: SIGTERM, then SIGKILL after a timeout."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.warning("worker %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait()


def _value(row, column):
    if row is None or column not in row.index:
        return None
    value = row[column]
    try:
        return None if value != value else value  # NaN is the only value not equal to itself
    except (TypeError, ValueError):
        return value


class _TablePrinter:
    columns = ("α₀", "λ", "ν", "seed", "status", "best epoch", "metric", "test", "seconds")

    def start(self, sweep_id: str, total: int, path) -> None:
        print(f"sweep {sweep_id}: {total} runs queued in {path}", flush=True)
        self.header_done = False

    def run(self, run: dict, row, metric: str | None) -> None:
        if not self.header_done:
            header = list(self.columns)
            header[6] = metric or "metric"
            header[7] = f"test {metric}" if metric else "test"
            print("  ".join(f"{c:>12}" for c in header), flush=True)
            self.header_done = True
        model = run["spec"]["model"]
        value = _value(row, metric) if metric else None
        test = _value(row, f"test_{metric}") if metric else None
        best_epoch = _value(row, "best_epoch")
        seconds = _value(row, "seconds")
        cells = [
            f"{model['alpha0']:>12g}", f"{model['reg']:>12g}", f"{model['nu']:>12g}",
            f"{model['seed']:>12d}", f"{run['status']:>12}",
            f"{int(best_epoch):>12d}" if best_epoch is not None else f"{'-':>12}",
            f"{value:>12.4f}" if value is not None else f"{'-':>12}",
            f"{test:>12.4f}" if test is not None else f"{'-':>12}",
            f"{seconds:>12.1f}" if seconds is not None else f"{'-':>12}",
        ]
        print("  ".join(cells), flush=True)
        if run["status"] == "failed" and run.get("error"):
            print(f"  run {run['id']} failed: {run['error']}", flush=True)

    def final(self, sweep_id: str, best: dict | None, cells, store, advice: list) -> None:
        if best is None:
            print(f"sweep {sweep_id}: no run finished, so there is no best setting.")
            return
        metric = best["metric"]
        print(f"\ncells by {metric} (mean over seeds at each run's best epoch):")
        for _, cell in cells.iterrows():
            if cell["mean"] != cell["mean"]:
                continue
            spread = f" ± {cell['std']:.4f}" if cell["std"] == cell["std"] else ""
            print(f"  α₀ {cell['alpha0']:<8g} λ {cell['reg']:<8g} ν {cell['nu']:<4g} "
                  f"{metric} {cell['mean']:.4f}{spread} (n={int(cell['n_done'])}, "
                  f"best epoch {int(cell['best_epoch'])})")
        print(f"best: α₀ = {best['alpha0']:g}, λ = {best['reg']:g}, ν = {best['nu']:g}: "
              f"{metric} {best['value']:.4f} at epoch {best['best_epoch']} "
              f"(run {best['run_id']}, sweep {sweep_id})")
        if advice:
            print("next steps:")
        for item in advice:
            print(f"  - {item.message}\n    because: {item.reason}")


class _JsonPrinter:
    def start(self, sweep_id: str, total: int, path) -> None:
        self.sweep_id = sweep_id

    def run(self, run: dict, row, metric: str | None) -> None:
        model = run["spec"]["model"]
        best_epoch = _value(row, "best_epoch")
        metrics = {}
        if row is not None:
            metrics = {c: float(row[c]) for c in row.index if "@" in c and not c.startswith("test_")
                       and _value(row, c) is not None}
        line = {
            "sweep_id": self.sweep_id,
            "run_id": run["id"],
            "status": run["status"],
            "alpha0": model["alpha0"],
            "reg": model["reg"],
            "nu": model["nu"],
            "seed": model["seed"],
            "dim": model["dim"],
            "metric": metric,
            "value": metrics.get(metric),
            "best_epoch": None if best_epoch is None else int(best_epoch),
            "metrics": metrics,
            "test_metrics": run.get("final_metrics"),
            "seconds": _value(row, "seconds"),
            "error": run.get("error"),
        }
        print(json.dumps(line), flush=True)

    def final(self, sweep_id: str, best: dict | None, cells, store, advice: list) -> None:
        runs = store.list_runs(sweep_id=sweep_id)
        line = {
            "final": True,
            "sweep_id": sweep_id,
            "finished": sum(r["status"] == "finished" for r in runs),
            "failed": sum(r["status"] == "failed" for r in runs),
            "total": len(runs),
        }
        if best is not None:
            line.update({key: best[key] for key in (
                "alpha0", "reg", "nu", "metric", "value", "best_epoch", "std", "n_seeds", "run_id"
            )})
        line["advice"] = [item.to_dict() for item in advice]
        print(json.dumps(line), flush=True)
