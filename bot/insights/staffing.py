"""How fast staff took and closed handed-over conversations, in and out of office hours, and how applicants rated
them. Times are whole minutes; the median is the middle value (mean of the two middle ones), p90 the nearest rank."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from bot.db.models import Ticket
from bot.insights.period import Period


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])


@dataclass
class Waits:
    tickets: int = 0
    claim: list[float] = field(default_factory=list)
    resolve: list[float] = field(default_factory=list)


@dataclass
class Staffing:
    tickets: int = 0
    by_hours: dict[str, Waits] = field(default_factory=lambda: {"in": Waits(), "out": Waits()})
    satisfaction: Counter[int] = field(default_factory=Counter)

    def mean_satisfaction(self) -> float | None:
        total = sum(self.satisfaction.values())
        return round(sum(k * v for k, v in self.satisfaction.items()) / total, 2) if total else None


def collect(session: sa.orm.Session, period: Period) -> Staffing:
    result = Staffing()
    rows = session.execute(
        sa.select(
            Ticket.created_at, Ticket.assigned_at, Ticket.resolved_at, Ticket.office_open, Ticket.satisfaction
        ).where(Ticket.created_at >= period.start, Ticket.created_at < period.end)
    ).all()
    for created, assigned, resolved, office_open, satisfaction in rows:
        result.tickets += 1
        waits = result.by_hours["in" if office_open else "out"]
        waits.tickets += 1
        if assigned is not None:
            waits.claim.append(round((assigned - created).total_seconds() / 60, 1))
        if resolved is not None:
            waits.resolve.append(round((resolved - created).total_seconds() / 60, 1))
        if satisfaction is not None:
            result.satisfaction[int(satisfaction)] += 1
    return result
