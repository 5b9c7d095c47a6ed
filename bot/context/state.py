"""What the conversation has established (`Context`), what one message says (`Heard`), and how the two combine.

The context lives in Rasa slots (`SLOTS`), so it survives the tracker store's window and a restart; the rules
for combining are pure functions: a follow-up changes only what it mentions, a new topic resets what no longer
applies (the situation and the aspect), while facts about the person (category, location, dates) stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any, Callable

from bot.deadlines.rules import default_rules
from bot.deadlines.service import Mention, mentions_in
from bot.guide.loader import KNOWLEDGE_DIR, read_knowledge_yaml

SLOTS = {
    "procedure": "context_procedure",
    "category": "context_category",
    "location": "context_location",
    "situations": "context_situations",
    "dates": "context_dates",
    "aspect": "context_aspect",
}
MAX_DATES = 6


@dataclass(frozen=True)
class Context:
    procedure: str | None = None
    category: str | None = None
    location: str | None = None
    situations: tuple[str, ...] = ()
    dates: tuple[Mention, ...] = ()
    aspect: str | None = None

    @property
    def empty(self) -> bool:
        return self == Context()


@dataclass(frozen=True)
class Heard:
    """What one message names: entities from the NLU pipeline, situations and aspects from knowledge/followups.yml,
    and its dates with their events."""

    procedure: str | None = None
    category: str | None = None
    location: str | None = None
    situations: tuple[str, ...] = ()
    aspect: str | None = None
    dates: tuple[Mention, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FollowupContent:
    situations: dict[str, dict[str, Any]]
    aspects: dict[str, dict[str, Any]]


@lru_cache(maxsize=1)
def followup_content() -> FollowupContent:
    raw = read_knowledge_yaml((KNOWLEDGE_DIR / "followups.yml").read_text(encoding="utf-8")) or {}
    return FollowupContent(raw.get("situations") or {}, raw.get("aspects") or {})


def _mentions(cues: dict[str, list[str]], lowered: str) -> bool:
    for word in [*(cues.get("en") or ()), *(cues.get("zh") or ())]:
        word = str(word).lower()
        pattern = r"(?<![a-z])" + re.escape(word) + r"(?![a-z])" if word.isascii() else re.escape(word)
        if re.search(pattern, lowered):
            return True
    return False


def hear(text: str, entities: list[dict[str, Any]], today: date, procedure_hint: str | None = None) -> Heard:
    """Read one message. `procedure_hint` (the conversation's procedure) decides what a bare date is."""
    content = followup_content()
    lowered = (text or "").lower()
    values = {e.get("entity"): e.get("value") for e in entities or () if e.get("entity") and e.get("value")}
    situations = tuple(s for s, item in content.situations.items() if _mentions(item.get("cues") or {}, lowered))
    aspect = next((a for a, item in content.aspects.items() if _mentions(item.get("cues") or {}, lowered)), None)
    procedure = values.get("procedure")
    if "expired" in situations and procedure == "extension" and not re.search(r"renew|extend|续|延期", lowered):
        procedure = None  # "expired" alone is not a question about the extension procedure itself
    dates = tuple(mentions_in(text or "", today, procedure or procedure_hint, past="expired" in situations))
    return Heard(procedure, values.get("permit_category"), values.get("location"), situations, aspect, dates)


def _merge_dates(old: tuple[Mention, ...], new: tuple[Mention, ...]) -> tuple[Mention, ...]:
    """The latest date of each event wins; dates whose event is unknown are not kept."""
    by_event = {m.event: m for m in old if m.event}
    by_event.update({m.event: m for m in new if m.event})
    return tuple(by_event.values())[-MAX_DATES:]


def situation_procedure(situations: tuple[str, ...]) -> str | None:
    """A situation that implies a procedure ("换单位的话呢" → change of employer)."""
    content = followup_content()
    return next(
        (content.situations[s].get("procedure") for s in situations if content.situations[s].get("procedure")), None
    )


def _date_procedures(heard: Heard) -> list[str]:
    """The procedures the message's dates belong to ("he entered China on 20 Nov" → the card after entry)."""
    events = default_rules().events
    return [p for m in heard.dates if m.event in events for p in events[m.event or ""].procedures]


def follow(context: Context, heard: Heard) -> Context:
    """A follow-up: what the message names replaces what the context holds; the rest carries over."""
    dated = _date_procedures(heard)
    # A date of another procedure's event is a new topic ("he entered China on 20 Nov" after an extension).
    current = context.procedure if not dated or context.procedure in dated else dated[0]
    procedure = heard.procedure or situation_procedure(heard.situations) or current
    switched = procedure != context.procedure
    kept = () if switched else context.situations
    situations = tuple(dict.fromkeys(
        s for s in (*kept, *heard.situations) if not followup_content().situations[s].get("procedure")
    ))  # fmt: skip
    return Context(
        procedure=procedure,
        category=heard.category or context.category,
        location=heard.location or context.location,
        situations=situations,
        dates=_merge_dates(context.dates, heard.dates),
        aspect=heard.aspect or context.aspect,
    )


def after_answer(context: Context, heard: Heard, section_procedure: str | None) -> Context:
    """A guide answer to a full question starts a new topic: the situation and aspect of earlier follow-ups no
    longer apply (unless the question names them again). Facts about the person (category, location, dates) stay,
    and a section without a procedure (fees, categories…) keeps the case the conversation is about."""
    procedure = section_procedure or heard.procedure or context.procedure
    context = replace(context, situations=(), aspect=None)
    return replace(
        follow(replace(context, procedure=procedure), replace(heard, procedure=procedure)),
        aspect=heard.aspect,
    )


# -- slots ----------------------------------------------------------------------------------------------------


def from_slots(get: Callable[[str], Any]) -> Context:
    dates = []
    for value in get(SLOTS["dates"]) or ():
        event, _, day = str(value).partition(":")
        try:
            dates.append(Mention(event or None, date.fromisoformat(day)))
        except ValueError:
            continue
    return Context(
        procedure=get(SLOTS["procedure"]) or None,
        category=get(SLOTS["category"]) or None,
        location=get(SLOTS["location"]) or None,
        situations=tuple(get(SLOTS["situations"]) or ()),
        dates=tuple(dates),
        aspect=get(SLOTS["aspect"]) or None,
    )


def to_slots(context: Context) -> dict[str, Any]:
    return {
        SLOTS["procedure"]: context.procedure,
        SLOTS["category"]: context.category,
        SLOTS["location"]: context.location,
        SLOTS["situations"]: list(context.situations) or None,
        SLOTS["dates"]: [f"{m.event}:{m.day.isoformat()}" for m in context.dates] or None,
        SLOTS["aspect"]: context.aspect,
    }
