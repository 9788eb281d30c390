"""The background worker: claim queued runs from the store and train them.

A worker is one process (``python -m ials worker``) that loops: claim the oldest queued
run, train it epoch by epoch through `ials.experiment.Experiment`, write each epoch to
the store, and finish the run. A heartbeat thread refreshes the worker's and the run's
``heartbeat_at`` every `HEARTBEAT_SECONDS` so `RunStore.fail_stale_runs` can tell a slow
epoch from a dead worker.
"""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
import threading
import time

from ials.config import RunSpec
from ials.paths import data_dir as default_data_dir
from ials.runs.store import (
    RunNotFoundError,
    RunStateError,
    RunStore,
    make_worker_id,
    this_host,
)

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
#: How often an idle worker looks for runs whose worker died.
STALE_CHECK_SECONDS = 30.0
#: Heartbeat age after which a run counts as stale (`RunStore.fail_stale_runs`).
STALE_TIMEOUT_SECONDS = 60.0


def set_thread_count(threads: int | None) -> int | None:
    """Limit numba's threads to ``threads`` (None keeps numba's default: all cores).

    Returns the thread count in effect, or None when numba is not installed.
    """
    try:
        import numba
    except ImportError:
        return None
    if threads is not None:
        if threads < 1:
            raise ValueError(f"thread count must be ≥ 1, got {threads}.")
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return numba.get_num_threads()


class Worker:
    """Claim and train queued runs of the store in ``store_dir``.

    Parameters
    ----------
    store_dir : path, optional
        Run-store directory (default `ials.paths.runs_dir()`).
    data_dir : path, optional
        Data-set directory (default `ials.paths.data_dir()`).
    worker_id : str, optional
        Id written into claimed runs; default ``"<host>:<pid>"``, which lets
        `RunStore.fail_stale_runs` notice at once when this process is gone.
    poll_seconds : float
        Wait between looks at the queue while idle.
    """

    def __init__(self, store_dir=None, data_dir=None, worker_id=None, poll_seconds=1.0):
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds}.")
        self.store = RunStore(store_dir)
        self.data_dir = str(default_data_dir(data_dir).resolve())
        self.worker_id = worker_id or make_worker_id()
        self.poll_seconds = float(poll_seconds)
        self._stop = threading.Event()
        self._current_run: str | None = None
        self._lock = threading.Lock()
        self._beat_done = threading.Event()

    # -- loop -------------------------------------------------------------------------

    def run_forever(self, stop_event=None, max_runs=None, exit_when_idle=False,
                    idle_exit_seconds=None) -> int:
        """Claim and train runs until stopped; return the number of runs handled.

        Stops when ``stop_event`` is set (after the current epoch), after ``max_runs``
        runs, when the queue is empty with ``exit_when_idle``, or after
        ``idle_exit_seconds`` without a queued run.
        """
        if stop_event is not None:
            self._stop = stop_event
        self.store.register_worker(self.worker_id, os.getpid(), this_host())
        self._beat_done.clear()
        beat = threading.Thread(target=self._beat, name="ials-heartbeat", daemon=True)
        beat.start()
        logger.info("worker %s started on %s (data %s)", self.worker_id, self.store.path,
                    self.data_dir)
        handled = 0
        reason = "stop requested"
        try:
            self._fail_stale()
            last_stale_check = idle_since = time.monotonic()
            while not self._stop.is_set():
                if max_runs is not None and handled >= max_runs:
                    reason = f"handled {handled} run(s)"
                    break
                try:
                    run = self.store.claim_next_run(self.worker_id)
                except sqlite3.Error:
                    logger.exception("worker %s: claiming a run failed; retrying in %g s",
                                     self.worker_id, self.poll_seconds)
                    self._stop.wait(self.poll_seconds)
                    continue
                if run is None:
                    now = time.monotonic()
                    if exit_when_idle:
                        reason = "no queued runs"
                        break
                    if idle_exit_seconds is not None and now - idle_since >= idle_exit_seconds:
                        reason = f"idle for {idle_exit_seconds:g} s"
                        break
                    if now - last_stale_check >= STALE_CHECK_SECONDS:
                        self._fail_stale()
                        last_stale_check = now
                    self._stop.wait(self.poll_seconds)
                    continue
                self.run_one(run)
                handled += 1
                idle_since = time.monotonic()
        finally:
            self._beat_done.set()
            beat.join()
            self.store.unregister_worker(self.worker_id)
            logger.info("worker %s stopped (%s)", self.worker_id, reason)
        return handled

    def stop(self) -> None:
        """Ask the loop to stop after the current epoch."""
        self._stop.set()

    def _fail_stale(self) -> None:
        try:
            self.store.fail_stale_runs(STALE_TIMEOUT_SECONDS)
        except Exception:  # a failed check must not stop the worker
            logger.exception("worker %s: checking for stale runs failed", self.worker_id)

    # -- one run ----------------------------------------------------------------------

    def run_one(self, run: dict) -> str:
        """Train one claimed run to its end and return its final status.

        The run must already be "running" under this worker (`RunStore.claim_next_run`).
        Errors do not propagate: they fail the run with ``"<ExceptionType>: message"``.
        """
        from ials.experiment import Experiment

        run_id = run["id"]
        with self._lock:
            self._current_run = run_id
        logger.info("run %s claimed by worker %s", run_id, self.worker_id)
        try:
            spec = RunSpec.from_dict(run["spec"])
            experiment = Experiment(spec, self.data_dir)
            experiment.prepare()
            describe = experiment.describe()
            self.store.record_prepared(run_id, describe)
            logger.info("run %s prepared: protocol %s, effective λ %g, data set %s", run_id,
                        describe.get("protocol"), describe.get("effective_reg") or 0.0,
                        describe.get("dataset_fingerprint"))
            status = self._train(run_id, experiment, spec.model.epochs)
        except (RunStateError, RunNotFoundError) as exc:
            # The store already finalized or deleted the run: nothing left to write.
            logger.warning("run %s stopped because the store changed it: %s", run_id, exc)
            status = "gone"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.exception("run %s failed: %s", run_id, error)
            status = self._finish_after_error(run_id, error)
        except KeyboardInterrupt:
            self._finish_after_error(run_id, f"worker {self.worker_id} was interrupted")
            raise
        finally:
            with self._lock:
                self._current_run = None
            experiment = None
            gc.collect()
        return status

    def _train(self, run_id: str, experiment, total: int) -> str:
        """Run the epochs of a prepared experiment; return the final status."""
        if self.store.is_cancel_requested(run_id):
            logger.info("run %s cancelled before its first epoch", run_id)
            return self._finish(run_id, "cancelled")
        last_epoch = 0
        for record in experiment.epochs():
            self.store.add_epoch(run_id, record)
            last_epoch = record.epoch
            logger.info("run %s epoch %d/%d: L=%.6g %s (%.2f s train, %.2f s eval)",
                        run_id, record.epoch, total, record.loss.get("L", float("nan")),
                        _format_metrics(record.metrics), record.train_seconds,
                        record.eval_seconds)
            if self.store.is_cancel_requested(run_id):
                logger.info("run %s cancelled after epoch %d/%d", run_id, record.epoch, total)
                return self._finish(run_id, "cancelled")
            if self._stop.is_set():
                return self._finish(
                    run_id, "failed",
                    error=f"worker {self.worker_id} was stopped after epoch {record.epoch} "
                          f"of {total}",
                )
        final_metrics = experiment.final_metrics()
        logger.info("run %s finished after %d epochs: %s", run_id, last_epoch,
                    _format_metrics(final_metrics))
        return self._finish(run_id, "finished", final_metrics=final_metrics)

    def _finish_after_error(self, run_id: str, error: str) -> str:
        """Mark a run failed, logging instead of raising when the store write fails too."""
        try:
            return self._finish(run_id, "failed", error=error, log=False)
        except sqlite3.Error:
            logger.exception("run %s: recording the failure failed; the stale-run check "
                             "will mark it failed", run_id)
            return "failed"

    def _finish(self, run_id: str, status: str, final_metrics=None, error=None,
                log: bool = True) -> str:
        try:
            changed = self.store.finish_run(run_id, status, final_metrics=final_metrics,
                                            error=error)
        except RunNotFoundError:
            logger.warning("run %s was deleted before it could be marked %s", run_id, status)
            return "gone"
        if changed and log and status != "finished":
            logger.info("run %s %s%s", run_id, status, f": {error}" if error else "")
        return status if changed else "gone"

    # -- heartbeat --------------------------------------------------------------------

    def _beat(self) -> None:
        """Refresh heartbeats every `HEARTBEAT_SECONDS` until the worker stops.

        NOTE: a numba kernel that holds the GIL for longer than the stale timeout
        starves this thread; kernels compiled with ``nogil=True`` do not.
        """
        while not self._beat_done.is_set():
            with self._lock:
                run_id = self._current_run
            try:
                owned = self.store.heartbeat(run_id, self.worker_id)
                if not owned:
                    logger.warning("run %s is no longer running under worker %s",
                                   run_id, self.worker_id)
            except Exception:  # keep beating: the next write may succeed
                logger.exception("worker %s: heartbeat failed", self.worker_id)
            self._beat_done.wait(HEARTBEAT_SECONDS)


def _format_metrics(metrics: dict | None) -> str:
    if not metrics:
        return "no metrics"
    return ", ".join(f"{name}={value:.4f}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in sorted(metrics.items()))
