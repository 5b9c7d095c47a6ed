"""The clock services and actions read: real time by default, a fixed moment in tests.

A clock is any callable returning an aware UTC datetime, so a service takes `clock: Clock = system_clock` and a
test passes `FixedClock(moment)`: what depends on office hours, deadlines or lock windows then gives the same
answer whenever the test runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable

from bot.core.workdays import shanghai_date

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class FixedClock:
    """Always `moment` (aware, any zone; returned in UTC)."""

    moment: datetime

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("a FixedClock needs an aware datetime")

    def __call__(self) -> datetime:
        return self.moment.astimezone(timezone.utc)


def beijing_today(clock: Clock = system_clock) -> date:
    """The applicant's today: dates are Beijing dates."""
    return shanghai_date(clock())
