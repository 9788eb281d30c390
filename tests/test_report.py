"""Run reports and exports: standalone HTML, JSON that imports back, per-epoch CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from ials import report
from ials.config import IALSConfig, RunSpec
from ials.runs.store import RunStore, make_worker_id

EPOCHS = [
    {"epoch": 1, "loss": {"L_S": 50.0, "L_I": 5.0, "R": 2.0, "L": 57.0},
     "metrics": {"Recall@20": 0.25, "NDCG@100": 0.125}, "train_seconds": 1.5, "eval_seconds": 0.5},
    {"epoch": 2, "loss": {"L_S": 40.0, "L_I": 4.5, "R": 2.5, "L": 47.0},
     "metrics": {"Recall@20": 0.3125, "NDCG@100": 0.1875}, "train_seconds": 1.25, "eval_seconds": 0.5},
]


def insert_run(store: RunStore, alpha0: float, name: str) -> str:
    spec = RunSpec(dataset="synthetic-tiny", model=IALSConfig(dim=16, alpha0=alpha0, reg=0.007,
                                                              epochs=2)).to_dict()
    run_id = store.create_run(spec, name=name)
    store.claim_next_run(make_worker_id())
    store.record_prepared(run_id, {"protocol": "heldout-users", "effective_reg": 0.007,
                                   "dataset_fingerprint": "9c1d", "package_version": "0.1.0"})
    for record in EPOCHS:
        store.add_epoch(run_id, record)
    store.finish_run(run_id, "finished", final_metrics={"Recall@20": 0.3333, "NDCG@100": 0.2})
    return run_id


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def markup_outside_scripts(html: str) -> str:
    return re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.DOTALL | re.IGNORECASE)


def script_sources(html: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)


def test_run_report_is_standalone(store):
    run_id = insert_run(store, alpha0=0.3, name="ml-1m <best>")
    html = report.run_report_html(store.get_run(run_id), store.epochs(run_id))
    assert html.startswith("<!DOCTYPE html>")
    assert script_sources(html) == []
    assert "http" not in markup_outside_scripts(html)
    # plotly.js is embedded exactly once (its licence banner names the version).
    assert html.count("* plotly.js v") == 1
    # One chart for the loss and one per metric.
    assert html.count("Plotly.newPlot(") == 3


def test_run_report_contains_settings_and_metrics(store):
    run_id = insert_run(store, alpha0=0.3, name="ml-1m <best>")
    html = report.run_report_html(store.get_run(run_id), store.epochs(run_id))
    assert "ml-1m &lt;best&gt;" in html
    assert "<th>α₀</th><td>0.3</td>" in html
    assert "<th>effective λ</th><td>0.007</td>" in html
    assert "<th>data set fingerprint</th><td>9c1d</td>" in html
    assert "<th>Recall@20</th><td>0.3333</td>" in html
    assert "<th>NDCG@100</th><td>0.2000</td>" in html
    assert run_id in html


def test_compare_report_highlights_differences(store):
    first = insert_run(store, alpha0=0.1, name="a")
    second = insert_run(store, alpha0=0.3, name="b")
    runs = [store.get_run(first), store.get_run(second)]
    html = report.compare_report_html(runs, {first: store.epochs(first), second: store.epochs(second)})
    assert script_sources(html) == []
    assert html.count("* plotly.js v") == 1
    assert html.count("Plotly.newPlot(") == 6  # four loss components, two metrics
    assert "<tr class='differs'><th>α₀</th><td>0.1</td><td>0.3</td></tr>" in html
    assert "<tr><th>d</th><td>16</td><td>16</td></tr>" in html
    assert "α₀=0.1" in html
    assert "α₀=0.3" in html


def test_failed_run_report_shows_error(store):
    spec = RunSpec(dataset="synthetic-tiny").to_dict()
    run_id = store.create_run(spec)
    store.claim_next_run(make_worker_id())
    store.finish_run(run_id, "failed", error="out of memory at d=8192")
    html = report.run_report_html(store.get_run(run_id), [])
    assert "out of memory at d=8192" in html
    assert "None yet" in html


def test_run_json_imports_back(store, tmp_path):
    run_id = insert_run(store, alpha0=0.3, name="round trip")
    text = report.run_to_json(store.get_run(run_id), store.epochs(run_id))
    other = RunStore(tmp_path / "other")
    new_id = other.import_run(json.loads(text))
    imported = other.get_run(new_id)
    assert imported["name"] == "round trip"
    assert imported["status"] == "finished"
    assert imported["spec"] == store.get_run(run_id)["spec"]
    assert imported["final_metrics"] == {"Recall@20": 0.3333, "NDCG@100": 0.2}
    original = store.epochs(run_id)
    copied = other.epochs(new_id)
    assert [e["L"] for e in copied] == [e["L"] for e in original]
    assert [e["metrics"] for e in copied] == [e["metrics"] for e in original]


def test_epochs_csv_has_one_row_per_epoch(store):
    run_id = insert_run(store, alpha0=0.3, name="csv")
    rows = list(csv.DictReader(io.StringIO(report.epochs_to_csv(store.epochs(run_id)))))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert float(rows[1]["L_S"]) == 40.0
    assert float(rows[1]["L"]) == 47.0
    assert float(rows[0]["Recall@20"]) == 0.25
    assert float(rows[1]["NDCG@100"]) == 0.1875
    assert float(rows[0]["train_seconds"]) == 1.5
    columns = list(rows[0])
    assert columns[:5] == ["epoch", "L_S", "L_I", "R", "L"]
    assert sorted(columns[5:7]) == ["NDCG@100", "Recall@20"]
    assert columns[7:] == ["train_seconds", "eval_seconds"]
