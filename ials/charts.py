"""Plotly figures of a run's epochs: loss components and evaluation metrics.

The dashboard and the standalone HTML report draw the same figures. Epochs are the
dicts `ials.runs.store.RunStore.epochs` returns: ``epoch``, ``L_S``, ``L_I``, ``R``,
``L``, ``metrics`` (name to value), ``train_seconds`` and ``eval_seconds``.

Every figure sets ``layout.uirevision`` so that a chart redrawn with new epochs keeps
the user's zoom and hidden traces.
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative

#: Loss components in the order the charts list them.
LOSS_COMPONENTS = ("L", "L_S", "L_I", "R")

LOSS_LABELS = {
    "L": "L (total loss)",
    "L_S": "L_S (observed loss)",
    "L_I": "L_I (unobserved loss)",
    "R": "R (regularizer)",
}

#: One colour per run in comparisons; runs beyond its length reuse colours cyclically.
RUN_COLOURS = qualitative.Plotly + qualitative.D3

_LOSS_COLOURS = {"L": "#222222", "L_S": "#1f77b4", "L_I": "#d62728", "R": "#2ca02c"}


def loss_figure(epochs: Sequence[dict], log_y: bool = False, uirevision: str = "loss") -> go.Figure:
    """Build the per-epoch chart of L, L_S, L_I and R of one run.

    Parameters
    ----------
    epochs : sequence of dict
        The run's epochs, in any order.
    log_y : bool
        Draw the y axis on a log scale (the components differ by orders of magnitude).
    uirevision : str
        Key that keeps zoom and legend state across redraws; pass one per chart.
    """
    ordered = sorted(epochs, key=lambda record: record["epoch"])
    x = [record["epoch"] for record in ordered]
    figure = go.Figure()
    for component in LOSS_COMPONENTS:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[record.get(component) for record in ordered],
                mode="lines+markers",
                name=LOSS_LABELS[component],
                line={"color": _LOSS_COLOURS[component]},
            )
        )
    _style(figure, "Training loss per epoch", "loss", log_y, uirevision)
    return figure


def metric_figure(epochs: Sequence[dict], metric: str, uirevision: str | None = None) -> go.Figure:
    """Build the per-epoch chart of one evaluation metric of one run."""
    ordered = sorted(epochs, key=lambda record: record["epoch"])
    figure = go.Figure(
        go.Scatter(
            x=[record["epoch"] for record in ordered],
            y=[(record.get("metrics") or {}).get(metric) for record in ordered],
            mode="lines+markers",
            name=metric,
        )
    )
    _style(figure, f"{metric} per epoch", metric, False, uirevision or f"metric-{metric}")
    figure.update_layout(showlegend=False)
    return figure


def compare_figure(
    series: Sequence[tuple[str, Sequence[dict]]],
    quantity: str,
    log_y: bool = False,
    uirevision: str | None = None,
) -> go.Figure:
    """Build a chart overlaying one quantity per epoch of several runs.

    Parameters
    ----------
    series : sequence of (label, epochs)
        One entry per run; the label names the run in the legend. Run k gets colour
        ``RUN_COLOURS[k]`` in every comparison chart, so colours match across charts.
    quantity : str
        A loss component (``"L"``, ``"L_S"``, ``"L_I"``, ``"R"``) or a metric name.
    log_y : bool
        Draw the y axis on a log scale.
    """
    figure = go.Figure()
    for index, (label, epochs) in enumerate(series):
        ordered = sorted(epochs, key=lambda record: record["epoch"])
        figure.add_trace(
            go.Scatter(
                x=[record["epoch"] for record in ordered],
                y=[_value(record, quantity) for record in ordered],
                mode="lines+markers",
                name=label,
                line={"color": RUN_COLOURS[index % len(RUN_COLOURS)]},
            )
        )
    title = LOSS_LABELS.get(quantity, quantity)
    _style(figure, f"{title} per epoch", quantity, log_y, uirevision or f"compare-{quantity}")
    figure.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25})
    return figure


def _value(record: dict, quantity: str):
    if quantity in LOSS_COMPONENTS:
        return record.get(quantity)
    return (record.get("metrics") or {}).get(quantity)


def _style(figure: go.Figure, title: str, y_title: str, log_y: bool, uirevision: str) -> None:
    figure.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "epoch"}, "tickformat": "d"},
        yaxis={"title": {"text": y_title}, "type": "log" if log_y else "linear",
               "exponentformat": "power"},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        height=360,
        uirevision=uirevision,
        hovermode="x unified",
    )
