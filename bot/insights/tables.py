"""A figure as the page, the chart and the CSV all see it: a titled table with bilingual headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    key: str  # also the CSV file name
    title: str  # "English · 中文"
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    # Chart: (label column, value columns) to draw as bars, or None for a table only.
    chart: tuple[int, tuple[int, ...]] | None = None
    note: str = ""
    columns: bool = False  # draw as columns (a series over days) instead of horizontal bars

    def column(self, index: int) -> list[Any]:
        return [row[index] for row in self.rows]
