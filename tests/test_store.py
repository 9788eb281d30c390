"""Run store: schema and migrations, run lifecycle, concurrency across real processes,
stale runs, sweeps, export/import, and the logging set-up."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ials.experiment import EpochRecord
from ials.logs import setup_logging
from ials.runs.store import (
    SCHEMA_VERSION,
    RunNotFoundError,
    RunStateError,
    RunStore,
    connect,
    make_worker_id,
    migrate,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def make_spec(**model) -> dict:
    values = {"dim": 8, "epochs": 3}
    values.update(model)
    return {"dataset": "synthetic-small", "model": values}


def epoch_record(epoch: int, hr: float = 0.25) -> dict:
    return {
        "epoch": epoch,
        "loss": {"L_S": 1.0 * epoch, "L_I": 2.0, "R": 0.5, "L": 1.0 * epoch + 2.5},
        "metrics": {"HR@10": hr, "NDCG@10": hr / 2},
        "train_seconds": 0.1,
        "eval_seconds": 0.01,
    }


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def run_python(code: str, *args: str) -> subprocess.Popen:
    """Start ``python -c code args`` with the repository importable."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def finish_all(processes: list[subprocess.Popen], timeout: float = 120.0) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"child failed with {process.returncode}:\n{err}"
        outputs.append(out)
    return outputs


# --- schema ------------------------------------------------------------------------------


def test_schema_created_in_empty_dir(tmp_path):
    store = RunStore(tmp_path / "new" / "runs")

    assert store.path.is_file()
    assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "epochs", "sweeps", "workers"} <= tables


def test_schema_created_in_empty_file(tmp_path):
    (tmp_path / "runs.sqlite").write_bytes(b"")

    store = RunStore(tmp_path)

    assert store.schema_version == SCHEMA_VERSION
    assert store.list_runs() == []


def test_migration_from_previous_version(tmp_path):
    path = tmp_path / "runs.sqlite"
    conn = connect(path)
    assert migrate(conn, target=SCHEMA_VERSION - 1) == SCHEMA_VERSION - 1
    spec = json.dumps(make_spec())
    conn.execute(
        "INSERT INTO runs (id, status, spec, created_at, epochs_total) "
        "VALUES ('oldrun', 'finished', ?, 1.0, 3)",
        (spec,),
    )
    conn.execute(
        "INSERT INTO epochs (run_id, epoch, L, metrics, recorded_at) "
        "VALUES ('oldrun', 1, 4.5, '{\"HR@10\": 0.5}', 2.0)"
    )
    conn.close()

    store = RunStore(tmp_path)

    assert store.schema_version == SCHEMA_VERSION
    run = store.get_run("oldrun")
    assert run["status"] == "finished"
    assert run["spec"] == json.loads(spec)
    assert run["imported_from"] is None
    assert store.epochs("oldrun")[0]["metrics"] == {"HR@10": 0.5}
    assert store.list_workers() == []


def test_reopening_keeps_data(tmp_path):
    run_id = RunStore(tmp_path).create_run(make_spec())

    again = RunStore(tmp_path)

    assert again.get_run(run_id)["status"] == "queued"
    assert again.schema_version == SCHEMA_VERSION


def test_newer_schema_rejected(tmp_path):
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")

    with pytest.raises(RuntimeError, match="reads only versions up to"):
        RunStore(tmp_path)


# --- creating and reading runs -----------------------------------------------------------


def test_create_run_stores_spec(store):
    run_id = store.create_run(make_spec(seed=7), name="first", session_id="s1")

    run = store.get_run(run_id)
    assert len(run_id) == 12
    assert run["status"] == "queued"
    assert run["name"] == "first"
    assert run["session_id"] == "s1"
    assert run["seed"] == 7
    assert run["epochs_total"] == 3
    assert run["epochs_done"] == 0
    assert run["spec"]["model"]["dim"] == 8
    assert run["spec"]["model"]["alpha0"] == 0.1  # defaults filled in by RunSpec
    assert run["cancel_requested"] is False
    assert run["final_metrics"] is None


@pytest.mark.parametrize(
    "spec, message",
    [
        (make_spec(dim=0), "dim must be an integer ≥ 1"),
        (make_spec(solver="newton"), "solver must be one of"),
        (make_spec(learning_rate=0.1), "unknown hyperparameter"),
        ({"dataset": "x", "colour": "red"}, "unknown run setting"),
        ({"dataset": "", "model": {}}, "dataset must be a non-empty name"),
        ({"dataset": "x", "model": [1, 2]}, "'model' must be a dict"),
        ("synthetic", "must be a dict"),
    ],
)
def test_create_run_rejects_invalid_spec(store, spec, message):
    with pytest.raises(ValueError, match=message):
        store.create_run(spec)
    assert store.list_runs() == []


def test_create_run_rejects_unknown_sweep(store):
    with pytest.raises(ValueError, match="sweep 'nope' not found"):
        store.create_run(make_spec(), sweep_id="nope")


def test_list_runs_newest_first_and_filters(store):
    first = store.create_run(make_spec(), session_id="a")
    second = store.create_run(make_spec(), session_id="b")
    third = store.create_run(make_spec(), session_id="a")
    store.request_cancel(second)

    assert [run["id"] for run in store.list_runs()] == [third, second, first]
    assert [run["id"] for run in store.list_runs(status="queued")] == [third, first]
    assert [run["id"] for run in store.list_runs(status=["cancelled"])] == [second]
    assert [run["id"] for run in store.list_runs(session_id="a")] == [third, first]
    assert store.count_runs(status=("queued", "cancelled")) == 3
    with pytest.raises(ValueError, match="unknown run status done"):
        store.list_runs(status="done")


def test_get_run_unknown_returns_none(store):
    assert store.get_run("000000000000") is None
    assert store.epochs("000000000000") == []


def test_rename_and_notes(store):
    run_id = store.create_run(make_spec())

    store.rename_run(run_id, "baseline")
    store.set_notes(run_id, "d=8, short")

    run = store.get_run(run_id)
    assert run["name"] == "baseline"
    assert run["notes"] == "d=8, short"
    with pytest.raises(RunNotFoundError):
        store.rename_run("missing", "x")
    with pytest.raises(ValueError, match="notes must be text"):
        store.set_notes(run_id, None)


# --- worker side -------------------------------------------------------------------------


def test_run_lifecycle_to_finished(store):
    run_id = store.create_run(make_spec())

    claimed = store.claim_next_run("host:1")
    assert claimed["id"] == run_id
    assert claimed["status"] == "running"
    assert claimed["worker_id"] == "host:1"
    assert claimed["started_at"] is not None

    store.record_prepared(run_id, {
        "protocol": "heldout-users", "effective_reg": 0.25, "dataset_fingerprint": "abc",
        "package_version": "9.9", "dataset_info": {"items": 400}, "memory_estimate": 1024,
    })
    store.add_epoch(run_id, epoch_record(2, hr=0.3))
    store.add_epoch(run_id, epoch_record(1, hr=0.2))
    assert store.finish_run(run_id, "finished", final_metrics={"HR@10": 0.31})

    run = store.get_run(run_id)
    assert run["status"] == "finished"
    assert run["protocol"] == "heldout-users"
    assert run["effective_reg"] == 0.25
    assert run["dataset_fingerprint"] == "abc"
    assert run["package_version"] == "9.9"
    assert run["dataset_info"] == {"items": 400}
    assert run["memory_estimate"] == 1024
    assert run["epochs_done"] == 2
    assert run["final_metrics"] == {"HR@10": 0.31}
    assert run["finished_at"] >= run["started_at"]
    epochs = store.epochs(run_id)
    assert [row["epoch"] for row in epochs] == [1, 2]
    assert epochs[1]["L_S"] == 2.0
    assert epochs[1]["L"] == 4.5
    assert epochs[1]["metrics"] == {"HR@10": 0.3, "NDCG@10": 0.15}
    assert epochs[1]["train_seconds"] == 0.1
    assert epochs[1]["recorded_at"] > 0


def test_add_epoch_accepts_epoch_record(store):
    run_id = store.create_run(make_spec())
    store.claim_next_run("host:1")
    record = EpochRecord(epoch=1, loss={"L_S": 1.0, "L_I": 2.0, "R": 3.0, "L": 6.0},
                         metrics={"Recall@20": 0.4}, train_seconds=1.5, eval_seconds=0.5)

    store.add_epoch(run_id, record)
    store.add_epoch(run_id, {**record.to_dict(), "epoch": 2})

    epochs = store.epochs(run_id)
    assert [row["L"] for row in epochs] == [6.0, 6.0]
    assert epochs[0]["metrics"] == {"Recall@20": 0.4}
    assert epochs[1]["train_seconds"] == 1.5
    assert epochs[1]["eval_seconds"] == 0.5


def test_add_epoch_rejects_bad_input(store):
    run_id = store.create_run(make_spec())
    store.claim_next_run("host:1")
    store.add_epoch(run_id, epoch_record(1))

    with pytest.raises(ValueError, match="epoch 1 is already recorded"):
        store.add_epoch(run_id, epoch_record(1))
    with pytest.raises(ValueError, match="epoch must be an integer ≥ 1"):
        store.add_epoch(run_id, epoch_record(0))
    with pytest.raises(ValueError, match="L_S must be a number"):
        store.add_epoch(run_id, {**epoch_record(2), "loss": {"L_S": "big"}})
    assert len(store.epochs(run_id)) == 1
    assert store.get_run(run_id)["epochs_done"] == 1


def test_add_epoch_rejects_finished_run(store):
    run_id = store.create_run(make_spec())
    store.claim_next_run("host:1")
    store.finish_run(run_id, "failed", error="RuntimeError: boom")

    with pytest.raises(RunStateError, match="is failed, not running"):
        store.add_epoch(run_id, epoch_record(1))
    assert store.get_run(run_id)["error"] == "RuntimeError: boom"
    assert store.finish_run(run_id, "finished") is False
    assert store.get_run(run_id)["status"] == "failed"


def test_finish_run_rejects_unknown_status(store):
    run_id = store.create_run(make_spec())
    with pytest.raises(ValueError, match="final status must be one of"):
        store.finish_run(run_id, "done")


def test_claim_takes_oldest_queued(store):
    first = store.create_run(make_spec())
    second = store.create_run(make_spec())
    store.request_cancel(first)

    assert store.claim_next_run("host:1")["id"] == second
    assert store.claim_next_run("host:2") is None


def test_cancel_queued_and_running(store):
    queued = store.create_run(make_spec())
    running = store.create_run(make_spec())
    store.claim_next_run("host:1")  # claims `queued`, the older one
    assert store.get_run(queued)["status"] == "running"

    assert store.request_cancel(queued) == "running"
    assert store.is_cancel_requested(queued) is True
    assert store.request_cancel(running) == "cancelled"
    assert store.get_run(running)["finished_at"] is not None
    assert store.is_cancel_requested("missing") is True

    store.finish_run(queued, "cancelled")
    assert store.request_cancel(queued) == "cancelled"


def test_delete_run(store):
    run_id = store.create_run(make_spec())
    store.claim_next_run("host:1")
    store.add_epoch(run_id, epoch_record(1))

    with pytest.raises(RunStateError, match="cancel it"):
        store.delete_run(run_id)
    store.finish_run(run_id, "cancelled")
    store.delete_run(run_id)

    assert store.get_run(run_id) is None
    assert store.epochs(run_id) == []
    with pytest.raises(RunNotFoundError):
        store.delete_run(run_id)


def test_heartbeat_reports_ownership(store):
    run_id = store.create_run(make_spec())
    store.claim_next_run("host:1")
    before = store.get_run(run_id)["heartbeat_at"]

    assert store.heartbeat(run_id, "host:1") is True
    assert store.get_run(run_id)["heartbeat_at"] >= before
    assert store.heartbeat(run_id, "host:2") is False
    store.finish_run(run_id, "finished")
    assert store.heartbeat(run_id, "host:1") is False


def test_claim_is_atomic_across_processes(store):
    run_ids = {store.create_run(make_spec()) for _ in range(40)}
    code = """
        import sys, time
        from ials.runs.store import RunStore
        store = RunStore(sys.argv[1])
        worker_id = sys.argv[2]
        while time.time() < float(sys.argv[3]):
            time.sleep(0.001)
        while (run := store.claim_next_run(worker_id)) is not None:
            print(run["id"], flush=True)
    """
    start_at = str(time.time() + 2.0)  # all children start claiming together
    workers = [f"otherhost:{n}" for n in range(4)]
    processes = [run_python(code, str(store.runs_dir), worker, start_at) for worker in workers]

    outputs = finish_all(processes)

    claims = [line for out in outputs for line in out.split()]
    assert sorted(claims) == sorted(run_ids)  # every run claimed exactly once
    for worker, out in zip(workers, outputs):
        for run_id in out.split():
            assert store.get_run(run_id)["worker_id"] == worker


def test_concurrent_writers_and_reader(store):
    run_a = store.create_run(make_spec(epochs=150))
    run_b = store.create_run(make_spec(epochs=150))
    store.claim_next_run("otherhost:1")
    store.claim_next_run("otherhost:2")
    writer = """
        import sys, time
        from ials.runs.store import RunStore
        store = RunStore(sys.argv[1])
        while time.time() < float(sys.argv[3]):
            time.sleep(0.001)
        for epoch in range(1, 151):
            store.add_epoch(sys.argv[2], {
                "epoch": epoch, "loss": {"L_S": 1.0, "L_I": 1.0, "R": 1.0, "L": 3.0},
                "metrics": {"HR@10": epoch / 150}, "train_seconds": 0.0, "eval_seconds": 0.0,
            })
            store.heartbeat(sys.argv[2], sys.argv[4])
    """
    reader = """
        import sys, time
        from ials.runs.store import RunStore
        store = RunStore(sys.argv[1])
        while time.time() < float(sys.argv[2]):
            time.sleep(0.001)
        reads = 0
        while True:
            runs = {run["id"]: run for run in store.list_runs()}
            counts = [len(store.epochs(run_id)) for run_id in runs]
            # epochs_done and the epoch rows are written in one transaction
            for run_id, run in runs.items():
                assert run["epochs_done"] <= len(store.epochs(run_id))
            reads += 1
            if all(count == 150 for count in counts):
                break
        print(reads)
    """
    start_at = str(time.time() + 2.0)
    processes = [
        run_python(writer, str(store.runs_dir), run_a, start_at, "otherhost:1"),
        run_python(writer, str(store.runs_dir), run_b, start_at, "otherhost:2"),
        run_python(reader, str(store.runs_dir), start_at),
    ]

    outputs = finish_all(processes)

    assert int(outputs[2]) >= 1
    for run_id in (run_a, run_b):
        epochs = store.epochs(run_id)
        assert [row["epoch"] for row in epochs] == list(range(1, 151))
        assert store.get_run(run_id)["epochs_done"] == 150


# --- stale runs --------------------------------------------------------------------------


def test_stale_run_dead_pid(store):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    run_id = store.create_run(make_spec())
    store.claim_next_run(make_worker_id(dead_pid))

    assert store.fail_stale_runs(timeout_seconds=3600) == [run_id]

    run = store.get_run(run_id)
    assert run["status"] == "failed"
    assert run["error"] == f"worker process {dead_pid} is gone"
    assert run["finished_at"] is not None


def test_stale_run_old_heartbeat(store):
    run_id = store.create_run(make_spec())
    store.claim_next_run("otherhost:4242")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time() - 120, run_id))

    assert store.fail_stale_runs(timeout_seconds=60) == [run_id]

    error = store.get_run(run_id)["error"]
    assert error.startswith("worker otherhost:4242 stopped sending heartbeats at ")
    assert error.endswith(" UTC")


def test_live_runs_not_stale(store):
    local = store.create_run(make_spec())
    remote = store.create_run(make_spec())
    store.claim_next_run(make_worker_id())  # this test process: alive
    store.claim_next_run("otherhost:4242")  # fresh heartbeat

    assert store.fail_stale_runs(timeout_seconds=60) == []
    assert store.get_run(local)["status"] == "running"
    assert store.get_run(remote)["status"] == "running"


def test_workers_table_prunes_dead(store):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    store.register_worker(make_worker_id(dead_pid), dead_pid)
    store.register_worker(make_worker_id(), os.getpid())

    workers = store.list_workers()

    assert [worker["pid"] for worker in workers] == [os.getpid()]
    store.unregister_worker(make_worker_id())
    assert store.list_workers() == []


# --- sweeps ------------------------------------------------------------------------------


def test_sweeps(store):
    sweep_id = store.create_sweep("grid", {"reg": [0.1, 1.0]}, name="λ grid")
    runs = [store.create_run(make_spec(), sweep_id=sweep_id) for _ in range(2)]
    other = store.create_sweep("repeat", {"seeds": 3})

    sweep = store.get_sweep(sweep_id)
    assert sweep["kind"] == "grid"
    assert sweep["name"] == "λ grid"
    assert sweep["config"] == {"reg": [0.1, 1.0]}
    assert sweep["run_ids"] == runs
    assert [s["id"] for s in store.list_sweeps()] == [other, sweep_id]
    assert [run["id"] for run in store.list_runs(sweep_id=sweep_id)] == runs[::-1]
    assert store.get_sweep("missing") is None
    with pytest.raises(ValueError, match="sweep kind must be one of"):
        store.create_sweep("random", {})
    with pytest.raises(ValueError, match="JSON-serializable"):
        store.create_sweep("grid", {"bad": object()})


# --- export and import -------------------------------------------------------------------


def finished_run(store: RunStore) -> str:
    run_id = store.create_run(make_spec(), name="exported")
    store.claim_next_run("host:1")
    store.record_prepared(run_id, {"protocol": "heldout-users", "effective_reg": 0.5,
                                   "dataset_fingerprint": "f00", "dataset_info": {"items": 3}})
    for epoch in (1, 2, 3):
        store.add_epoch(run_id, epoch_record(epoch, hr=epoch / 10))
    store.finish_run(run_id, "finished", final_metrics={"HR@10": 0.35})
    return run_id


def test_export_import_round_trip(store, tmp_path):
    run_id = finished_run(store)
    payload = json.loads(json.dumps(store.export_run(run_id)))  # through a JSON file
    target = RunStore(tmp_path / "other")

    new_id = target.import_run(payload)

    assert payload["format"] == "ials-run"
    assert payload["version"] == 1
    original = store.get_run(run_id)
    imported = target.get_run(new_id)
    assert new_id != run_id
    assert imported["imported_from"] == run_id
    for key in ("name", "status", "spec", "protocol", "effective_reg", "dataset_fingerprint",
                "package_version", "dataset_info", "final_metrics", "epochs_done",
                "epochs_total", "created_at", "finished_at"):
        assert imported[key] == original[key], key
    assert target.epochs(new_id) == store.epochs(run_id)


def test_import_running_run_becomes_failed(store):
    run_id = store.create_run(make_spec())
    store.claim_next_run("host:1")
    store.add_epoch(run_id, epoch_record(1))
    payload = store.export_run(run_id)

    new_id = store.import_run(payload)

    imported = store.get_run(new_id)
    assert imported["status"] == "failed"
    assert imported["error"] == "imported while running; the original run never finished."
    assert len(store.epochs(new_id)) == 1


def corrupt(payload: dict, path: tuple, value) -> dict:
    payload = json.loads(json.dumps(payload))
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("format",), "csv", "not an exported run"),
        (("version",), 2, "unsupported run file version 2"),
        (("run",), KeyError, "missing the 'run' object"),
        (("run", "spec"), KeyError, "missing required key"),
        (("run", "status"), "paused", "unknown status 'paused'"),
        (("run", "spec", "model", "dim"), -1, "dim must be an integer ≥ 1"),
        (("run", "spec", "model", "foo"), 1, "unknown hyperparameter"),
        (("run", "final_metrics"), [1], "final_metrics' must be an object"),
        (("run", "created_at"), "yesterday", "created_at' must be a number"),
        (("epochs",), KeyError, "missing the 'epochs' list"),
        (("epochs", 0, "epoch"), 2, "same epoch number more than once"),
        (("epochs", 0, "metrics"), "high", "metrics must be a dict"),
    ],
)
def test_import_rejects_bad_payload(store, path, value, message):
    payload = corrupt(store.export_run(finished_run(store)), path, value)
    before = len(store.list_runs())

    with pytest.raises(ValueError, match=message):
        store.import_run(payload)
    assert len(store.list_runs()) == before


def test_import_rejects_non_object(store):
    with pytest.raises(ValueError, match="must be a JSON object"):
        store.import_run([1, 2])


def test_export_unknown_run(store):
    with pytest.raises(RunNotFoundError, match="not found"):
        store.export_run("missing")


# --- logging -----------------------------------------------------------------------------


def test_setup_logging_idempotent(tmp_path):
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        path = setup_logging(tmp_path, "test", logging.INFO)
        count = len(root.handlers)
        assert setup_logging(tmp_path, "test", "DEBUG") == path
        assert len(root.handlers) == count

        logging.getLogger("ials.test").info("hello %s", "file")
        for handler in root.handlers:
            handler.flush()
        line = path.read_text().strip().splitlines()[-1]
        assert path == tmp_path.resolve() / "logs" / "ials.log"
        assert " INFO " in line
        assert f"pid={os.getpid()} test ials.test: hello file" in line
        with pytest.raises(ValueError, match="invalid log level"):
            setup_logging(tmp_path, "test", "LOUD")
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
