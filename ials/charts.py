"""Plotly figures of a run's epochs: loss components and evaluation metrics.

The dashboard and the standalone HTML report draw the same figures. Epochs are the
dicts `ials.runs.store.RunStore.epochs` returns: ``epoch``, ``L_S``, ``L_I``, ``R``,
``L``, ``metrics`` (name to value), ``train_seconds`` and ``eval_seconds``.

Every figure sets ``layout.uirevision`` so that a chart redrawn with new epochs keeps
the user's zoom and hidden traces.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

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

#: Most labelled ticks on an integer axis (epochs, seeds).
MAX_INTEGER_TICKS = 10

#: Fewest labelled ticks a log axis gets from `log_ticks`; below that plotly picks them.
MIN_LOG_TICKS = 2

#: Most labelled ticks a log axis gets from `log_ticks`; above that plotly picks them.
MAX_LOG_TICKS = 8


def integer_ticks(largest: float) -> dict:
    """Return axis settings that label whole numbers only, e.g. epochs 1 … ``largest``.

    The tick step is 1, 2 or 5 times a power of ten, chosen so at most
    `MAX_INTEGER_TICKS` labels show. Without it, plotly puts ticks at half epochs and
    ``tickformat="d"`` rounds them to repeated labels such as ``1 2 2 3 3 4 4``.
    """
    step = 1
    while largest / step > MAX_INTEGER_TICKS:
        step = _next_nice_step(step)
    return {"tickmode": "linear", "tick0": 0 if step > 1 else 1, "dtick": step,
            "tickformat": "d"}


def _next_nice_step(step: int) -> int:
    leading = step // 10 ** int(math.log10(step))
    return step * 5 // 2 if leading == 2 else step * 2


def log_ticks(values: Iterable) -> dict:
    """Return log-axis settings that label a few round values in the range of ``values``.

    Over a span of one to about two decades plotly labels every digit 2 … 9 of a decade,
    which crowds the axis. This labels the values 1, 2 and 5 × 10^k inside the span, or
    every digit × 10^k when the span contains fewer than `MIN_LOG_TICKS` of those. The
    other digits stay as unlabelled minor grid lines. When neither set gives
    `MIN_LOG_TICKS` … `MAX_LOG_TICKS` labels, plotly's own ticks stay.
    """
    positive = [float(v) for v in values if v is not None and _is_positive(v)]
    settings: dict = {"type": "log", "exponentformat": "power"}
    if not positive:
        return settings
    low, high = min(positive), max(positive)
    for digits in ((1, 2, 5), tuple(range(1, 10))):
        ticks = _round_values_between(low, high, digits)
        if len(ticks) >= MIN_LOG_TICKS:
            break
    if not MIN_LOG_TICKS <= len(ticks) <= MAX_LOG_TICKS:
        return settings
    settings.update(
        tickmode="array", tickvals=ticks, ticktext=[f"{tick:g}" for tick in ticks],
        minor={"dtick": "D1", "showgrid": True},
    )
    return settings


def _round_values_between(low: float, high: float, digits: tuple[int, ...]) -> list[float]:
    """Return the values digit × 10^k (k an integer) in [low, high], ascending."""
    values = []
    for exponent in range(math.floor(math.log10(low)), math.floor(math.log10(high)) + 1):
        for digit in digits:
            # Rounding keeps 3 × 10^-1 from printing as 0.30000000000000004.
            value = float(f"{digit}e{exponent}")
            if low <= value <= high:
                values.append(value)
    return values


def _is_positive(value) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def _trace_values(figure: go.Figure, axis: str) -> list:
    values: list = []
    for trace in figure.data:
        data = getattr(trace, axis, None)
        if data is not None:
            values.extend(data)
    return values


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
    epochs = [x for x in _trace_values(figure, "x") if x is not None]
    y_axis = log_ticks(_trace_values(figure, "y")) if log_y \
        else {"type": "linear", "exponentformat": "power"}
    figure.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "epoch"}, **integer_ticks(max(epochs, default=1))},
        yaxis={"title": {"text": y_title}, **y_axis},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        height=360,
        uirevision=uirevision,
        hovermode="x unified",
    )
