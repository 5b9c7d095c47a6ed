"""Horizontal bar charts drawn by the server as inline SVG: no script, no CDN. Labels go through Jinja2's
autoescape like any other text, so a label can never become markup."""

from __future__ import annotations

from dataclasses import dataclass

from bot.insights.tables import Table

COLOURS = ("#0b5cad", "#d9822b", "#2e8540", "#a23b72", "#5a6470")
BAR_H, GAP, LABEL_W, CHART_W = 16, 6, 220, 360
MAX_BARS = 40


@dataclass(frozen=True)
class Bar:
    label: str
    series: int
    value: float
    x: float
    y: float
    width: float
    colour: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    bars: list[Bar]
    labels: list[tuple[str, float]]  # row label and its y
    legend: list[tuple[str, str]]  # series name and colour
    title: str


def bar_chart(table: Table) -> Chart | None:
    """One group of bars per row (one bar per value column), scaled to the largest value."""
    if table.chart is None or not table.rows:
        return None
    label_col, value_cols = table.chart
    rows = table.rows[:MAX_BARS]
    values = [float(row[c] or 0) for row in rows for c in value_cols]
    top = max(values) if values and max(values) > 0 else 1.0
    group_h = len(value_cols) * BAR_H + GAP
    bars, labels = [], []
    for r, row in enumerate(rows):
        y0 = 4 + r * group_h
        labels.append((str(row[label_col]), y0 + len(value_cols) * BAR_H / 2 + 4))
        for s, col in enumerate(value_cols):
            value = float(row[col] or 0)
            bars.append(
                Bar(
                    str(row[label_col]),
                    s,
                    value,
                    LABEL_W,
                    y0 + s * BAR_H,
                    round(CHART_W * value / top, 1),
                    COLOURS[s % len(COLOURS)],
                )
            )
    legend = [(table.header[c], COLOURS[s % len(COLOURS)]) for s, c in enumerate(value_cols)]
    height = 8 + len(rows) * group_h
    return Chart(LABEL_W + CHART_W + 60, height, LABEL_W, bars, labels, legend, table.title)
