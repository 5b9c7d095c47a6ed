"""When staff answer live. OFFICE_HOURS is e.g. "workdays 09:00-12:00,13:30-17:00": `workdays` means official
Chinese working days (holidays off, adjusted working weekends on); `mon-fri`, `mon-sun` or `always` also work.
The E-Town window's real hours are not published, so the operator must set this."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.core.workdays import SHANGHAI, WorkCalendar, default_calendar

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT = "workdays 09:00-12:00,13:30-17:00"


class OfficeHoursError(ValueError):
    pass


@dataclass(frozen=True)
class OfficeHours:
    days: str | tuple[int, ...]  # "workdays", "always", or weekday numbers (0 = Monday)
    periods: tuple[tuple[time, time], ...]
    calendar: WorkCalendar

    @classmethod
    def parse(cls, spec: str, calendar: WorkCalendar | None = None) -> OfficeHours:
        calendar = calendar or default_calendar()
        spec = (spec or DEFAULT).strip().lower()
        if spec == "always":
            return cls("always", ((time(0, 0), time(23, 59, 59)),), calendar)
        match = re.fullmatch(r"(workdays|[a-z]{3}(?:-[a-z]{3})?)\s+(.+)", spec)
        if not match:
            raise OfficeHoursError(f"OFFICE_HOURS {spec!r}: expected e.g. 'workdays 09:00-12:00,13:30-17:00'")
        day_part, time_part = match.groups()
        days: str | tuple[int, ...]
        if day_part == "workdays":
            days = "workdays"
        else:
            first, _, last = day_part.partition("-")
            if first not in DAY_NAMES or (last and last not in DAY_NAMES):
                raise OfficeHoursError(f"OFFICE_HOURS: unknown day in {day_part!r}")
            start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
            days = tuple(range(start, end + 1)) if start <= end else tuple([*range(start, 7), *range(0, end + 1)])
        periods = []
        for chunk in time_part.split(","):
            found = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", chunk)
            if not found:
                raise OfficeHoursError(f"OFFICE_HOURS: bad period {chunk!r}")
            h1, m1, h2, m2 = (int(x) for x in found.groups())
            try:
                begin, finish = time(h1, m1), time(h2, m2)
            except ValueError as exc:
                raise OfficeHoursError(f"OFFICE_HOURS: bad time in {chunk!r}") from exc
            if finish <= begin:
                raise OfficeHoursError(f"OFFICE_HOURS: period {chunk!r} ends before it starts")
            periods.append((begin, finish))
        return cls(days, tuple(sorted(periods)), calendar)

    def _open_day(self, day: date) -> bool:
        if self.days == "always":
            return True
        if self.days == "workdays":
            return self.calendar.is_workday(day)[0]
        return day.weekday() in self.days

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(SHANGHAI)
        if not self._open_day(local.date()):
            return False
        now = local.time()
        return any(begin <= now < end for begin, end in self.periods)

    def next_open(self, moment: datetime) -> datetime:
        """The next moment staff are in (now, if they are)."""
        local = moment.astimezone(SHANGHAI)
        for offset in range(0, 60):
            day = local.date() + timedelta(days=offset)
            if not self._open_day(day):
                continue
            for begin, end in self.periods:
                start = datetime.combine(day, begin, tzinfo=SHANGHAI)
                finish = datetime.combine(day, end, tzinfo=SHANGHAI)
                if finish > local:
                    return max(start, local)
        raise OfficeHoursError("no opening in the next 60 days; check OFFICE_HOURS")
