"""`python -m ials sweep` end to end: real store, real worker processes, synthetic data."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(tmp_path, *args, timeout=300):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["IALS_DATA_DIR"] = str(tmp_path / "data")
    for name in ("IALS_DEMO", "IALS_READ_ONLY"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "ials", "sweep", "--runs-dir", str(tmp_path / "runs"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
    )


def best_by_hand(store_path, metric):
    """Return {run_id: (best value, best epoch)} read straight from the SQLite file."""
    best = {}
    with sqlite3.connect(store_path) as conn:
        for run_id, epoch, metrics in conn.execute("SELECT run_id, epoch, metrics FROM epochs ORDER BY epoch"):
            value = json.loads(metrics)[metric]
            if run_id not in best or value > best[run_id][0]:
                best[run_id] = (value, epoch)
    return best


GRID = ["--dataset", "synthetic-small", "--dim", "8", "--epochs", "2",
        "--alpha0", "0.1", "0.01", "--reg", "0.01", "0.001"]


@pytest.mark.slow
def test_sweep_json_names_best_setting(tmp_path):
    result = run_cli(tmp_path, *GRID, "--workers", "2", "--json", "--metric", "NDCG@10")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    runs, final = lines[:-1], lines[-1]
    assert len(runs) == 4
    assert {(r["alpha0"], r["reg"]) for r in runs} == {(0.1, 0.01), (0.1, 0.001), (0.01, 0.01), (0.01, 0.001)}
    assert all(r["status"] == "finished" for r in runs)
    assert final["final"] is True
    assert final["finished"] == 4

    by_hand = best_by_hand(tmp_path / "runs" / "runs.sqlite", "NDCG@10")
    for line in runs:
        assert line["value"] == pytest.approx(by_hand[line["run_id"]][0])
        assert line["best_epoch"] == by_hand[line["run_id"]][1]
    winner = max(runs, key=lambda r: by_hand[r["run_id"]][0])
    assert final["metric"] == "NDCG@10"
    assert (final["alpha0"], final["reg"], final["nu"]) == (winner["alpha0"], winner["reg"], 1.0)
    assert final["value"] == pytest.approx(by_hand[winner["run_id"]][0])
    assert final["best_epoch"] == by_hand[winner["run_id"]][1]
    assert any(item["kind"] == "measure-noise" for item in final["advice"])


@pytest.mark.slow
def test_sweep_table_output_with_seeds(tmp_path):
    result = run_cli(tmp_path, "--dataset", "synthetic-small", "--dim", "8", "--epochs", "2",
                     "--alpha0", "0.1", "--reg", "0.01", "--seeds", "2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "2 runs queued" in out
    assert out.count("finished") == 2
    assert "±" in out  # two seeds give a standard deviation
    assert "best: α₀ = 0.1, λ = 0.01" in out
    assert re.search(r"best epoch \d+\)", out), out
    assert not re.search(r"best epoch \d+\.\d", out), "epochs print as integers"


def test_sweep_rejects_bad_grid(tmp_path):
    # The first values make a valid base spec, so the store exists when the grid fails.
    result = run_cli(tmp_path, *GRID[:8], "--reg", "0.01", "-0.01")
    assert result.returncode == 2
    assert "regularization λ" in result.stderr
    assert "> 0" in result.stderr
    with sqlite3.connect(tmp_path / "runs" / "runs.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_sweep_rejects_zero_workers(tmp_path):
    result = run_cli(tmp_path, *GRID, "--workers", "0")
    assert result.returncode == 2
    assert "--workers" in result.stderr
