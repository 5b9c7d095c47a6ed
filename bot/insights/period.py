"""Reporting periods in Asia/Shanghai days: a day, the ISO week or the month around a date, or a custom range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Mapping

from bot.core.workdays import SHANGHAI

KINDS = ("day", "week", "month", "custom")
MAX_DAYS = 400


class PeriodError(ValueError):
    """A period the page cannot show; the message says what to send instead."""


@dataclass(frozen=True)
class Period:
    kind: str
    first: date  # inclusive
    last: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=SHANGHAI)

    @property
    def end(self) -> datetime:
        """Exclusive end: midnight after the last day, Shanghai time."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=SHANGHAI)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def label(self) -> str:
        return (
            self.first.isoformat() if self.first == self.last else f"{self.first.isoformat()} – {self.last.isoformat()}"
        )

    def query(self) -> str:
        return f"period=custom&from={self.first.isoformat()}&to={self.last.isoformat()}"


def _day(raw: str | None, name: str) -> date:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError as exc:
        raise PeriodError(f"{name} must be a date like 2026-11-01") from exc


def around(kind: str, anchor: date) -> Period:
    if kind == "day":
        return Period(kind, anchor, anchor)
    if kind == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return Period(kind, first, first + timedelta(days=6))
    if kind == "month":
        first = anchor.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(kind, first, following - timedelta(days=1))
    raise PeriodError(f"period must be one of {', '.join(KINDS)}")


def parse(query: Mapping[str, str], today: date) -> Period:
    """From the page's query string: period=day|week|month with an optional date=, or period=custom&from=&to=."""
    kind = (query.get("period") or "month").strip()
    if kind not in KINDS:
        raise PeriodError(f"period must be one of {', '.join(KINDS)}")
    if kind != "custom":
        return around(kind, _day(query.get("date"), "date") if query.get("date") else today)
    first, last = _day(query.get("from"), "from"), _day(query.get("to"), "to")
    if last < first:
        raise PeriodError("to must not be before from")
    if (last - first).days >= MAX_DAYS:
        raise PeriodError(f"a custom period is at most {MAX_DAYS} days")
    return Period(kind, first, last)
