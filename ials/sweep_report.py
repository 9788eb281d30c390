"""Standalone HTML report of a sweep or a dimension ladder.

Uses the page layout and table helpers of `ials.report`, so sweep reports look like run
reports and open offline (plotly.js embedded once).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from ials import report, sweep_charts
from ials.sweep_results import add_reg_scales, aggregate_cells

#: Columns of the cell table in the report, with their headings.
CELL_COLUMNS = {
    "dim": "d", "nu": "ν", "alpha0": "α₀", "reg": "λ", "mean": "mean", "std": "std",
    "n_done": "seeds", "best_epoch": "best epoch", "test_mean": "test mean",
}


def sweep_report_html(sweep: dict, results: pd.DataFrame, metric: str,
                      advice: Sequence | None = None,
                      reference_lines: Mapping[str, float] | None = None) -> str:
    """Render a sweep as one HTML page: settings, charts, the cell table and the advice.

    Parameters
    ----------
    sweep : dict
        `RunStore.get_sweep` row (``id, kind, name, config``).
    results : pandas.DataFrame
        `sweep_results` of the sweep for ``metric``.
    advice : sequence of `ials.advice.Advice`, optional
        Listed with their reasons.
    reference_lines : mapping, optional
        Label → value lines of the ladder chart.
    """
    cells = aggregate_cells(results, metric)
    title = f"Sweep {sweep.get('name') or sweep['id']}"
    finished = int((results["status"] == "finished").sum()) if len(results) else 0
    sections = [
        f"<h1>{report._text(title)}</h1>",
        f"<p class='meta'>sweep {report._text(sweep['id'])} · kind {report._text(sweep['kind'])} · "
        f"{finished} of {len(results)} runs finished · metric {report._text(metric)} at each "
        "run's best epoch by the validation metric</p>",
        "<h2>Charts</h2>",
        report._figures_html(_figures(sweep, results, cells, metric, reference_lines)),
        "<h2>Cells, best first</h2>",
        report._frame_table(_cell_table(cells)),
    ]
    if advice:
        items = "".join(
            f"<li><b>{report._text(item.message)}</b><br>{report._text(item.reason)}</li>"
            for item in advice
        )
        sections += ["<h2>Advice</h2>", f"<ul>{items}</ul>"]
    config = sweep.get("config") or {}
    settings = pd.DataFrame(
        {"value": [str(v) for v in config.values()]}, index=list(config.keys())
    )
    sections += ["<h2>Sweep settings</h2>", report._frame_table(settings)]
    return report._document(title, sections)


def _cell_table(cells: pd.DataFrame) -> pd.DataFrame:
    table = cells[[c for c in CELL_COLUMNS if c in cells.columns]].rename(columns=CELL_COLUMNS)
    table.index = range(1, len(table) + 1)
    return table


def _figures(sweep: dict, results: pd.DataFrame, cells: pd.DataFrame, metric: str,
             reference_lines: Mapping[str, float] | None) -> list:
    if sweep["kind"] == "ladder":
        return [sweep_charts.ladder_figure(cells, metric, reference_lines)]
    if sweep["kind"] == "repeat":
        return [sweep_charts.repeat_figure(results, metric)]
    figures = []
    reg_label = "λ*" if len(results) and bool(results["normalized_reg"].iloc[0]) else "λ"
    for (dim, nu), group in cells.groupby(["dim", "nu"]):
        figures.append(sweep_charts.heatmap_figure(group, metric, reg_label=reg_label))
        figures.append(sweep_charts.curve_figure(group, metric, "alpha0", reg_label))
        figures.append(sweep_charts.curve_figure(group, metric, "reg", reg_label))
    if results["nu"].nunique() > 1:
        figures.extend(sweep_charts.nu_scale_figures(add_reg_scales(results), metric))
    return figures
