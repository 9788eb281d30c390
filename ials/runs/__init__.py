"""Background execution: the run store, the worker loop and the worker pool.

- `ials.runs.store.RunStore`: runs, epochs, sweeps and workers in ``RUNS_DIR/runs.sqlite``;
- `ials.runs.worker.Worker`: claims queued runs and trains them (``python -m ials worker``);
- `ials.runs.pool`: `ensure_workers` / `stop_workers`, used by the app.
"""

from ials.runs.store import RunNotFoundError, RunStateError, RunStore

__all__ = ["RunNotFoundError", "RunStateError", "RunStore"]
