"""Plotly figures of sweeps: the α₀ × λ heatmap, quality curves, ladders, ν comparison.

Inputs are the tables of `ials.sweep_results`: ``cells`` from `aggregate_cells` (one row per
(d, ν, α₀, λ) with ``mean``, ``std``, ``best_epoch``, ``n_done``) and ``results`` from
`results_frame` (one row per run). Every value is the run's metric at its best epoch by
the validation metric. Seed repeats show as error bars of ± one standard deviation.
The dashboard and the HTML report draw the same figures.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from ials.charts import MAX_LOG_TICKS, integer_ticks, log_ticks

#: One colour per line (λ, α₀, ν …); lines beyond its length reuse colours cyclically.
LINE_COLOURS = qualitative.Plotly + qualitative.D3

_LAYOUT = {"margin": {"l": 70, "r": 20, "t": 50, "b": 60}, "height": 420}


def _label(value: float) -> str:
    return f"{float(value):g}"


def _log_grid_axis(values: Iterable) -> dict:
    """Return log-axis settings that label the grid values themselves when they are few."""
    grid = sorted({float(v) for v in values if v is not None and float(v) > 0})
    if 2 <= len(grid) <= MAX_LOG_TICKS:
        return {"type": "log", "tickmode": "array", "tickvals": grid,
                "ticktext": [_label(v) for v in grid]}
    return log_ticks(grid)


def heatmap_figure(cells: pd.DataFrame, metric: str, alpha_grid: Sequence[float] | None = None,
                   reg_grid: Sequence[float] | None = None, reg_label: str = "λ",
                   uirevision: str = "heatmap") -> go.Figure:
    """Build the heatmap of ``metric`` over (log α₀, log λ) with a red frame on the best cell.

    Parameters
    ----------
    cells : pandas.DataFrame
        `aggregate_cells` output of one (d, ν) slice; cells without a finished run are
        blank.
    alpha_grid, reg_grid : sequence of float, optional
        All grid values, so unfinished rows and columns show as blank cells from the
        start (default: the values in ``cells``).
    reg_label : str
        Axis title of λ (``"λ*"`` for a sweep on the normalized scale).

    Each cell's text is the mean (± std with several seeds) and the mean best epoch.
    Axes are categorical in log order, so equal log steps get equal widths.
    """
    alphas = sorted(set(float(v) for v in (alpha_grid if alpha_grid is not None else cells["alpha0"])))
    regs = sorted(set(float(v) for v in (reg_grid if reg_grid is not None else cells["reg"])))
    z = np.full((len(alphas), len(regs)), np.nan)
    text = [["" for _ in regs] for _ in alphas]
    for _, cell in cells.iterrows():
        if pd.isna(cell["mean"]) or float(cell["alpha0"]) not in alphas or float(cell["reg"]) not in regs:
            continue
        i, j = alphas.index(float(cell["alpha0"])), regs.index(float(cell["reg"]))
        z[i, j] = cell["mean"]
        spread = f" ± {cell['std']:.3f}" if not pd.isna(cell.get("std", np.nan)) else ""
        text[i][j] = f"{cell['mean']:.4f}{spread}<br>ep {cell['best_epoch']:.0f}"
    figure = go.Figure(go.Heatmap(
        z=z, x=[_label(v) for v in regs], y=[_label(v) for v in alphas],
        text=text, texttemplate="%{text}", colorscale="Viridis",
        colorbar={"title": {"text": metric}},
        hovertemplate=f"α₀ %{{y}}<br>{reg_label} %{{x}}<br>{metric} %{{z:.4f}}<extra></extra>",
        xgap=2, ygap=2,
    ))
    if not np.all(np.isnan(z)):
        # A frame around the best cell; category axes place category k at position k.
        i, j = np.unravel_index(np.nanargmax(z), z.shape)
        figure.add_shape(
            type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
            line={"color": "#ff3333", "width": 4}, name="best",
        )
    figure.update_layout(
        title={"text": f"{metric} at each run's best epoch"},
        xaxis={"title": {"text": f"{reg_label} (log scale)"}, "type": "category"},
        yaxis={"title": {"text": "α₀ (log scale)"}, "type": "category"},
        uirevision=uirevision, **_LAYOUT,
    )
    return figure


def filled_cell_count(figure: go.Figure) -> int:
    """Return the number of heatmap cells of `heatmap_figure` that hold a value."""
    z = np.asarray(figure.data[0].z, dtype=float)
    return int(np.sum(~np.isnan(z)))


def curve_figure(cells: pd.DataFrame, metric: str, axis: str = "alpha0", reg_label: str = "λ",
                 uirevision: str | None = None) -> go.Figure:
    """Build quality against log α₀ (one line per λ) or against log λ (one line per α₀).

    ``axis`` is ``"alpha0"`` or ``"reg"``. Error bars are ± one standard deviation over
    seeds where a cell has several. A ∩ shape means the range brackets the optimum.
    """
    if axis not in ("alpha0", "reg"):
        raise ValueError(f"axis must be 'alpha0' or 'reg', got {axis!r}.")
    line_key = "reg" if axis == "alpha0" else "alpha0"
    labels = {"alpha0": "α₀", "reg": reg_label}
    done = cells[cells["mean"].notna()]
    figure = go.Figure()
    for index, (line_value, group) in enumerate(sorted(done.groupby(line_key), key=lambda g: g[0])):
        group = group.sort_values(axis)
        figure.add_trace(go.Scatter(
            x=group[axis], y=group["mean"], mode="lines+markers",
            name=f"{labels[line_key]} = {_label(line_value)}",
            error_y=_error_bars(group),
            line={"color": LINE_COLOURS[index % len(LINE_COLOURS)]},
        ))
    figure.update_layout(
        title={"text": f"{metric} against log {labels[axis]}"},
        xaxis={"title": {"text": labels[axis]}, **_log_grid_axis(done[axis])},
        yaxis={"title": {"text": metric}},
        uirevision=uirevision or f"curve-{axis}", **_LAYOUT,
    )
    return figure


def _error_bars(group: pd.DataFrame) -> dict | None:
    if "std" not in group or group["std"].isna().all():
        return None
    return {"type": "data", "array": group["std"].fillna(0.0).tolist(), "visible": True}


def ladder_figure(cells: pd.DataFrame, metric: str, reference_lines: Mapping[str, float] | None = None,
                  uirevision: str = "ladder") -> go.Figure:
    """Build quality against d on a log₂ axis, one line per λ, with reference lines.

    ``reference_lines`` maps a label (e.g. ``"EASE"``) to a metric value drawn as a
    dashed horizontal line. The x axis shows log₂ d with the d values as tick labels.
    """
    done = cells[cells["mean"].notna()]
    figure = go.Figure()
    dims = sorted({int(d) for d in done["dim"]}) if len(done) else []
    for index, (reg, group) in enumerate(sorted(done.groupby("reg"), key=lambda g: g[0])):
        group = group.sort_values("dim")
        figure.add_trace(go.Scatter(
            x=np.log2(group["dim"].astype(float)), y=group["mean"], mode="lines+markers",
            name=f"λ = {_label(reg)}", error_y=_error_bars(group),
            customdata=group["dim"], hovertemplate=f"d %{{customdata}}<br>{metric} %{{y:.4f}}",
            line={"color": LINE_COLOURS[index % len(LINE_COLOURS)]},
        ))
    for index, (label, value) in enumerate((reference_lines or {}).items()):
        figure.add_hline(
            y=float(value), line_dash="dash", line_color="#555555",
            annotation_text=f"{label} {float(value):.3f}", annotation_position="top left",
        )
    figure.update_layout(
        title={"text": f"{metric} against embedding dimension d"},
        xaxis={
            "title": {"text": "d (log₂ scale)"},
            "tickvals": [math.log2(d) for d in dims],
            "ticktext": [str(d) for d in dims],
        },
        yaxis={"title": {"text": metric}},
        uirevision=uirevision, **_LAYOUT,
    )
    return figure


def repeat_figure(results: pd.DataFrame, metric: str, uirevision: str = "repeat") -> go.Figure:
    """Build the metric of each seed of a repeated setting with the mean ± std band."""
    done = results[(results["status"] == "finished") & results[metric].notna()].sort_values("seed")
    figure = go.Figure(go.Scatter(
        x=done["seed"], y=done[metric], mode="markers", name="seed",
        marker={"size": 10},
    ))
    if len(done) >= 1:
        mean = float(done[metric].mean())
        figure.add_hline(y=mean, line_color="#222222", annotation_text=f"mean {mean:.4f}")
    if len(done) >= 2:
        std = float(done[metric].std(ddof=1))
        figure.add_hrect(y0=mean - std, y1=mean + std, fillcolor="#1f77b4", opacity=0.15,
                         line_width=0, annotation_text=f"± std {std:.4f}",
                         annotation_position="bottom right")
    figure.update_layout(
        title={"text": f"{metric} per seed (best epoch of each run)"},
        xaxis={"title": {"text": "seed"}, **integer_ticks(done["seed"].max() if len(done) else 1)},
        yaxis={"title": {"text": metric}},
        uirevision=uirevision, **_LAYOUT,
    )
    return figure


def nu_scale_figures(results: pd.DataFrame, metric: str) -> tuple[go.Figure, go.Figure]:
    """Build quality against log λ* and against log effective λ, one line per ν.

    ``results`` is `add_reg_scales` output (``lambda_star``, ``lambda_raw``). On the
    normalized scale the good values line up across ν; on the raw scale they move by
    orders of magnitude (figure 1 of Rendle et al. 2021).
    """
    done = results[(results["status"] == "finished") & results[metric].notna()]
    nu_ref = int(done["nu_ref"].iloc[0]) if len(done) else 1
    figures = []
    for column, title in (("lambda_star", f"λ* (normalized, ν* = {nu_ref})"), ("lambda_raw", "effective λ")):
        figure = go.Figure()
        for index, (nu, group) in enumerate(sorted(done.groupby("nu"), key=lambda g: g[0])):
            cells = group.groupby(column)[metric].agg(["mean", "std"]).reset_index().sort_values(column)
            figure.add_trace(go.Scatter(
                x=cells[column], y=cells["mean"], mode="lines+markers", name=f"ν = {_label(nu)}",
                error_y=_error_bars(cells), line={"color": LINE_COLOURS[index % len(LINE_COLOURS)]},
            ))
        figure.update_layout(
            title={"text": f"{metric} against log {title}"},
            xaxis={"title": {"text": title}, **_log_grid_axis(done[column])},
            yaxis={"title": {"text": metric}},
            uirevision=f"nu-{column}", **_LAYOUT,
        )
        figures.append(figure)
    return figures[0], figures[1]
