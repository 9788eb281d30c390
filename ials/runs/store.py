"""The run store: runs, their epochs, sweeps and live workers in one SQLite file.

The store is the single source of truth shared by the Streamlit app and the worker
processes. It lives in ``RUNS_DIR/runs.sqlite`` and uses

* WAL mode, so readers do not block the single writer and the writer does not block
  readers;
* one connection per thread and process with ``PRAGMA busy_timeout=10000``, so a writer
  that finds the file locked waits up to 10 s instead of raising "database is locked";
* ``BEGIN IMMEDIATE`` for every write, so a write transaction takes the write lock at its
  start (through the busy handler) and never fails later when upgrading a read lock;
* a versioned schema: ``PRAGMA user_version`` counts the entries of `MIGRATIONS` applied.

Rows come back as plain dicts with JSON columns decoded and times as unix seconds
(floats). Run ids are 12 random hex characters.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ials import __version__, limits
from ials.config import RunSpec
from ials.paths import runs_dir as default_runs_dir

logger = logging.getLogger(__name__)

STORE_FILENAME = "runs.sqlite"
BUSY_TIMEOUT_MS = 10_000

RUN_STATUSES = ("queued", "running", "finished", "failed", "cancelled")
FINAL_STATUSES = ("finished", "failed", "cancelled")
SWEEP_KINDS = ("grid", "ladder", "repeat")

EXPORT_FORMAT = "ials-run"
EXPORT_VERSION = 1

LOSS_COLUMNS = ("L_S", "L_I", "R", "L")
NUMERIC_RUN_KEYS = (
    "effective_reg", "memory_estimate", "created_at", "started_at", "finished_at",
    "heartbeat_at",
)


class RunNotFoundError(ValueError):
    """No run with the requested id exists in the store."""


class RunStateError(ValueError):
    """The run exists but its status does not allow the requested change."""


# --- schema -----------------------------------------------------------------------------


def _migration_1(conn: sqlite3.Connection) -> None:
    """Create runs, epochs and sweeps."""
    conn.execute(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            name TEXT,
            notes TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            spec TEXT NOT NULL,
            seed INTEGER,
            protocol TEXT,
            effective_reg REAL,
            dataset_fingerprint TEXT,
            package_version TEXT,
            dataset_info TEXT,
            memory_estimate INTEGER,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            heartbeat_at REAL,
            worker_id TEXT,
            error TEXT,
            epochs_done INTEGER NOT NULL DEFAULT 0,
            epochs_total INTEGER NOT NULL,
            final_metrics TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            sweep_id TEXT,
            session_id TEXT
        )
        """
    )
    conn.execute("CREATE INDEX runs_status ON runs (status, created_at)")
    conn.execute("CREATE INDEX runs_sweep ON runs (sweep_id)")
    conn.execute(
        """
        CREATE TABLE epochs (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            L_S REAL,
            L_I REAL,
            R REAL,
            L REAL,
            metrics TEXT NOT NULL,
            train_seconds REAL,
            eval_seconds REAL,
            recorded_at REAL NOT NULL,
            UNIQUE (run_id, epoch)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT,
            config TEXT NOT NULL,
            created_at REAL NOT NULL
        )
        """
    )


def _migration_2(conn: sqlite3.Connection) -> None:
    """Add the workers table and the id a run had before it was imported."""
    conn.execute(
        """
        CREATE TABLE workers (
            id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            started_at REAL NOT NULL,
            heartbeat_at REAL NOT NULL,
            run_id TEXT
        )
        """
    )
    conn.execute("ALTER TABLE runs ADD COLUMN imported_from TEXT")
    conn.execute("ALTER TABLE runs ADD COLUMN imported_at REAL")


#: Schema migrations in order; ``PRAGMA user_version`` is the number already applied.
#: Append new migrations, never edit applied ones.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """Open a connection in autocommit mode with the busy timeout and foreign keys on.

    Autocommit (``isolation_level=None``) leaves transaction control to explicit
    ``BEGIN IMMEDIATE`` / ``COMMIT`` statements.
    """
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last commits.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply the pending migrations up to ``target`` (default: all) in one transaction.

    Returns the schema version afterwards. Raises `RuntimeError` when the file has a
    newer schema than `SCHEMA_VERSION`, because writing to it could corrupt it.
    """
    target = SCHEMA_VERSION if target is None else target
    if conn.execute("PRAGMA user_version").fetchone()[0] == target:
        return target  # up to date: no write lock needed
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the run store has schema version {version}, but ials {__version__} "
                f"reads only versions up to {SCHEMA_VERSION}; upgrade ials or use "
                f"another runs directory."
            )
        for number in range(version, target):
            MIGRATIONS[number](conn)
            logger.info("run store migrated to schema version %d", number + 1)
        if target > version:
            # PRAGMA takes no bound parameters; target is an int from this module.
            conn.execute(f"PRAGMA user_version={int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(version, target)


# --- helpers ----------------------------------------------------------------------------


def new_id() -> str:
    """Return a new 12-character random hex id."""
    return secrets.token_hex(6)


def this_host() -> str:
    return socket.gethostname()


def make_worker_id(pid: int | None = None, host: str | None = None) -> str:
    """Return the worker id ``"<host>:<pid>"`` that `fail_stale_runs` can check."""
    return f"{host or this_host()}:{os.getpid() if pid is None else pid}"


def parse_worker_id(worker_id: str | None) -> tuple[str, int] | None:
    """Split ``"<host>:<pid>"`` into (host, pid); None for ids of another shape."""
    if not worker_id or ":" not in worker_id:
        return None
    host, _, pid = worker_id.rpartition(":")
    if not pid.isdigit():
        return None
    return host, int(pid)


def process_alive(pid: int, started_before: float | None = None) -> bool:
    """Return whether local process ``pid`` runs and is not a zombie.

    With ``started_before`` (unix seconds), a process created more than a second after
    that time counts as gone: the pid was reused by an unrelated process.
    """
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_before is not None and process.create_time() > started_before + 1.0:
            return False
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
    return True


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _validated_spec(spec: Any) -> RunSpec:
    """Return the `RunSpec` of a spec dict, raising `ValueError` with what is wrong."""
    if isinstance(spec, RunSpec):
        return spec.validate()
    if not isinstance(spec, dict):
        raise ValueError(
            f"run spec must be a dict of run settings, got {type(spec).__name__}."
        )
    if "model" in spec and not isinstance(spec["model"], dict):
        raise ValueError(
            f"run spec 'model' must be a dict of hyperparameters, got "
            f"{type(spec['model']).__name__}."
        )
    try:
        return RunSpec.from_dict(spec).validate()
    except TypeError as exc:
        raise ValueError(f"invalid run spec: {exc}") from exc


def _float_or_none(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"epoch field {field} must be a number, got {value!r}.")
    return float(value)


def normalize_epoch(record: Any) -> dict:
    """Return the flat epoch row of an `EpochRecord`, its ``to_dict()`` or a flat dict.

    Accepted shapes: ``EpochRecord`` objects; dicts with ``loss`` (a dict of L_S, L_I,
    R, L) and ``train_seconds``/``eval_seconds`` or ``seconds: {train, eval}``; and
    flat dicts as returned by `RunStore.epochs`.
    """
    if not isinstance(record, dict):
        if not hasattr(record, "epoch"):
            raise ValueError(
                f"epoch record must be an EpochRecord or a dict, got {type(record).__name__}."
            )
        record = {
            "epoch": record.epoch,
            "loss": record.loss,
            "metrics": record.metrics,
            "train_seconds": record.train_seconds,
            "eval_seconds": record.eval_seconds,
        }
    epoch = record.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch must be an integer ≥ 1, got {epoch!r}.")
    loss = record.get("loss")
    if loss is None:
        loss = {key: record.get(key) for key in LOSS_COLUMNS}
    if not isinstance(loss, dict):
        raise ValueError(f"epoch {epoch}: loss must be a dict of L_S, L_I, R, L, got {loss!r}.")
    metrics = record.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise ValueError(f"epoch {epoch}: metrics must be a dict, got {metrics!r}.")
    seconds = record.get("seconds") or {}
    row = {"epoch": epoch, "metrics": metrics}
    for key in LOSS_COLUMNS:
        row[key] = _float_or_none(loss.get(key), key)
    row["train_seconds"] = _float_or_none(
        record.get("train_seconds", seconds.get("train")), "train_seconds"
    )
    row["eval_seconds"] = _float_or_none(
        record.get("eval_seconds", seconds.get("eval")), "eval_seconds"
    )
    row["recorded_at"] = _float_or_none(record.get("recorded_at"), "recorded_at")
    return row


def _run_row(row: sqlite3.Row) -> dict:
    run = dict(row)
    run["spec"] = _loads(run["spec"])
    run["dataset_info"] = _loads(run["dataset_info"]) or {}
    run["final_metrics"] = _loads(run["final_metrics"])
    run["cancel_requested"] = bool(run["cancel_requested"])
    return run


def _epoch_row(row: sqlite3.Row) -> dict:
    epoch = dict(row)
    del epoch["run_id"]
    epoch["metrics"] = _loads(epoch["metrics"]) or {}
    return epoch


# --- the store --------------------------------------------------------------------------


class RunStore:
    """Runs, epochs, sweeps and workers in ``RUNS_DIR/runs.sqlite``.

    Parameters
    ----------
    runs_dir : path, optional
        Directory of the store; default `ials.paths.runs_dir()`. Created if missing, and
        the schema is created or migrated on construction.

    Each thread uses its own connection, so one instance may be used from several
    threads, and several processes may open the same directory at once.
    """

    def __init__(self, runs_dir: str | os.PathLike | None = None) -> None:
        self.runs_dir = default_runs_dir(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.path: Path = self.runs_dir / STORE_FILENAME
        self._local = threading.local()
        with self._connect() as conn:
            self._enable_wal(conn, self.path)
            self.schema_version = migrate(conn)

    # -- connections ------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """Yield this thread's connection, opening it on first use.

        The connection stays open between calls because closing the last connection to a
        WAL database checkpoints the log and syncs the file, about 10 ms per call. After
        an SQLite error the connection is closed and the next call opens a new one.
        """
        cached = getattr(self._local, "conn", None)
        if cached is None or cached[0] != os.getpid():
            # A connection inherited through fork must not be used (or closed) here.
            cached = (os.getpid(), connect(self.path))
            self._local.conn = cached
        conn = cached[1]
        try:
            yield conn
        except sqlite3.Error:
            self._local.conn = None
            conn.close()
            raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """Yield a connection inside ``BEGIN IMMEDIATE``; commit on success."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection, path: Path) -> None:
        # Switching to WAL needs a moment of exclusive access; the busy handler covers
        # most races with other processes opening the store at the same time.
        for attempt in range(50):
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.1)
                continue
            if str(mode).lower() != "wal":
                logger.warning("run store %s could not switch to WAL mode (mode %s)",
                               path, mode)
            return
        raise sqlite3.OperationalError("timed out switching the run store to WAL mode")

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"run {run_id!r} not found in {self.path}.")
        return row

    # -- runs -------------------------------------------------------------------------

    def create_run(
        self,
        spec: dict,
        name: str | None = None,
        sweep_id: str | None = None,
        session_id: str | None = None,
    ) -> str:
        """Validate ``spec`` and insert it as a queued run; return the new run id.

        Raises `ValueError` with the validation message for an invalid spec or an
        unknown ``sweep_id``, and `ials.limits.LimitError` (a `ValueError`) when a
        demo cap is reached or the server is read-only.
        """
        run_spec = _validated_spec(spec)
        run_id = new_id()
        with self._write() as conn:
            # Checked inside the write transaction, so two concurrent creates cannot both
            # pass the concurrency cap; the check's reads use this same connection.
            limits.check_new_run(run_spec.to_dict(), session_id=session_id, store=self)
            if sweep_id is not None and conn.execute(
                "SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)
            ).fetchone() is None:
                raise ValueError(f"sweep {sweep_id!r} not found; create it with create_sweep first.")
            conn.execute(
                """
                INSERT INTO runs (id, name, status, spec, seed, created_at, epochs_total,
                                  sweep_id, session_id, package_version)
                VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    run_id, name, _dumps(run_spec.to_dict()), run_spec.model.seed,
                    time.time(), run_spec.model.epochs, sweep_id, session_id, __version__,
                ),
            )
        logger.info("run %s queued (%s, sweep %s)", run_id, run_spec.dataset, sweep_id)
        return run_id

    def get_run(self, run_id: str) -> dict | None:
        """Return the run as a dict, or None when no run has this id."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _run_row(row)

    def list_runs(
        self,
        sweep_id: str | None = None,
        status: str | Iterable[str] | None = None,
        session_id: str | None = None,
    ) -> list[dict]:
        """Return runs, newest first, filtered by sweep, status (one or several) and session."""
        clauses, params = [], []
        if sweep_id is not None:
            clauses.append("sweep_id = ?")
            params.append(sweep_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            unknown = sorted(set(statuses) - set(RUN_STATUSES))
            if unknown:
                raise ValueError(
                    f"unknown run status {', '.join(unknown)}; use one of {', '.join(RUN_STATUSES)}."
                )
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM runs {where} ORDER BY created_at DESC, rowid DESC", params
            ).fetchall()
        return [_run_row(row) for row in rows]

    def count_runs(self, status: str | Iterable[str] | None = None,
                   session_id: str | None = None) -> int:
        """Return the number of runs with the given status(es) and session."""
        return len(self.list_runs(status=status, session_id=session_id))

    def epochs(self, run_id: str) -> list[dict]:
        """Return the recorded epochs of a run in epoch order (empty for unknown runs)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [_epoch_row(row) for row in rows]

    def rename_run(self, run_id: str, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise ValueError(f"run name must be text, got {type(name).__name__}.")
        limits.check_mutation(f"rename run {run_id}")
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))

    def set_notes(self, run_id: str, notes: str) -> None:
        if not isinstance(notes, str):
            raise ValueError(f"run notes must be text, got {type(notes).__name__}.")
        limits.check_mutation(f"edit the notes of run {run_id}")
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute("UPDATE runs SET notes = ? WHERE id = ?", (notes, run_id))

    def delete_run(self, run_id: str) -> None:
        """Delete a run and its epochs.

        Raises `RunStateError` for a running run, because its worker would keep
        writing; cancel it and delete it once it has stopped.
        """
        limits.check_mutation(f"delete run {run_id}")
        with self._write() as conn:
            row = self._require_run(conn, run_id)
            if row["status"] == "running":
                raise RunStateError(
                    f"run {run_id} is running; cancel it and delete it after it stops."
                )
            conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        logger.info("run %s deleted", run_id)

    def request_cancel(self, run_id: str) -> str:
        """Cancel a run and return its status afterwards.

        A queued run is cancelled at once. A running run gets a cancel flag that its
        worker reads between epochs, so it stays "running" until the current epoch
        ends. Finished, failed and cancelled runs are left as they are.
        """
        limits.check_mutation(f"cancel run {run_id}")
        with self._write() as conn:
            row = self._require_run(conn, run_id)
            status = row["status"]
            if status == "queued":
                conn.execute(
                    "UPDATE runs SET status = 'cancelled', cancel_requested = 1, "
                    "finished_at = ? WHERE id = ?",
                    (time.time(), run_id),
                )
                status = "cancelled"
            elif status == "running":
                conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
        logger.info("run %s: cancel requested (status now %s)", run_id, status)
        return status

    # -- worker side ------------------------------------------------------------------

    def claim_next_run(self, worker_id: str) -> dict | None:
        """Move the oldest queued run to "running" for ``worker_id`` and return it.

        The select and the update happen in one ``BEGIN IMMEDIATE`` transaction, so
        two workers never claim the same run. Returns None when nothing is queued.
        """
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT id FROM runs WHERE status = 'queued' "
                "ORDER BY created_at, rowid LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            run_id = row["id"]
            conn.execute(
                "UPDATE runs SET status = 'running', worker_id = ?, started_at = ?, "
                "heartbeat_at = ?, error = NULL WHERE id = ?",
                (worker_id, now, now, run_id),
            )
            conn.execute(
                "UPDATE workers SET run_id = ?, heartbeat_at = ? WHERE id = ?",
                (run_id, now, worker_id),
            )
            claimed = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run_row(claimed)

    def _require_running(self, conn: sqlite3.Connection, run_id: str) -> sqlite3.Row:
        row = self._require_run(conn, run_id)
        if row["status"] != "running":
            raise RunStateError(
                f"run {run_id} is {row['status']}, not running; its worker must stop."
            )
        return row

    def record_prepared(self, run_id: str, describe: dict) -> None:
        """Store what `Experiment.describe()` returns: protocol, λ, fingerprint, version."""
        info = describe.get("dataset_info") or {}
        with self._write() as conn:
            self._require_running(conn, run_id)
            conn.execute(
                """
                UPDATE runs SET protocol = ?, effective_reg = ?, dataset_fingerprint = ?,
                                package_version = ?, dataset_info = ?, memory_estimate = ?,
                                heartbeat_at = ?
                WHERE id = ?
                """,
                (
                    describe.get("protocol"), describe.get("effective_reg"),
                    describe.get("dataset_fingerprint"),
                    describe.get("package_version") or __version__, _dumps(info),
                    describe.get("memory_estimate"), time.time(), run_id,
                ),
            )

    def add_epoch(self, run_id: str, record: Any) -> None:
        """Insert one epoch and bump the run's ``epochs_done`` and heartbeat atomically.

        ``record`` is an `EpochRecord` or a dict (see `normalize_epoch`). Raises
        `RunStateError` when the run is no longer running (cancelled queued, failed as
        stale, deleted) and `ValueError` when this epoch is already recorded.
        """
        row = normalize_epoch(record)
        now = time.time()
        with self._write() as conn:
            self._require_running(conn, run_id)
            try:
                _insert_epoch(conn, run_id, row, recorded_at=now)
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"run {run_id}: epoch {row['epoch']} is already recorded.") from exc
            conn.execute(
                "UPDATE runs SET epochs_done = MAX(epochs_done, ?), heartbeat_at = ? WHERE id = ?",
                (row["epoch"], now, run_id),
            )

    def heartbeat(self, run_id: str | None, worker_id: str) -> bool:
        """Refresh the heartbeat of a worker and of its running run.

        Returns whether ``run_id`` is still running under ``worker_id`` (True when
        ``run_id`` is None).
        """
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "UPDATE workers SET heartbeat_at = ?, run_id = ? WHERE id = ?",
                (now, run_id, worker_id),
            )
            if run_id is None:
                return True
            cursor = conn.execute(
                "UPDATE runs SET heartbeat_at = ? "
                "WHERE id = ? AND worker_id = ? AND status = 'running'",
                (now, run_id, worker_id),
            )
            return cursor.rowcount == 1

    def is_cancel_requested(self, run_id: str) -> bool:
        """Return the cancel flag of a run; a run that no longer exists counts as cancelled."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return True if row is None else bool(row["cancel_requested"])

    def finish_run(
        self,
        run_id: str,
        status: str,
        final_metrics: dict | None = None,
        error: str | None = None,
    ) -> bool:
        """Move a queued or running run to a final status.

        Returns False, changing nothing, when the run already has a final status (for
        example it was failed as stale while its worker was still busy).
        """
        if status not in FINAL_STATUSES:
            raise ValueError(
                f"final status must be one of {', '.join(FINAL_STATUSES)}, got {status!r}."
            )
        with self._write() as conn:
            row = self._require_run(conn, run_id)
            if row["status"] in FINAL_STATUSES:
                logger.warning(
                    "run %s is already %s; not marking it %s", run_id, row["status"], status
                )
                return False
            conn.execute(
                "UPDATE runs SET status = ?, final_metrics = ?, error = ?, finished_at = ? "
                "WHERE id = ?",
                (
                    status, None if final_metrics is None else _dumps(final_metrics),
                    error, time.time(), run_id,
                ),
            )
        return True

    def fail_stale_runs(self, timeout_seconds: float = 60.0) -> list[str]:
        """Mark running runs whose worker is gone as failed; return their ids.

        A run is stale when its worker id names a process on this host that no longer
        runs (reason "worker process <pid> is gone"), or when its heartbeat is older
        than ``timeout_seconds`` (reason "worker <id> stopped sending heartbeats at
        <time>"). Also removes rows of dead local workers from the workers table.
        """
        now = time.time()
        host = this_host()
        failed = []
        with self._write() as conn:
            rows = conn.execute("SELECT * FROM runs WHERE status = 'running'").fetchall()
            for row in rows:
                reason = _stale_reason(row, host, now, timeout_seconds)
                if reason is None:
                    continue
                conn.execute(
                    "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                    (reason, now, row["id"]),
                )
                failed.append(row["id"])
                logger.warning("run %s marked failed: %s", row["id"], reason)
            self._prune_workers(conn, host)
        return failed

    # -- workers ----------------------------------------------------------------------

    def register_worker(self, worker_id: str, pid: int, host: str | None = None) -> None:
        """Insert or refresh a worker row (the pool inserts it right after spawning)."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                """
                INSERT INTO workers (id, pid, host, started_at, heartbeat_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
                """,
                (worker_id, pid, host or this_host(), now, now),
            )

    def unregister_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    def list_workers(self, alive_only: bool = True) -> list[dict]:
        """Return worker rows, pruning workers on this host whose process is gone."""
        host = this_host()
        with self._write() as conn:
            if alive_only:
                self._prune_workers(conn, host)
            rows = conn.execute("SELECT * FROM workers ORDER BY started_at").fetchall()
        return [dict(row) for row in rows]

    @staticmethod
    def _prune_workers(conn: sqlite3.Connection, host: str) -> None:
        rows = conn.execute("SELECT * FROM workers WHERE host = ?", (host,)).fetchall()
        for row in rows:
            if not process_alive(row["pid"], started_before=row["started_at"]):
                conn.execute("DELETE FROM workers WHERE id = ?", (row["id"],))

    # -- sweeps -----------------------------------------------------------------------

    def create_sweep(self, kind: str, config: dict, name: str | None = None) -> str:
        """Insert a sweep of ``kind`` ("grid", "ladder" or "repeat"); return its id."""
        if kind not in SWEEP_KINDS:
            raise ValueError(f"sweep kind must be one of {', '.join(SWEEP_KINDS)}, got {kind!r}.")
        if not isinstance(config, dict):
            raise ValueError(f"sweep config must be a dict, got {type(config).__name__}.")
        try:
            config_json = _dumps(config)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sweep config must be JSON-serializable: {exc}") from exc
        limits.check_mutation("create a sweep")
        sweep_id = new_id()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sweeps (id, kind, name, config, created_at) VALUES (?, ?, ?, ?, ?)",
                (sweep_id, kind, name, config_json, time.time()),
            )
        return sweep_id

    def get_sweep(self, sweep_id: str) -> dict | None:
        """Return the sweep with its run ids (oldest first), or None when unknown."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            if row is None:
                return None
            run_ids = conn.execute(
                "SELECT id FROM runs WHERE sweep_id = ? ORDER BY created_at, rowid",
                (sweep_id,),
            ).fetchall()
        sweep = dict(row)
        sweep["config"] = _loads(sweep["config"])
        sweep["run_ids"] = [r["id"] for r in run_ids]
        return sweep

    def list_sweeps(self) -> list[dict]:
        """Return all sweeps, newest first, each with its run ids."""
        with self._connect() as conn:
            ids = conn.execute(
                "SELECT id FROM sweeps ORDER BY created_at DESC, rowid DESC"
            ).fetchall()
        sweeps = (self.get_sweep(row["id"]) for row in ids)
        return [sweep for sweep in sweeps if sweep is not None]

    # -- export / import --------------------------------------------------------------

    def export_run(self, run_id: str) -> dict:
        """Return ``{"format": "ials-run", "version": 1, "run": {...}, "epochs": [...]}``."""
        run = self.get_run(run_id)
        if run is None:
            raise RunNotFoundError(f"run {run_id!r} not found in {self.path}.")
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": time.time(),
            "run": run,
            "epochs": self.epochs(run_id),
        }

    def import_run(self, payload: dict, session_id: str | None = None) -> str:
        """Validate an `export_run` payload and insert it under a new id; return the id.

        Finished, failed and cancelled runs keep their status. A run exported while
        queued or running is imported as failed, with a note in ``error``. The original
        id is kept in ``imported_from``. Raises `ValueError` saying what is wrong.
        """
        limits.check_mutation("import a run")
        run, epochs = _validate_payload(payload)
        spec = _validated_spec(run["spec"])
        status, error = run["status"], run.get("error")
        if status not in FINAL_STATUSES:
            error = f"imported while {status}; the original run never finished."
            status = "failed"
        new_run_id = new_id()
        now = time.time()
        epochs_done = max((row["epoch"] for row in epochs), default=0)
        with self._write() as conn:
            conn.execute(
                """
                INSERT INTO runs (id, name, notes, status, spec, seed, protocol,
                    effective_reg, dataset_fingerprint, package_version, dataset_info,
                    memory_estimate, created_at, started_at, finished_at, heartbeat_at,
                    worker_id, error, epochs_done, epochs_total, final_metrics,
                    session_id, imported_from, imported_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    new_run_id, run.get("name"), run.get("notes") or "", status,
                    _dumps(spec.to_dict()), spec.model.seed, run.get("protocol"),
                    run.get("effective_reg"), run.get("dataset_fingerprint"),
                    run.get("package_version"), _dumps(run.get("dataset_info") or {}),
                    run.get("memory_estimate"), run.get("created_at") or now,
                    run.get("started_at"), run.get("finished_at") or now,
                    run.get("heartbeat_at"), run.get("worker_id"), error, epochs_done,
                    spec.model.epochs, _dumps(run.get("final_metrics"))
                    if run.get("final_metrics") is not None else None,
                    session_id, run.get("id"), now,
                ),
            )
            for row in epochs:
                _insert_epoch(conn, new_run_id, row, recorded_at=row["recorded_at"] or now)
        logger.info("run %s imported as %s (%s)", run.get("id"), new_run_id, status)
        return new_run_id


def _insert_epoch(conn: sqlite3.Connection, run_id: str, row: dict, recorded_at: float) -> None:
    """Insert one row of `normalize_epoch` output; raises `sqlite3.IntegrityError` on a repeat."""
    conn.execute(
        """
        INSERT INTO epochs (run_id, epoch, L_S, L_I, R, L, metrics,
                            train_seconds, eval_seconds, recorded_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (
            run_id, row["epoch"], row["L_S"], row["L_I"], row["R"], row["L"],
            _dumps(row["metrics"]), row["train_seconds"], row["eval_seconds"], recorded_at,
        ),
    )


def _stale_reason(row: sqlite3.Row, host: str, now: float, timeout: float) -> str | None:
    worker = parse_worker_id(row["worker_id"])
    if worker is not None and worker[0] == host:
        started = row["started_at"]
        if not process_alive(worker[1], started_before=started):
            return f"worker process {worker[1]} is gone"
    heartbeat = row["heartbeat_at"] or row["started_at"]
    if heartbeat is None or now - heartbeat > timeout:
        return (
            f"worker {row['worker_id']} stopped sending heartbeats at "
            f"{format_time(heartbeat)}"
        )
    return None


def _validate_payload(payload: Any) -> tuple[dict, list[dict]]:
    """Check the envelope of an exported run; return (run, normalized epochs)."""
    if not isinstance(payload, dict):
        raise ValueError(f"run file must be a JSON object, got {type(payload).__name__}.")
    if payload.get("format") != EXPORT_FORMAT:
        raise ValueError(
            f"not an exported run: format is {payload.get('format')!r}, "
            f"expected {EXPORT_FORMAT!r}."
        )
    if payload.get("version") != EXPORT_VERSION:
        raise ValueError(
            f"unsupported run file version {payload.get('version')!r}; this ials reads "
            f"version {EXPORT_VERSION}."
        )
    run = payload.get("run")
    if not isinstance(run, dict):
        raise ValueError("run file is missing the 'run' object.")
    missing = [key for key in ("id", "spec", "status") if key not in run]
    if missing:
        raise ValueError(f"run file 'run' is missing required key(s) {', '.join(missing)}.")
    if run["status"] not in RUN_STATUSES:
        raise ValueError(
            f"run file has unknown status {run['status']!r}; expected one of "
            f"{', '.join(RUN_STATUSES)}."
        )
    for key in NUMERIC_RUN_KEYS:
        value = run.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"run file 'run.{key}' must be a number, got {value!r}.")
    for key in ("dataset_info", "final_metrics"):
        if run.get(key) is not None and not isinstance(run[key], dict):
            raise ValueError(f"run file 'run.{key}' must be an object, got {run[key]!r}.")
    raw_epochs = payload.get("epochs")
    if not isinstance(raw_epochs, list):
        raise ValueError("run file is missing the 'epochs' list.")
    epochs = [normalize_epoch(item) for item in raw_epochs]
    numbers = [row["epoch"] for row in epochs]
    if len(set(numbers)) != len(numbers):
        raise ValueError("run file lists the same epoch number more than once.")
    return run, epochs
