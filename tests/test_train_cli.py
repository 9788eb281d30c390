"""`python -m ials train` in a real subprocess: JSON lines, table output, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "ials", "train", *args],
        capture_output=True, text=True, timeout=timeout,
    )


def test_json_lines_per_epoch_and_final():
    result = run_cli("--dataset", "synthetic-small", "--dim", "8", "--epochs", "3", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["epoch"] for line in lines[:-1]] == [1, 2, 3]
    for line in lines[:-1]:
        assert set(line["loss"]) == {"L_S", "L_I", "R", "L"}
        assert line["loss"]["L"] == pytest.approx(
            line["loss"]["L_S"] + line["loss"]["L_I"] + line["loss"]["R"])
        assert "Recall@20" in line["metrics"]
        assert "NDCG@20" in line["metrics"]
        assert line["seconds"] > 0
    final = lines[-1]
    assert final["final"] is True
    assert final["split"] == "validation"
    assert final["effective_reg"] == pytest.approx(0.003)
    assert final["metrics"] == lines[-2]["metrics"]
    assert "Recall@20" in final["test_metrics"]
    assert final["spec"]["model"]["dim"] == 8
    assert final["spec"]["dataset"] == "synthetic-small"


def test_normalized_reg_reports_effective_value():
    result = run_cli("--dataset", "synthetic-small", "--dim", "4", "--epochs", "1", "--json",
                     "--normalized-reg", "--reg", "0.01", "--nu", "0", "--nu-ref", "1")
    assert result.returncode == 0, result.stderr
    final = json.loads(result.stdout.splitlines()[-1])
    # ν = 0 with ν* = 1 multiplies λ* by the mean row weight w̄ (> 1 here).
    assert final["effective_reg"] > 0.01


def test_table_output_has_loss_columns():
    result = run_cli("--dataset", "synthetic-small", "--dim", "4", "--epochs", "2",
                     "--split", "test", "--solver", "cg")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "epoch" in line and "L_S" in line)
    for column in ("L_S", "L_I", "R", "L", "Recall@20", "train s"):
        assert column in header
    assert "final model, test split" in result.stdout
    assert "best epoch" not in result.stdout  # no epoch picking on the test split


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dim", "0"], "dim must be an integer ≥ 1, got 0"),
        (["--alpha0", "-1"], "alpha0 (unobserved weight α₀) must be a finite number > 0"),
        (["--dataset", "no-such-set"], "data set 'no-such-set' not found"),
    ],
)
def test_invalid_input_exits_2_with_message(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
