"""Reports and exports of runs: standalone HTML, JSON and per-epoch CSV.

The HTML reports are single files that open offline: the plotly.js library is embedded
once (with the first chart) and every later chart reuses it, so no ``<script src=...>``
points anywhere. The JSON export is the envelope `ials.runs.store.RunStore.import_run`
reads back, so a teammate can import a run that was shared as a file.
"""

from __future__ import annotations

import html
import json
import time
from typing import Sequence

import plotly.graph_objects as go

from ials import charts, views
from ials.runs.store import EXPORT_FORMAT, EXPORT_VERSION

#: Plotly options of the report charts: no plotly logo in the mode bar.
_PLOTLY_CONFIG = {"displaylogo": False}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
tr.differs td { background: #fff3cd; }
.status { font-weight: bold; } .error { color: #a00; white-space: pre-wrap; }
.meta { color: #666; font-size: 0.85rem; }
"""


def run_to_json(run: dict, epochs: Sequence[dict]) -> str:
    """Serialize a run and its epochs as the JSON file `RunStore.import_run` accepts."""
    payload = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": time.time(),
        "run": run,
        "epochs": list(epochs),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False)


def epochs_to_csv(epochs: Sequence[dict]) -> str:
    """Return one CSV row per epoch: epoch, L_S, L_I, R, L, each metric, seconds."""
    return views.epochs_frame(epochs).to_csv(index=False, lineterminator="\n")


def run_report_html(run: dict, epochs: Sequence[dict]) -> str:
    """Render one run as a standalone HTML page: settings, curves and metrics.

    Parameters
    ----------
    run : dict
        A run row of `RunStore.get_run`.
    epochs : sequence of dict
        Its epochs (`RunStore.epochs`).

    Returns
    -------
    str
        A complete HTML document with plotly.js embedded; it needs no network.
    """
    title = f"iALS run {views.run_title(run)}"
    figures = [charts.loss_figure(epochs, log_y=True)]
    figures += [charts.metric_figure(epochs, name) for name in views.metric_names(epochs)]
    sections = [
        f"<h1>{_text(title)}</h1>",
        f"<p class='meta'>run id {_text(run['id'])} · status "
        f"<span class='status'>{_text(run.get('status'))}</span></p>",
    ]
    if run.get("error"):
        sections.append(f"<p class='error'>{_text(run['error'])}</p>")
    if run.get("notes"):
        sections.append(f"<p>{_text(run['notes'])}</p>")
    sections.append("<h2>Final test metrics</h2>")
    sections.append(_metrics_table(run.get("final_metrics")))
    sections.append("<h2>Settings</h2>")
    sections.append(_frame_table(views.settings_rows(run).set_index("setting")))
    sections.append("<h2>Curves per epoch</h2>")
    sections.append(_figures_html(figures))
    sections.append("<h2>Epochs</h2>")
    sections.append(_frame_table(views.epochs_frame(epochs).set_index("epoch"), digits=5))
    return _document(title, sections)


def compare_report_html(runs: Sequence[dict], epochs_by_run: dict[str, Sequence[dict]]) -> str:
    """Render several runs side by side as a standalone HTML page.

    The legend names each run by the settings that differ among ``runs``; the table
    highlights rows whose values differ.
    """
    labels = views.run_labels(runs)
    series = [(label, epochs_by_run.get(run["id"], [])) for label, run in zip(labels, runs)]
    figures = [charts.compare_figure(series, component, log_y=True) for component in charts.LOSS_COMPONENTS]
    names = views.runs_metric_names(runs, epochs_by_run)
    figures += [charts.compare_figure(series, name) for name in names]
    title = f"iALS comparison of {len(runs)} runs"
    table = views.compare_frame(runs, epochs_by_run)
    sections = [
        f"<h1>{_text(title)}</h1>",
        "<p class='meta'>Runs: "
        + ", ".join(f"{_text(label)} ({_text(run['id'])})" for label, run in zip(labels, runs))
        + "</p>",
        "<h2>Settings and metrics</h2>",
        _frame_table(table.drop(columns="differs"), highlight=list(table["differs"])),
        "<h2>Curves per epoch</h2>",
        _figures_html(figures),
    ]
    return _document(title, sections)


def _figures_html(figures: Sequence[go.Figure]) -> str:
    parts = []
    for index, figure in enumerate(figures):
        parts.append(
            figure.to_html(
                include_plotlyjs=index == 0, full_html=False, config=_PLOTLY_CONFIG,
            )
        )
    return "\n".join(parts)


def _metrics_table(metrics: dict | None) -> str:
    if not metrics:
        return "<p>None yet: the run has not finished.</p>"
    rows = "".join(
        f"<tr><th>{_text(name)}</th><td>{views.format_metric(value)}</td></tr>"
        for name, value in metrics.items()
    )
    return f"<table>{rows}</table>"


def _frame_table(frame, digits: int = 4, highlight: list[bool] | None = None) -> str:
    header = "<tr><th></th>" + "".join(f"<th>{_text(c)}</th>" for c in frame.columns) + "</tr>"
    body = []
    for position, (index, row) in enumerate(frame.iterrows()):
        css = " class='differs'" if highlight and highlight[position] else ""
        cells = "".join(f"<td>{_text(_cell(value, digits))}</td>" for value in row)
        body.append(f"<tr{css}><th>{_text(index)}</th>{cells}</tr>")
    return f"<table>{header}{''.join(body)}</table>"


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        return "—" if value != value else f"{value:.{digits}g}"
    return "—" if value is None else str(value)


def _text(value) -> str:
    return html.escape("" if value is None else str(value))


def _document(title: str, sections: Sequence[str]) -> str:
    body = "\n".join(sections)
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{_text(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n<p class='meta'>Generated {generated} by the iALS dashboard.</p>\n"
        "</body>\n</html>\n"
    )
