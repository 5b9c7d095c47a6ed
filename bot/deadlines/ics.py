"""An iCalendar file (RFC 5545) of computed deadlines: one all-day event per date, titled and described from
knowledge/deadlines.yml only, so nothing a user typed ends up in the file."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from bot.deadlines.rules import Rules, default_rules
from bot.texts import t

PRODID = "-//E-Town Work-Permit Assistant//deadlines//EN"


class CalendarRequestError(ValueError):
    pass


def parse_pairs(values: list[str], rules: Rules | None = None, limit: int = 20) -> list[tuple[str, date]]:
    """`rule:YYYY-MM-DD` pairs from the link's query; an unknown rule or a bad date is refused, not skipped."""
    rules = rules or default_rules()
    if not values:
        raise CalendarRequestError("no dates given")
    if len(values) > limit:
        raise CalendarRequestError(f"at most {limit} dates")
    pairs = []
    for value in values:
        rule, _, day = value.partition(":")
        if rule not in rules.rules:
            raise CalendarRequestError(f"unknown deadline {rule!r}")
        try:
            pairs.append((rule, date.fromisoformat(day)))
        except ValueError:
            raise CalendarRequestError(f"not a date: {day!r}") from None
    return pairs


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 §3.1)."""
    out, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > 75:
            out.append(current.decode("utf-8"))
            current = b" "
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n".join(out)


def build(pairs: list[tuple[str, date]], lang: str, now: datetime, rules: Rules | None = None) -> str:
    rules = rules or default_rules()
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             f"X-WR-CALNAME:{_escape(t('deadlines.ics_name', lang))}"]  # fmt: skip
    for rule_id, day in pairs:
        rule = rules.rules[rule_id]
        description = f"{rule.text.get(lang)}\n{rule.sources[0].url}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{rule_id}-{day.isoformat()}@etown-work-permit-assistant",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(day + timedelta(days=1)).strftime('%Y%m%d')}",
            f"SUMMARY:{_escape(rule.title.get(lang))}",
            f"DESCRIPTION:{_escape(description)}",
            f"URL:{rule.sources[0].url}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
