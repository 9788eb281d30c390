"""Background workers: real `python -m ials worker` processes training into a real store,
killed and stopped workers, cancellation between epochs, failures, and the pool."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ials
from ials.config import IALSConfig
from ials.runs.store import RunStore, make_worker_id
from ials.runs.worker import Worker

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Seconds a worker may take to import numba, compile and reach its first epoch on a busy
#: 2-core machine; only a hung worker gets near it.
START_TIMEOUT = 300.0


def small_spec(epochs: int = 3, **model) -> dict:
    return {
        "dataset": "synthetic-small",
        "model": {"dim": 8, "epochs": epochs, **model},
    }


def slow_spec() -> dict:
    """A run far longer than any test waits for: many epochs on the default synthetic set."""
    return {"dataset": "synthetic", "model": {"dim": 32, "epochs": 200}}


def worker_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def start_worker(dirs, *options: str, log_name: str = "worker.log") -> tuple[subprocess.Popen, Path]:
    """Start ``python -m ials worker`` on the test's store; return the process and its log."""
    log_path = dirs.runs_dir / log_name
    command = [
        sys.executable, "-m", "ials", "worker", "--runs-dir", str(dirs.runs_dir),
        "--data-dir", str(dirs.data_dir), "--poll-seconds", "0.2", *options,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=worker_env(), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, log_path


def wait_for(condition, process: subprocess.Popen | None, log_path: Path, what: str,
             timeout: float = START_TIMEOUT):
    """Poll ``condition()`` until it returns a truthy value; fail with the worker log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode} before {what}:\n"
                        f"{log_path.read_text(errors='replace')}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n"
                f"{log_path.read_text(errors='replace')}")


def wait_for_first_epoch(store: RunStore, run_id: str, process: subprocess.Popen,
                         log_path: Path) -> None:
    wait_for(lambda: store.get_run(run_id)["epochs_done"] >= 1, process, log_path,
             "the first epoch")


def pause_outside_transaction(pid: int, store: RunStore) -> None:
    """SIGSTOP ``pid`` at a moment when it holds no write lock on the store.

    A worker paused inside a write transaction would block every other writer.
    """
    while True:
        os.kill(pid, signal.SIGSTOP)
        conn = sqlite3.connect(store.path, timeout=0.5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
        finally:
            conn.close()


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


@pytest.fixture
def store(project_dirs) -> RunStore:
    return RunStore(project_dirs.runs_dir)


@pytest.mark.slow
def test_worker_process_trains_run(project_dirs, store):
    bad = store.create_run({"dataset": "no-such-data", "model": {"dim": 8, "epochs": 2}})
    good = store.create_run(small_spec(epochs=3, normalized_reg=True, reg=0.01, nu_ref=0))
    process, log_path = start_worker(project_dirs, "--exit-when-idle")

    try:
        process.wait(timeout=START_TIMEOUT)
    finally:
        kill(process)

    log = log_path.read_text(errors="replace")
    assert process.returncode == 0, log
    failed = store.get_run(bad)
    assert failed["status"] == "failed"
    assert failed["error"].split(":")[0].endswith("Error"), failed["error"]
    assert "no-such-data" in failed["error"]

    run = store.get_run(good)
    assert run["status"] == "finished", run["error"]
    epochs = store.epochs(good)
    assert [row["epoch"] for row in epochs] == [1, 2, 3]
    assert run["epochs_done"] == 3
    for row in epochs:
        assert all(row[key] is not None for key in ("L_S", "L_I", "R", "L"))
        assert row["metrics"], row
    assert isinstance(run["final_metrics"], dict)
    assert run["final_metrics"]
    assert run["dataset_fingerprint"]
    assert run["package_version"] == ials.__version__
    assert run["protocol"]
    info = run["dataset_info"]
    config = IALSConfig.from_dict(run["spec"]["model"])
    expected_reg = config.effective_reg(info["train_users"], info["items"],
                                        info["train_interactions"])
    assert run["effective_reg"] == pytest.approx(expected_reg, rel=1e-9)
    assert run["effective_reg"] != 0.01  # the normalized λ was resolved, not copied
    assert f"run {good} finished" in log
    assert f"run {bad} failed" in log
    assert f"run {good} epoch 3/3" in log
    assert (project_dirs.runs_dir / "logs" / "ials.log").is_file()
    assert store.list_workers() == []  # the worker removed its row on exit


@pytest.mark.slow
def test_killed_worker_run_fails(project_dirs, store):
    run_id = store.create_run(slow_spec())
    process, log_path = start_worker(project_dirs)
    try:
        wait_for_first_epoch(store, run_id, process, log_path)
        assert store.get_run(run_id)["status"] == "running"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

        assert store.fail_stale_runs(timeout_seconds=3600) == [run_id]
    finally:
        kill(process)

    run = store.get_run(run_id)
    assert run["status"] == "failed"
    assert run["error"] == f"worker process {process.pid} is gone"
    assert run["worker_id"] == make_worker_id(process.pid)
    epochs = store.epochs(run_id)
    assert len(epochs) == run["epochs_done"] >= 1
    assert store.list_workers() == []  # the dead worker's row was pruned


@pytest.mark.slow
def test_stopped_worker_misses_heartbeats(project_dirs, store):
    run_id = store.create_run(slow_spec())
    process, log_path = start_worker(project_dirs)
    try:
        wait_for_first_epoch(store, run_id, process, log_path)
        pause_outside_transaction(process.pid, store)  # alive, but neither training nor beating
        last_beat = store.get_run(run_id)["heartbeat_at"]
        while time.time() <= last_beat + 1.0:
            time.sleep(0.1)

        assert store.fail_stale_runs(timeout_seconds=1.0) == [run_id]
    finally:
        os.kill(process.pid, signal.SIGCONT)
        kill(process)

    error = store.get_run(run_id)["error"]
    assert error.startswith(f"worker {make_worker_id(process.pid)} stopped sending heartbeats at ")


@pytest.mark.slow
def test_cancel_from_other_process(project_dirs, store):
    run_id = store.create_run(slow_spec())
    process, log_path = start_worker(project_dirs, "--exit-when-idle")
    try:
        wait_for_first_epoch(store, run_id, process, log_path)
        assert store.request_cancel(run_id) == "running"
        process.wait(timeout=START_TIMEOUT)
    finally:
        kill(process)

    run = store.get_run(run_id)
    assert process.returncode == 0
    assert run["status"] == "cancelled"
    assert run["final_metrics"] is None
    assert 1 <= run["epochs_done"] < 200
    assert [row["epoch"] for row in store.epochs(run_id)] == list(range(1, run["epochs_done"] + 1))


@pytest.mark.slow
def test_sigterm_stops_after_epoch(project_dirs, store):
    run_id = store.create_run(slow_spec())
    process, log_path = start_worker(project_dirs)
    try:
        wait_for_first_epoch(store, run_id, process, log_path)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=START_TIMEOUT)
    finally:
        kill(process)

    run = store.get_run(run_id)
    assert process.returncode == 0
    assert run["status"] == "failed"
    assert run["error"] == (f"worker {make_worker_id(process.pid)} was stopped after epoch "
                            f"{run['epochs_done']} of 200")
    assert len(store.epochs(run_id)) == run["epochs_done"]
    assert "received SIGTERM" in log_path.read_text(errors="replace")
    assert store.list_workers() == []


class CancelAfterStore(RunStore):
    """A real store that requests a cancel as soon as epoch ``cancel_after`` is written."""

    cancel_after = 2

    def add_epoch(self, run_id, record):
        super().add_epoch(run_id, record)
        if record.epoch == self.cancel_after:
            self.request_cancel(run_id)


@pytest.mark.slow
def test_cancel_keeps_finished_epochs(project_dirs):
    worker = Worker(project_dirs.runs_dir, project_dirs.data_dir, poll_seconds=0.1)
    worker.store = CancelAfterStore(project_dirs.runs_dir)
    run_id = worker.store.create_run(small_spec(epochs=6))

    assert worker.run_forever(exit_when_idle=True) == 1

    run = worker.store.get_run(run_id)
    assert run["status"] == "cancelled"
    assert run["epochs_done"] == 2
    assert [row["epoch"] for row in worker.store.epochs(run_id)] == [1, 2]
    assert run["final_metrics"] is None
    assert run["finished_at"] is not None


def test_worker_failure_continues(project_dirs, store, caplog):
    first = store.create_run({"dataset": "no-such-data", "model": {"epochs": 2}})
    second = store.create_run({"dataset": "no-such-data-either", "model": {"epochs": 2}})
    worker = Worker(project_dirs.runs_dir, project_dirs.data_dir, poll_seconds=0.1)

    with caplog.at_level("INFO", logger="ials.runs.worker"):
        handled = worker.run_forever(exit_when_idle=True)

    assert handled == 2
    for run_id in (first, second):
        run = store.get_run(run_id)
        assert run["status"] == "failed"
        assert ": " in run["error"]
        assert f"run {run_id} failed" in caplog.text
        assert f"run {run_id} claimed by worker {worker.worker_id}" in caplog.text


def test_worker_max_runs(project_dirs, store):
    for _ in range(3):
        store.create_run({"dataset": "no-such-data", "model": {"epochs": 1}})
    worker = Worker(project_dirs.runs_dir, project_dirs.data_dir, poll_seconds=0.1)

    assert worker.run_forever(max_runs=2) == 2
    assert store.count_runs(status="queued") == 1


def test_worker_command_rejects_bad_options(project_dirs):
    for option, value in (("--max-runs", "0"), ("--idle-exit-seconds", "-1")):
        result = subprocess.run(
            [sys.executable, "-m", "ials", "worker", option, value], cwd=REPO_ROOT,
            env=worker_env(), capture_output=True, text=True, timeout=120,
        )
        assert result.returncode != 0
        assert option in result.stderr


POOL_CALL = """
    import sys, time
    from ials.runs.pool import ensure_workers
    while time.time() < float(sys.argv[3]):
        time.sleep(0.001)
    print(" ".join(map(str, ensure_workers(1, runs_dir=sys.argv[1], data_dir=sys.argv[2]))))
"""


@pytest.mark.slow
def test_pool_starts_one_worker(project_dirs, store):
    from ials.runs.pool import stop_workers

    run_id = store.create_run(small_spec(epochs=2))
    env = {**worker_env(), "IALS_WORKER_IDLE_SECONDS": "120"}
    start_at = str(time.time() + 2.0)  # both "sessions" call ensure_workers together
    callers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(POOL_CALL), str(project_dirs.runs_dir),
             str(project_dirs.data_dir), start_at],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for caller in callers:
        out, err = caller.communicate(timeout=120)
        assert caller.returncode == 0, err
        outputs.append(out.split())

    try:
        assert len(outputs[0]) == 1
        assert outputs[0] == outputs[1]  # the second call found the first one's worker
        pid = int(outputs[0][0])
        log_path = project_dirs.runs_dir / "logs" / "workers.out"
        wait_for(lambda: store.get_run(run_id)["status"] == "finished", None, log_path,
                 "the pool worker to finish the run")
        assert [worker["pid"] for worker in store.list_workers()] == [pid]
    finally:
        stopped = stop_workers(project_dirs.runs_dir)

    assert stopped == [pid]
    assert store.list_workers() == []
    assert f"worker {make_worker_id(pid)} stopped" in log_path.read_text(errors="replace")
