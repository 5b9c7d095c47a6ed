"""The deadline rules of `knowledge/deadlines.yml` and the arithmetic that turns an event's date into deadlines.

Calendar days, Chinese working days and months are three units, each counted its own way; a rule has one unit and
every computed date says which. Working days come from `bot.core.workdays` (official holidays and adjusted weekends);
a date that depends on a year the holiday calendar does not know is marked an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.core.workdays import WorkCalendar
from bot.deadlines.parse import add_months
from bot.guide.loader import KNOWLEDGE_DIR, read_knowledge_yaml
from bot.guide.models import Localized, Source

UNITS = ("calendar_days", "working_days", "months")
KINDS = ("earliest", "latest", "due")
YEAR_RULES = ("next", "recent")


class DeadlineRulesError(ValueError):
    pass


@dataclass(frozen=True)
class Event:
    id: str
    title: Localized
    year: str
    recent_days: int
    procedures: tuple[str, ...]
    cues: dict[str, tuple[str, ...]]
    refines: str | None = None
    subjects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Count:
    count: int
    unit: str


@dataclass(frozen=True)
class Conflict:
    count: Count
    note: Localized
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Rule:
    id: str
    events: tuple[str, ...]
    count: Count
    kind: str
    procedures: tuple[str, ...]
    title: Localized
    text: Localized
    if_past: Localized
    past_is_fine: bool
    sources: tuple[Source, ...]
    conflicts: tuple[Conflict, ...]


@dataclass(frozen=True)
class Rules:
    events: dict[str, Event]
    rules: dict[str, Rule]
    reviewed: date

    def for_event(self, event: str) -> list[Rule]:
        return [rule for rule in self.rules.values() if event in rule.events]

    def events_for_procedure(self, procedure: str | None) -> list[str]:
        return [e.id for e in self.events.values() if procedure and procedure in e.procedures]


@dataclass(frozen=True)
class Computed:
    """One date counted from an event: `estimate` when a working day (or the working-day check of a calendar
    deadline) lies in a year the holiday calendar does not cover."""

    day: date
    estimate: bool
    # For a calendar-day `latest` deadline that falls on a day off: the last working day before it, when the
    # office and most handlers are working.
    working_day_before: date | None = None


def _localized(raw: Any, where: str) -> Localized:
    if not isinstance(raw, dict) or not raw.get("en") or not raw.get("zh"):
        raise DeadlineRulesError(f"deadlines.yml: {where} needs en and zh")
    return Localized(str(raw["en"]).strip(), str(raw["zh"]).strip())


def _sources(raw: Any, where: str) -> tuple[Source, ...]:
    if not raw:
        raise DeadlineRulesError(f"deadlines.yml: {where} needs its sources")
    return tuple(Source(str(s["url"]), str(s.get("tag") or "")) for s in raw)


def _count(raw: dict[str, Any], where: str) -> Count:
    unit = raw.get("unit")
    if unit not in UNITS or not isinstance(raw.get("count"), int):
        raise DeadlineRulesError(f"deadlines.yml: {where} needs an integer count and a unit of {UNITS}")
    return Count(int(raw["count"]), str(unit))


def parse_rules(raw: dict[str, Any]) -> Rules:
    events = {}
    for event_id, item in (raw.get("events") or {}).items():
        where = f"event {event_id!r}"
        if item.get("year") not in YEAR_RULES:
            raise DeadlineRulesError(f"deadlines.yml: {where} needs year: one of {YEAR_RULES}")
        cues = {lang: tuple(str(c).lower() for c in (item.get("cues") or {}).get(lang) or ()) for lang in ("en", "zh")}
        if not cues["en"] or not cues["zh"]:
            raise DeadlineRulesError(f"deadlines.yml: {where} needs cues in en and zh")
        events[event_id] = Event(
            event_id,
            _localized(item.get("title"), where),
            item["year"],
            int(item.get("recent_days") or 0),
            tuple(item.get("procedures") or ()),
            cues,
            item.get("refines"),
            tuple(str(w).lower() for lang in ("en", "zh") for w in (item.get("subjects") or {}).get(lang) or ()),
        )
    for event in events.values():
        if event.refines is not None and (event.refines not in events or not event.subjects):
            raise DeadlineRulesError(f"deadlines.yml: event {event.id!r} refines an unknown event or has no subjects")
    rules = {}
    for rule_id, item in (raw.get("rules") or {}).items():
        where = f"rule {rule_id!r}"
        rule_events = item.get("event")
        rule_events = tuple(rule_events if isinstance(rule_events, list) else [rule_events])
        unknown = [e for e in rule_events if e not in events]
        if unknown:
            raise DeadlineRulesError(f"deadlines.yml: {where} counts from unknown events {unknown}")
        if item.get("kind") not in KINDS:
            raise DeadlineRulesError(f"deadlines.yml: {where} needs kind: one of {KINDS}")
        conflicts = tuple(
            Conflict(_count(c, f"{where} conflict"), _localized(c.get("note"), f"{where} conflict"),
                     _sources(c.get("sources"), f"{where} conflict"))
            for c in item.get("conflicts") or ()
        )  # fmt: skip
        rules[rule_id] = Rule(
            rule_id,
            rule_events,
            _count(item, where),
            item["kind"],
            tuple(item.get("procedures") or ()),
            _localized(item.get("title"), f"{where} title"),
            _localized(item.get("rule"), f"{where} rule"),
            _localized(item.get("if_past"), f"{where} if_past"),
            bool(item.get("past_is_fine")),
            _sources(item.get("sources"), where),
            conflicts,
        )
    return Rules(events, rules, raw.get("reviewed") or date.min)


def load_rules(path: Path) -> Rules:
    return parse_rules(read_knowledge_yaml(path.read_text(encoding="utf-8")) or {})


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return load_rules(KNOWLEDGE_DIR / "deadlines.yml")


def count_from(event_day: date, count: Count, workdays: WorkCalendar) -> Computed:
    """The date `count` away from `event_day`, in the count's own unit."""
    if count.unit == "months":
        return Computed(add_months(event_day, count.count), False)
    if count.unit == "working_days":
        if count.count < 0:
            raise DeadlineRulesError("working days are only counted forwards")
        result = workdays.working_days_after(event_day, count.count)
        return Computed(result.day, result.estimated)
    day = event_day + timedelta(days=count.count)
    return Computed(day, False)


def last_working_day_on_or_before(day: date, workdays: WorkCalendar) -> tuple[date, bool]:
    estimate = False
    while True:
        working, guess = workdays.is_workday(day)
        estimate |= guess
        if working:
            return day, estimate
        day -= timedelta(days=1)


def compute(rule: Rule, count: Count, event_day: date, workdays: WorkCalendar) -> Computed:
    """A rule's date; a calendar-day or month deadline on a day off also gets the working day before it."""
    computed = count_from(event_day, count, workdays)
    if rule.kind != "latest" or count.unit == "working_days":
        return computed
    working, estimate = workdays.is_workday(computed.day)
    if working:
        return computed
    before, guess = last_working_day_on_or_before(computed.day, workdays)
    return Computed(computed.day, computed.estimate or estimate or guess, before)
