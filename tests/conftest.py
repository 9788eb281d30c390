"""Fixtures shared by the whole suite.

- every test starts with the demo limits off (`ials.limits.ENV_VARS` unset), and
  log handlers a test adds to the root logger (app.py sets up logging) are removed
  after it;
- `project_dirs`: empty data and runs directories in tmp_path, set as
  ``IALS_DATA_DIR`` and ``IALS_RUNS_DIR``;
- `free_port`: a TCP port on 127.0.0.1 that nothing listens on;
- `serve_app`: starts a Streamlit server as a subprocess and waits for its health
  endpoint, stopping it and its worker processes after the test;
- `spawned`: records the pages' requests for workers instead of starting them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from ials.limits import ENV_VARS
from ials.runs import pool

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Seconds a Streamlit server may take to return "ok" on its health endpoint (a cold numba
#: import on a busy 2-core machine takes a while).
SERVER_START_TIMEOUT = 90.0
#: Seconds an idle worker of a test server waits for a run before it exits, so a worker
#: that outlives its test does not linger for the default 10 minutes.
TEST_WORKER_IDLE_SECONDS = "30"


@pytest.fixture(autouse=True)
def _demo_limits_off(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _root_logging_restored():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def project_dirs(tmp_path, monkeypatch) -> SimpleNamespace:
    """Empty ``data_dir`` and ``runs_dir`` under tmp_path, exported as IALS_DATA_DIR/IALS_RUNS_DIR."""
    data = tmp_path / "data"
    runs = tmp_path / "runs"
    data.mkdir()
    runs.mkdir()
    monkeypatch.setenv("IALS_DATA_DIR", str(data))
    monkeypatch.setenv("IALS_RUNS_DIR", str(runs))
    return SimpleNamespace(data_dir=data, runs_dir=runs)


@pytest.fixture
def spawned(monkeypatch) -> list:
    """Record the pages' requests for workers instead of spawning training processes."""
    calls = []
    monkeypatch.setattr(pool, "ensure_workers", lambda *args, **kwargs: calls.append(kwargs) or [])
    return calls


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return find_free_port()


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET ``url`` and return (status, body text)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8", errors="replace")


def wait_for_health(base_url: str, process: subprocess.Popen, log_path: Path,
                    timeout: float = SERVER_START_TIMEOUT) -> None:
    """Poll ``base_url/_stcore/health`` until it returns ``ok``; fail with the server log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the Streamlit server exited with code {process.returncode} before it "
                f"was healthy; its output:\n{log_path.read_text(errors='replace')}"
            )
        try:
            status, body = http_get(f"{base_url}/_stcore/health", timeout=2.0)
            if status == 200 and body.strip() == "ok":
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(
        f"the Streamlit server at {base_url} was not healthy after {timeout:.0f} s; "
        f"its output:\n{log_path.read_text(errors='replace')}"
    )


@pytest.fixture
def serve_app(tmp_path, free_port):
    """Start a Streamlit server; call as ``serve_app(command=None, env=None, cwd=None)``.

    Without ``command`` it runs ``streamlit run app.py`` headless on 127.0.0.1 at
    ``free_port`` from the repository root. ``env`` entries are added to the current
    environment, and idle workers exit after 30 s unless ``env`` or the environment sets
    ``IALS_WORKER_IDLE_SECONDS``. Returns a namespace with ``base_url``, ``port``,
    ``process`` and ``log_path``. When the test ends, every server started is stopped,
    then the workers registered in its ``IALS_RUNS_DIR`` (workers start in their own
    session, so stopping the server's process group misses them).
    """
    started: list[tuple[subprocess.Popen, str | None]] = []

    def start(command: list[str] | None = None, env: dict[str, str] | None = None,
              cwd: Path | None = None, port: int | None = None) -> SimpleNamespace:
        port = free_port if port is None else port
        if command is None:
            command = [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless", "true", "--server.address", "127.0.0.1",
                "--server.port", str(port), "--browser.gatherUsageStats", "false",
            ]
        log_path = tmp_path / f"streamlit-{port}.log"
        full_env = {pool.IDLE_EXIT_ENV: TEST_WORKER_IDLE_SECONDS, **os.environ, **(env or {})}
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command, cwd=cwd or REPO_ROOT, env=full_env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        started.append((process, full_env.get("IALS_RUNS_DIR") or None))
        base_url = f"http://127.0.0.1:{port}"
        wait_for_health(base_url, process, log_path)
        return SimpleNamespace(base_url=base_url, port=port, process=process, log_path=log_path)

    yield start

    for process, runs in started:
        _stop(process)
        # NOTE: without IALS_RUNS_DIR the server used the default runs directory, which
        # may hold workers that are not the test's, so those workers are left running.
        if runs:
            pool.stop_workers(runs)


def _stop(process: subprocess.Popen) -> None:
    """Stop a server and its process group (the worker processes are not in it)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The project's data directory with the real ML-1M NCF files (linked by .ci/run).

    Fails instead of skipping: a missing data set must not turn the real-data checks
    into silent passes.
    """
    data = REPO_ROOT / "data"
    if not (data / "ml-1m").is_dir():
        pytest.fail(
            f"real data missing: {data / 'ml-1m'} does not exist. Link the shared data "
            "folders into data/ (bash .ci/run does this) and rerun."
        )
    return data
