"""Demo limits: environment parsing, each cap, and its enforcement in a real run store."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from ials.config import IALSConfig, RunSpec
from ials.limits import (
    LimitError,
    Limits,
    check_mutation,
    check_new_run,
    check_new_runs,
    check_upload_size,
    current_limits,
)
from ials.runs.store import RunStore

DEMO = Limits(enabled=True)


def make_spec(**model) -> dict:
    """Return a valid run spec on the synthetic data set with the given model settings."""
    return RunSpec(dataset="synthetic", model=replace(IALSConfig(), **model)).to_dict()


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def demo_env(monkeypatch, **values) -> None:
    """Turn the demo caps on through the environment, with optional overrides."""
    monkeypatch.setenv("IALS_DEMO", "1")
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))


# --- reading the environment -------------------------------------------------------------


def test_limits_off_by_default():
    limits = current_limits()
    assert limits.enabled is False
    assert limits.read_only is False
    assert limits.banner_text() == ""


def test_limits_defaults_when_demo_on():
    limits = current_limits({"IALS_DEMO": "1"})
    assert limits == Limits(enabled=True, max_dim=256, max_epochs=32, max_concurrent=2,
                            runs_per_hour=10, max_upload_mb=50, read_only=False)


def test_limits_read_every_variable():
    limits = current_limits({
        "IALS_DEMO": "true", "IALS_DEMO_MAX_DIM": "64", "IALS_DEMO_MAX_EPOCHS": " 8 ",
        "IALS_DEMO_MAX_CONCURRENT": "5", "IALS_DEMO_RUNS_PER_HOUR": "3",
        "IALS_DEMO_MAX_UPLOAD_MB": "7", "IALS_READ_ONLY": "yes",
    })
    assert limits == Limits(enabled=True, max_dim=64, max_epochs=8, max_concurrent=5,
                            runs_per_hour=3, max_upload_mb=7, read_only=True)
    assert limits.max_upload_bytes == 7 * 2**20


@pytest.mark.parametrize("raw, expected", [
    ("1", True), ("on", True), ("TRUE", True), ("0", False), ("off", False), ("", False),
])
def test_limits_flag_spellings(raw, expected):
    assert current_limits({"IALS_DEMO": raw}).enabled is expected
    assert current_limits({"IALS_READ_ONLY": raw}).read_only is expected


def test_limits_empty_number_means_default():
    assert current_limits({"IALS_DEMO_MAX_DIM": ""}).max_dim == 256


@pytest.mark.parametrize("name, raw", [
    ("IALS_DEMO", "maybe"),
    ("IALS_READ_ONLY", "2"),
    ("IALS_DEMO_MAX_DIM", "abc"),
    ("IALS_DEMO_MAX_DIM", "0"),
    ("IALS_DEMO_MAX_EPOCHS", "-3"),
    ("IALS_DEMO_MAX_CONCURRENT", "1.5"),
    ("IALS_DEMO_RUNS_PER_HOUR", "ten"),
    ("IALS_DEMO_MAX_UPLOAD_MB", "0"),
])
def test_limits_invalid_value_names_variable(name, raw):
    with pytest.raises(ValueError) as excinfo:
        current_limits({name: raw})
    message = str(excinfo.value)
    assert name in message
    assert repr(raw) in message


def test_limits_read_from_os_environ(monkeypatch):
    demo_env(monkeypatch, IALS_DEMO_MAX_DIM=128)
    limits = current_limits()
    assert limits.enabled is True
    assert limits.max_dim == 128


# --- banner --------------------------------------------------------------------------------


def test_banner_lists_each_demo_cap():
    text = Limits(enabled=True, max_dim=96, max_epochs=12, max_concurrent=3,
                  runs_per_hour=4, max_upload_mb=20).banner_text()
    assert "d ≤ 96" in text
    assert "epochs ≤ 12" in text
    assert "at most 3 runs" in text
    assert "4 new runs per browser session per hour" in text
    assert "20 MB" in text
    assert "read-only" not in text


def test_banner_read_only_without_demo():
    text = Limits(read_only=True).banner_text()
    assert "read-only" in text
    assert "Demo limits" not in text


# --- dimension and epoch caps ------------------------------------------------------------


def test_new_run_at_caps_accepted(store):
    check_new_run(make_spec(dim=256, epochs=32), "s1", store, limits=DEMO)


def test_new_run_dim_over_cap(store):
    with pytest.raises(LimitError) as excinfo:
        check_new_run(make_spec(dim=257), "s1", store, limits=DEMO)
    message = str(excinfo.value)
    assert "embedding dimension d = 257" in message
    assert "256" in message
    assert "IALS_DEMO_MAX_DIM" in message


def test_new_run_epochs_over_cap(store):
    with pytest.raises(LimitError) as excinfo:
        check_new_run(make_spec(epochs=33), "s1", store, limits=DEMO)
    message = str(excinfo.value)
    assert "epochs = 33" in message
    assert "32" in message
    assert "IALS_DEMO_MAX_EPOCHS" in message


def test_new_run_missing_model_uses_defaults(store):
    check_new_run({"dataset": "synthetic"}, "s1", store, limits=DEMO)
    tight = Limits(enabled=True, max_dim=IALSConfig().dim - 1)
    with pytest.raises(LimitError, match="d = 64"):
        check_new_run({"dataset": "synthetic"}, "s1", store, limits=tight)


def test_new_run_caps_off_without_demo(store):
    check_new_run(make_spec(dim=4096, epochs=500), "s1", store, limits=Limits())


def test_limit_error_is_value_error():
    assert issubclass(LimitError, ValueError)


# --- concurrency cap (real store) --------------------------------------------------------


def test_concurrency_counts_queued_runs(store):
    limits = Limits(enabled=True, max_concurrent=2, runs_per_hour=100)
    store.create_run(make_spec(), session_id="a")
    check_new_run(make_spec(), "b", store, limits=limits)
    store.create_run(make_spec(), session_id="a")
    with pytest.raises(LimitError) as excinfo:
        check_new_run(make_spec(), "b", store, limits=limits)
    message = str(excinfo.value)
    assert "2 runs are queued or running" in message
    assert "at most 2" in message
    assert "IALS_DEMO_MAX_CONCURRENT" in message


def test_concurrency_counts_running_not_finished(store):
    limits = Limits(enabled=True, max_concurrent=2, runs_per_hour=100)
    store.create_run(make_spec(), session_id="a")
    store.create_run(make_spec(), session_id="a")
    claimed = store.claim_next_run("worker-1")
    assert claimed is not None
    assert store.get_run(claimed["id"])["status"] == "running"
    with pytest.raises(LimitError):
        check_new_run(make_spec(), "b", store, limits=limits)

    store.finish_run(claimed["id"], "finished", final_metrics={"HR@10": 0.5})
    check_new_run(make_spec(), "b", store, limits=limits)


def test_concurrency_batch_rejected_whole(store):
    limits = Limits(enabled=True, max_concurrent=3, runs_per_hour=100)
    store.create_run(make_spec(), session_id="a")
    check_new_runs([make_spec(), make_spec()], "a", store, limits=limits)
    with pytest.raises(LimitError, match="1 runs are queued or running and 3 more"):
        check_new_runs([make_spec()] * 3, "a", store, limits=limits)


# --- per-session rate cap (real store) ---------------------------------------------------


def test_rate_cap_per_session(store):
    limits = Limits(enabled=True, max_concurrent=100, runs_per_hour=3)
    for _ in range(3):
        check_new_run(make_spec(), "alice", store, limits=limits)
        store.create_run(make_spec(), session_id="alice")

    with pytest.raises(LimitError) as excinfo:
        check_new_run(make_spec(), "alice", store, limits=limits)
    message = str(excinfo.value)
    assert "started 3 runs in the last hour" in message
    assert "allows 3 per hour" in message
    assert "IALS_DEMO_RUNS_PER_HOUR" in message

    check_new_run(make_spec(), "bob", store, limits=limits)


def test_rate_cap_window_slides(store):
    limits = Limits(enabled=True, max_concurrent=100, runs_per_hour=2)
    store.create_run(make_spec(), session_id="alice")
    store.create_run(make_spec(), session_id="alice")
    created = max(run["created_at"] for run in store.list_runs())

    with pytest.raises(LimitError, match="try again in about"):
        check_new_run(make_spec(), "alice", store, limits=limits, now=created + 1)
    check_new_run(make_spec(), "alice", store, limits=limits, now=created + 3601)


def test_rate_cap_counts_finished_runs(store):
    limits = Limits(enabled=True, max_concurrent=100, runs_per_hour=1)
    run_id = store.create_run(make_spec(), session_id="alice")
    store.request_cancel(run_id)
    assert store.get_run(run_id)["status"] == "cancelled"
    with pytest.raises(LimitError):
        check_new_run(make_spec(), "alice", store, limits=limits)


def test_rate_cap_skipped_without_session(store):
    limits = Limits(enabled=True, max_concurrent=100, runs_per_hour=1)
    store.create_run(make_spec())
    store.create_run(make_spec())
    check_new_run(make_spec(), None, store, limits=limits)


# --- read-only mode ----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["delete run 1a2b", "cancel run 1a2b", "import a run"])
def test_read_only_rejects_mutation(action):
    with pytest.raises(LimitError) as excinfo:
        check_mutation(action, limits=Limits(read_only=True))
    message = str(excinfo.value)
    assert f"cannot {action}" in message
    assert "IALS_READ_ONLY=1" in message


def test_mutation_allowed_when_writable():
    check_mutation("delete run 1a2b", limits=Limits(enabled=True))


def test_read_only_rejects_new_run(store):
    with pytest.raises(LimitError, match="cannot launch runs"):
        check_new_run(make_spec(), "s1", store, limits=Limits(read_only=True))


# --- upload size -------------------------------------------------------------------------


def test_upload_at_cap_accepted():
    check_upload_size(50 * 2**20, limits=DEMO)


def test_upload_over_cap_rejected():
    with pytest.raises(LimitError) as excinfo:
        check_upload_size(50 * 2**20 + 1, limits=DEMO)
    message = str(excinfo.value)
    assert "50.0 MB" in message
    assert "limit of 50 MB" in message
    assert "IALS_DEMO_MAX_UPLOAD_MB" in message


def test_upload_unlimited_without_demo():
    check_upload_size(10 * 2**30, limits=Limits())


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_upload_size_invalid(bad):
    with pytest.raises(ValueError, match="non-negative number of bytes"):
        check_upload_size(bad, limits=DEMO)


# --- enforcement inside the run store -----------------------------------------------------


def test_store_create_run_enforces_caps(store, monkeypatch):
    demo_env(monkeypatch, IALS_DEMO_MAX_CONCURRENT=2, IALS_DEMO_RUNS_PER_HOUR=100)
    with pytest.raises(LimitError, match="d = 512"):
        store.create_run(make_spec(dim=512), session_id="s1")
    store.create_run(make_spec(), session_id="s1")
    store.create_run(make_spec(), session_id="s1")
    with pytest.raises(LimitError, match="IALS_DEMO_MAX_CONCURRENT"):
        store.create_run(make_spec(), session_id="s2")
    assert len(store.list_runs()) == 2


def test_store_create_run_enforces_rate(store, monkeypatch):
    demo_env(monkeypatch, IALS_DEMO_MAX_CONCURRENT=100, IALS_DEMO_RUNS_PER_HOUR=2)
    store.create_run(make_spec(), session_id="s1")
    store.create_run(make_spec(), session_id="s1")
    with pytest.raises(LimitError, match="IALS_DEMO_RUNS_PER_HOUR"):
        store.create_run(make_spec(), session_id="s1")
    store.create_run(make_spec(), session_id="s2")
    assert len(store.list_runs()) == 3


def test_store_read_only_keeps_runs(store, monkeypatch):
    run_id = store.create_run(make_spec(), session_id="s1")
    payload = store.export_run(run_id)
    monkeypatch.setenv("IALS_READ_ONLY", "1")

    with pytest.raises(LimitError, match="launch"):
        store.create_run(make_spec(), session_id="s1")
    with pytest.raises(LimitError, match="IALS_READ_ONLY"):
        store.delete_run(run_id)
    with pytest.raises(LimitError, match="IALS_READ_ONLY"):
        store.request_cancel(run_id)
    with pytest.raises(LimitError, match="IALS_READ_ONLY"):
        store.import_run(payload)

    runs = store.list_runs()
    assert [run["id"] for run in runs] == [run_id]
    assert runs[0]["status"] == "queued"
    assert runs[0]["cancel_requested"] is False
    assert store.get_run(run_id) is not None


def test_store_created_at_is_unix_seconds(store):
    # The rate cap compares created_at with time.time().
    before = time.time()
    store.create_run(make_spec(), session_id="s1")
    created = store.list_runs()[0]["created_at"]
    assert before - 1 <= created <= time.time() + 1
