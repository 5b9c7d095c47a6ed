"""Bar charts drawn by the server as inline SVG: no script, no CDN. Rows of a table become horizontal bars, or, for
series over days, columns. Labels go through Jinja2's autoescape like any other text, so they stay text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.insights.tables import Table

COLOURS = ("#0b5cad", "#d9822b", "#2e8540", "#a23b72", "#5a6470")
BAR_H, GAP, LABEL_W, CHART_W = 14, 6, 220, 360
COLUMNS_H, COLUMN_AREA_W = 140, 760
MAX_BARS = 40


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    w: float
    h: float
    colour: str
    value_x: float
    value_y: float


@dataclass(frozen=True)
class Label:
    text: str
    x: float
    y: float
    anchor: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int  # of the plot; the legend goes below
    bars: list[Bar]
    labels: list[Label]
    legend: list[tuple[str, str]]  # series name and colour
    legend_x: int
    title: str
    show_values: bool


def _top(table: Table, rows: list[list[Any]], cols: tuple[int, ...]) -> float:
    values = [float(row[c] or 0) for row in rows for c in cols]
    return max(values) if values and max(values) > 0 else 1.0


def bar_chart(table: Table) -> Chart | None:
    """Horizontal bars: one group per row, one bar per value column, scaled to the largest value."""
    if table.chart is None or not table.rows:
        return None
    if table.columns:
        return column_chart(table)
    label_col, value_cols = table.chart
    rows = table.rows[:MAX_BARS]
    top = _top(table, rows, value_cols)
    group_h = len(value_cols) * BAR_H + GAP
    bars, labels = [], []
    for r, row in enumerate(rows):
        y0 = 4 + r * group_h
        labels.append(Label(str(row[label_col]), LABEL_W - 6, y0 + len(value_cols) * BAR_H / 2 + 4, "end"))
        for s, col in enumerate(value_cols):
            value = float(row[col] or 0)
            width = round(CHART_W * value / top, 1)
            y = y0 + s * BAR_H
            bars.append(
                Bar(str(row[label_col]), value, LABEL_W, y, width, BAR_H - 2, COLOURS[s % len(COLOURS)],
                    LABEL_W + width + 4, y + 10)
            )  # fmt: skip
    legend = [(table.header[c], COLOURS[s % len(COLOURS)]) for s, c in enumerate(value_cols)]
    return Chart(LABEL_W + CHART_W + 60, 8 + len(rows) * group_h, bars, labels, legend, LABEL_W, table.title, True)


def column_chart(table: Table) -> Chart:
    """Columns over time (a day per group); labels on every few groups so they never overlap."""
    assert table.chart is not None
    label_col, value_cols = table.chart
    rows = table.rows[:MAX_BARS]
    top = _top(table, rows, value_cols)
    group_w = COLUMN_AREA_W / len(rows)
    bar_w = max(2.0, (group_w - 3) / len(value_cols))
    every = max(1, len(rows) // 10)
    bars, labels = [], [Label(f"{top:g}", 34, 14, "end"), Label("0", 34, COLUMNS_H + 4, "end")]
    for r, row in enumerate(rows):
        x0 = 40 + r * group_w
        if r % every == 0:
            labels.append(Label(str(row[label_col])[5:] or str(row[label_col]), x0, COLUMNS_H + 18, "start"))
        for s, col in enumerate(value_cols):
            value = float(row[col] or 0)
            h = round((COLUMNS_H - 10) * value / top, 1)
            x = round(x0 + s * bar_w, 1)
            bars.append(
                Bar(str(row[label_col]), value, x, COLUMNS_H - h, round(bar_w - 1, 1), h, COLOURS[s % len(COLOURS)],
                    x, COLUMNS_H - h - 2)
            )  # fmt: skip
    legend = [(table.header[c], COLOURS[s % len(COLOURS)]) for s, c in enumerate(value_cols)]
    return Chart(int(40 + COLUMN_AREA_W + 10), COLUMNS_H + 24, bars, labels, legend, 40, table.title, False)
