"""The one way figures leave as CSV: every cell quoted, and cells a spreadsheet would run as a formula
(leading = + - @ tab or CR) neutralised with a leading apostrophe."""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence

FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_LEAD else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()
