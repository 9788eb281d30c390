"""Start and stop background workers on demand (used by the Streamlit app).

Live workers are tracked in the ``workers`` table of the run store. `ensure_workers`
inserts a row (id ``"<host>:<pid>"``) right after it spawns a process. Each worker
refreshes its row every few seconds and deletes it when it exits. Rows whose local
process is gone are pruned on every look. `ensure_workers` holds an exclusive
``fcntl`` lock on ``RUNS_DIR/workers.lock`` from counting to inserting, so two
Streamlit sessions calling it at once never start more than ``n`` workers.

Workers run in their own session (``start_new_session=True``), so closing the browser
tab or restarting the app leaves them running. Each exits after `IDLE_EXIT_SECONDS`
without a queued run, and the app starts new ones when a run is queued.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import ials
from ials.paths import data_dir as default_data_dir
from ials.paths import runs_dir as default_runs_dir
from ials.runs.store import RunStore, make_worker_id, process_alive, this_host

logger = logging.getLogger(__name__)

WORKERS_ENV = "IALS_WORKERS"
IDLE_EXIT_ENV = "IALS_WORKER_IDLE_SECONDS"
#: Seconds a pool worker waits without a queued run before it exits.
IDLE_EXIT_SECONDS = 600.0
LOCK_FILENAME = "workers.lock"
WORKER_LOG = Path("logs") / "workers.out"

#: Processes started by this process, kept so that exited ones are reaped (no zombies).
_children: list[subprocess.Popen] = []


def default_worker_count() -> int:
    """Return ``$IALS_WORKERS`` or the number of cores."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if not raw:
        return os.cpu_count() or 1
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{WORKERS_ENV} must be a positive integer, got {raw!r}; fix or unset it.")
    return int(raw)


def idle_exit_seconds() -> float:
    """Return ``$IALS_WORKER_IDLE_SECONDS`` or `IDLE_EXIT_SECONDS`."""
    raw = os.environ.get(IDLE_EXIT_ENV, "").strip()
    if not raw:
        return IDLE_EXIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{IDLE_EXIT_ENV} must be a positive number of seconds, got {raw!r}.")
    return value


@contextlib.contextmanager
def workers_lock(runs_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``runs_dir/workers.lock``."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / LOCK_FILENAME, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _reap_children() -> None:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)


def ensure_workers(n: int | None = None, runs_dir=None, data_dir=None) -> list[int]:
    """Start worker processes until ``n`` are alive on this host; return their pids.

    Parameters
    ----------
    n : int, optional
        Workers wanted (default `default_worker_count`). With 2 cores and 2 workers,
        each gets 1 numba thread: threads per worker = max(1, cores // n).
    runs_dir, data_dir : path, optional
        Passed to each worker as absolute paths (defaults from `ials.paths`).

    Also marks runs of dead workers as failed (`RunStore.fail_stale_runs`).
    """
    n = default_worker_count() if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"worker count must be an integer ≥ 0, got {n!r}.")
    runs_path = default_runs_dir(runs_dir).resolve()
    data_path = default_data_dir(data_dir).resolve()
    _reap_children()
    with workers_lock(runs_path):
        store = RunStore(runs_path)
        store.fail_stale_runs()
        host = this_host()
        pids = [w["pid"] for w in store.list_workers() if w["host"] == host]
        for _ in range(n - len(pids)):
            pid = _spawn_worker(runs_path, data_path, threads=max(1, (os.cpu_count() or 1) // n))
            store.register_worker(make_worker_id(pid, host), pid, host)
            pids.append(pid)
    return pids


def _spawn_worker(runs_path: Path, data_path: Path, threads: int) -> int:
    log_path = runs_path / WORKER_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The child must import this package even when started from another directory.
    package_root = str(Path(ials.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        path for path in (package_root, env.get("PYTHONPATH")) if path
    )
    env["NUMBA_NUM_THREADS"] = str(threads)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    command = [
        sys.executable, "-m", "ials", "--log-level", "INFO", "worker",
        "--runs-dir", str(runs_path), "--data-dir", str(data_path),
        "--idle-exit-seconds", str(idle_exit_seconds()),
    ]
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
    _children.append(child)
    logger.info("started worker process %d (%d numba thread(s), log %s)",
                child.pid, threads, log_path)
    return child.pid


def stop_workers(runs_dir=None, timeout: float = 15.0) -> list[int]:
    """Stop every live worker of this host with SIGTERM, then SIGKILL; return their pids.

    SIGTERM lets a worker finish its current epoch; a run it leaves unfinished is marked
    failed. Workers still alive after ``timeout`` seconds get SIGKILL.
    """
    runs_path = default_runs_dir(runs_dir).resolve()
    store = RunStore(runs_path)
    host = this_host()
    workers = [w for w in store.list_workers() if w["host"] == host]
    for worker in workers:
        _signal(worker["pid"], signal.SIGTERM)
    remaining = _wait_until_gone(workers, timeout)
    for worker in remaining:
        logger.warning("worker process %d ignored SIGTERM for %.0f s; killing it",
                       worker["pid"], timeout)
        _signal(worker["pid"], signal.SIGKILL)
    _wait_until_gone(remaining, timeout)
    store.fail_stale_runs()
    return [w["pid"] for w in workers]


def _wait_until_gone(workers: list[dict], timeout: float) -> list[dict]:
    """Wait up to ``timeout`` seconds for the worker processes to end; return the live ones."""
    deadline = time.monotonic() + timeout
    remaining = list(workers)
    while remaining and time.monotonic() < deadline:
        _reap_children()
        remaining = [w for w in remaining if process_alive(w["pid"], w["started_at"])]
        if remaining:
            time.sleep(0.1)
    return remaining


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
