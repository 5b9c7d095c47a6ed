"""Chinese working days: official holidays and adjusted working weekends, in Asia/Shanghai time.

`chinese-calendar` knows the State Council schedules up to 2026; `knowledge/holidays.yml` adds later years as the
bureau enters them. Beyond both, a day is a working day if it is Monday to Friday, and every answer built on such a
day carries `estimated=True` so the assistant can say the date is an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.guide.loader import KNOWLEDGE_DIR, read_knowledge_yaml

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class WorkingDay:
    day: date
    estimated: bool


class WorkCalendar:
    def __init__(self, extra_years: dict[int, tuple[frozenset[date], frozenset[date]]] | None = None) -> None:
        # year -> (holidays, adjusted working days), for years the package does not cover
        self.extra_years = extra_years or {}

    def is_workday(self, day: date) -> tuple[bool, bool]:
        """(is it a working day, is that an estimate)."""
        if day.year in self.extra_years:
            holidays, workdays = self.extra_years[day.year]
            if day in workdays:
                return True, False
            if day in holidays:
                return False, False
            return day.weekday() < 5, False
        try:
            return chinese_calendar.is_workday(day), False
        except NotImplementedError:
            return day.weekday() < 5, True

    def working_days_after(self, start: date, count: int) -> WorkingDay:
        """The `count`-th working day after `start` (0: `start` itself if it is a working day, else the next one)."""
        estimated = False
        day = start
        if count == 0:
            while True:
                working, guess = self.is_workday(day)
                estimated |= guess
                if working:
                    return WorkingDay(day, estimated)
                day += timedelta(days=1)
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            working, guess = self.is_workday(day)
            estimated |= guess
            if working:
                remaining -= 1
        return WorkingDay(day, estimated)

    def working_days_between(self, start: date, end: date) -> tuple[int, bool]:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count, estimated, day = 0, False, start
        while day < end:
            day += timedelta(days=1)
            working, guess = self.is_workday(day)
            estimated |= guess
            count += working
        return count, estimated


def shanghai_date(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(SHANGHAI).date()


def load_extra_years(path: Path) -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    data = read_knowledge_yaml(path.read_text(encoding="utf-8")) or {}
    years = {}
    for year, entry in (data.get("years") or {}).items():
        holidays = frozenset(entry.get("holidays") or ())
        workdays = frozenset(entry.get("workdays") or ())
        if not entry.get("source"):
            raise ValueError(f"holidays.yml: year {year} needs the source of its official schedule")
        bad = [d for d in holidays | workdays if not isinstance(d, date) or d.year != int(year)]
        if bad:
            raise ValueError(f"holidays.yml: year {year} lists dates outside that year or not dates: {bad[:3]}")
        years[int(year)] = (holidays, workdays)
    return years


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    return WorkCalendar(load_extra_years(KNOWLEDGE_DIR / "holidays.yml"))
