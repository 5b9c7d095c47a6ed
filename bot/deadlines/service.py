"""From a message to the deadlines that follow from its dates: which event each date is (cue words from
knowledge/deadlines.yml, else the conversation's procedure), the year when it was left out, every rule counted
from it, and the words, payload and calendar link the assistant sends. Pure functions of their inputs (text,
today, rules, working-day calendar), so tests pass a fixed clock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from bot.core.workdays import WorkCalendar, default_calendar
from bot.deadlines import parse
from bot.deadlines.rules import Rules, compute, default_rules
from bot.deadlines.texts import format_date
from bot.texts import t

# A cue further than this many characters from a date does not name it (it belongs to another part of the post).
CUE_REACH = 40
CLAUSE_PENALTY = 30
MAX_ICS_DATES = 20
# A date whose deadlines all passed more than this long ago (or an unnamed date this far back) is the background of
# a post ("I arrived in 2019 and have worked here since", "born on 5 May 1968"), not a deadline to count or ask
# about: counting it only produces "this date has passed" lines and a person offered for nothing.
BACKGROUND_DAYS = 366


@dataclass(frozen=True)
class Mention:
    """A date of the conversation and the event it is (None: the message did not say and no procedure implies one)."""

    event: str | None
    day: date
    text: str = ""


@dataclass
class Report:
    """The deadlines of one turn: the lines said before the answer, the lines of other procedures' deadlines said
    after it (`later`), the payload entries, and whether a person should be offered."""

    deadlines: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    later: list[str] = field(default_factory=list)
    unknown: list[Mention] = field(default_factory=list)
    offer_person: bool = False

    def text(self) -> str:
        return "\n".join(self.lines)

    def later_text(self) -> str:
        return "\n".join(self.later)


def _find(words: tuple[str, ...], lowered: str) -> list[tuple[int, int]]:
    """Where each word occurs; Latin words only as whole words ("enter" is not in "center")."""
    spans = []
    for word in words:
        pattern = r"(?<![a-z])" + re.escape(word) + r"(?![a-z])" if word.isascii() else re.escape(word)
        spans += [(m.start(), m.end()) for m in re.finditer(pattern, lowered)]
    return spans


def _cue_matches(text: str, rules: Rules) -> list[tuple[int, int, str]]:
    """(start, end, event) of every cue in the text, without cues inside a longer cue of any event."""
    lowered = text.lower()
    found = [
        (start, end, event.id)
        for event in rules.events.values()
        for start, end in _find(event.cues["en"] + event.cues["zh"], lowered)
    ]
    return [f for f in found if not any(o[0] <= f[0] and f[1] <= o[1] and (o[1] - o[0]) > (f[1] - f[0]) for o in found)]


def _gap(text: str, start: int, end: int, found: parse.FoundDate) -> str | None:
    """The text between a span and a date ('' when they overlap), None when a sentence ends in between: a cue
    never names a date in another sentence ("…June 1990. I arrived…")."""
    if end <= found.start:
        gap = text[end : found.start]
    elif start >= found.end:
        gap = text[found.end : start]
    else:
        return ""
    return None if _SENTENCE_END.search(gap) else gap


def _distance(text: str, start: int, end: int, found: parse.FoundDate) -> int:
    """Characters between a cue and a date, plus a clause's worth for every clause boundary between them."""
    gap = _gap(text, start, end, found)
    if gap is None:
        return CUE_REACH + 1
    return len(gap) + CLAUSE_PENALTY * len(_CLAUSE_BREAK.findall(gap))


_CLAUSE_BREAK = re.compile(r"[,，;；。!?！？\n]|\band\b|\bbut\b|但是|而且")
_SENTENCE_END = re.compile(r"[。！？\n]|[.!?](?:\s|$)")


def _breaks(text: str, start: int, end: int, found: parse.FoundDate) -> int:
    gap = _gap(text, start, end, found)
    return len(_CLAUSE_BREAK.findall(gap)) if gap is not None else 99


def classify(text: str, found: parse.FoundDate, cues: list[tuple[int, int, str]], rules: Rules) -> str | None:
    """The event of the nearest cue within reach (a longer cue wins a tie), refined by a subject word near the
    date ("contract" turns "ends on" into the end of the contract)."""
    best: tuple[int, int, str, int] | None = None
    for start, end, event in cues:
        distance = _distance(text, start, end, found)
        if distance <= CUE_REACH and (best is None or (distance, start - end) < best[:2]):
            best = (distance, start - end, event, _breaks(text, start, end, found))
    if best is None:
        return None
    # The subject refines the cue only from the cue's own clause: in "the permit expires on 15 March and my
    # contract…" the contract belongs to the next clause, and the date stays the permit's.
    lowered = text.lower()
    for known in rules.events.values():
        if known.refines == best[2] and any(
            _distance(text, start, end, found) <= CUE_REACH and _breaks(text, start, end, found) <= best[3]
            for start, end in _find(known.subjects, lowered)
        ):
            return known.id
    return best[2]


def mentions_in(
    text: str, today: date, procedure: str | None = None, rules: Rules | None = None, past: bool = False
) -> list[Mention]:
    """The dates of a message, each with its event and its year settled; `past` when the message says the event
    has happened ("it expired on 30 Sep"): a year-less date is then the last occurrence."""
    rules = rules or default_rules()
    cues = _cue_matches(text, rules)
    implied = rules.events_for_procedure(procedure)
    result = []
    for found in parse.find_dates(text, today):
        event_id = classify(text, found, cues, rules) or (implied[0] if implied else None)
        event = rules.events.get(event_id or "")
        if past:
            day = parse.resolve_year(found, today, "recent", 366)
        elif event is None:
            day = parse.resolve_year(found, today)
        else:
            day = parse.resolve_year(found, today, event.year, event.recent_days)
        result.append(Mention(event_id, day, found.text))
    return result


def report(
    mentions: list[Mention],
    today: date,
    lang: str,
    procedure: str | None = None,
    carried: list[Mention] | None = None,
    rules: Rules | None = None,
    workdays: WorkCalendar | None = None,
) -> Report:
    """Every deadline from this turn's dates, and from dates heard earlier whose rules concern `procedure`.

    A deadline of another procedure than the one answered (a long post about a renewal that also says when the
    contract ends) goes to `later`: the reply opens with what was asked, and the other dates still get counted."""
    rules = rules or default_rules()
    workdays = workdays or default_calendar()
    out = Report()
    wanted: list[tuple[Mention, list[Any]]] = []
    for mention in mentions:
        if mention.event is None:
            if (today - mention.day).days <= BACKGROUND_DAYS:
                out.unknown.append(mention)
        elif not _background(mention, rules.for_event(mention.event), today, workdays):
            wanted.append((mention, rules.for_event(mention.event)))
    for mention in carried or []:
        if mention.event is None or any(m.event == mention.event for m, _ in wanted):
            continue
        relevant = [r for r in rules.for_event(mention.event) if procedure and procedure in r.procedures]
        if relevant and not _background(mention, relevant, today, workdays):
            wanted.append((mention, relevant))
    first: list[str] = []
    for mention, event_rules in wanted:
        event = rules.events[mention.event or ""]
        for rule in event_rules:
            lines: list[str] = []
            out.deadlines.append(_deadline(rule, mention, event.title.get(lang), today, lang, workdays, out, lines))
            concerns = not procedure or not rule.procedures or procedure in rule.procedures
            (first if concerns else out.later).extend(lines)
    if first:
        out.lines = [t("deadlines.intro", lang, today=format_date(today, lang)), *first]
    if out.later:
        intro = "deadlines.intro_other" if first else "deadlines.intro_other_only"
        out.later.insert(0, t(intro, lang, today=format_date(today, lang)))
    if out.unknown:
        example = format_date(out.unknown[0].day, lang)
        dates = ", ".join(format_date(m.day, lang) for m in out.unknown)
        out.lines.append(t("deadlines.unknown_event", lang, dates=dates, example=example))
    return out


def _background(mention: Mention, event_rules: list[Any], today: date, workdays: WorkCalendar) -> bool:
    """Every deadline from this date passed more than BACKGROUND_DAYS ago: the post's history, not a deadline."""
    return bool(event_rules) and all(
        (today - compute(rule, rule.count, mention.day, workdays).day).days > BACKGROUND_DAYS for rule in event_rules
    )


def _deadline(
    rule: Any,
    mention: Mention,
    event_title: str,
    today: date,
    lang: str,
    workdays: WorkCalendar,
    out: Report,
    text: list[str],
) -> dict[str, Any]:
    """One rule counted from one date: its payload entry; its lines of text go to `text`."""
    computed = compute(rule, rule.count, mention.day, workdays)
    past = computed.day < today
    lines = [
        t("deadlines.line", lang, title=rule.title.get(lang), date=format_date(computed.day, lang),
          rule=rule.text.get(lang), event=event_title, event_date=format_date(mention.day, lang))
    ]  # fmt: skip
    if past:
        past_key = "deadlines.past_fine" if rule.past_is_fine else "deadlines.past"
        lines.append(t(past_key, lang, what_now=rule.if_past.get(lang)))
        out.offer_person |= not rule.past_is_fine
    if computed.working_day_before and not past:
        lines.append(
            t(
                "deadlines.day_off",
                lang,
                date=format_date(computed.day, lang),
                before=format_date(computed.working_day_before, lang),
            )
        )
    if computed.estimate:
        lines.append(t("deadlines.estimate", lang, year=computed.day.year))
    conflicts = []
    for conflict in rule.conflicts:
        other = compute(rule, conflict.count, mention.day, workdays)
        conflicts.append(
            {
                "date": other.day.isoformat(),
                "count": conflict.count.count,
                "unit": conflict.count.unit,
                "estimate": other.estimate,
                "note": conflict.note.get(lang),
                "source": conflict.sources[0].url,
            }
        )
        lines.append(t("deadlines.conflict", lang, note=conflict.note.get(lang), date=format_date(other.day, lang)))
    text.extend(lines)
    return {
        "rule": rule.id,
        "title": rule.title.get(lang),
        "date": computed.day.isoformat(),
        "kind": rule.kind,
        "count": rule.count.count,
        "unit": rule.count.unit,
        "event": mention.event,
        "event_date": mention.day.isoformat(),
        "estimate": computed.estimate,
        "past": past,
        "working_day_before": computed.working_day_before.isoformat() if computed.working_day_before else None,
        "source": rule.sources[0].url,
        "conflicts": conflicts,
    }


def ics_url(deadlines: list[dict[str, Any]], lang: str, public_url: str = "") -> str | None:
    """The gateway link that turns these computed dates into a calendar file (see bot/gateway/calendar_ics.py)."""
    if not deadlines:
        return None
    pairs = [("lang", lang)] + [("d", f"{d['rule']}:{d['date']}") for d in deadlines[:MAX_ICS_DATES]]
    return f"{public_url.rstrip('/')}/deadlines.ics?{urlencode(pairs)}"
