"""What the assistant says around a handoff; the words are in bot/texts/handoff.yml, the composition here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core import payload
from bot.core.workdays import SHANGHAI
from bot.texts import both, both_template, t


def handoff_button(lang: str) -> dict[str, str]:
    """The one "Talk to a person" button, offered by guide answers, case lookups and the out-of-scope reply."""
    return {"title": t("handoff.talk_to_person", lang), "payload": "/human_handoff"}


def _when(moment: datetime, lang: str) -> str:
    return t("handoff.when", lang, moment=moment.astimezone(SHANGHAI))


def _minutes(seconds: int) -> int:
    return max(1, round(seconds / 60))


def queued(lang: str, position: int, wait_s: int) -> str:
    return t("handoff.queued", lang, position=position, minutes=_minutes(wait_s))


def closed(lang: str, next_open: datetime) -> str:
    return t("handoff.closed", lang, when=_when(next_open, lang))


def message_left(lang: str, next_open: datetime) -> str:
    return t("handoff.message_left", lang, when=_when(next_open, lang))


def question_needed(lang: str) -> str:
    return t("handoff.question_needed", lang)


def bad_contact(lang: str) -> str:
    return t("handoff.bad_contact", lang)


def no_channel(lang: str) -> str:
    return t("handoff.no_channel", lang)


def handoff_payload(
    ticket: int, position: int | None, wait_s: int | None, office_open: bool, next_open: datetime | None, lang: str
) -> dict[str, Any]:
    """The `handoff` payload of DESIGN.md."""
    return {
        "type": payload.HANDOFF,
        "ticket": ticket,
        "queue_position": position,
        "estimated_wait_s": wait_s,
        "office_open": office_open,
        "next_open": next_open.isoformat() if next_open else None,
        "lang": lang,
    }


def ask_rating(lang: str) -> str:
    return t("handoff.ask_rating", lang)


def rating_buttons(lang: str) -> list[dict[str, str]]:
    return [{"title": t(f"handoff.rating.{i}", lang), "payload": f'/rate{{"rating": "{i}"}}'} for i in range(1, 6)]


def thanks_for_rating(lang: str) -> str:
    return t("handoff.thanks_for_rating", lang)


def rating_not_needed(lang: str) -> str:
    return t("handoff.rating_not_needed", lang)


# Notices the gateway itself posts into the conversation (system messages), both languages in one line. STAFF_JOINED
# keeps its {name} for the gateway to fill.
STAFF_JOINED = both_template("handoff.staff_joined")
REQUEUED = both("handoff.requeued")
RESOLVED = both("handoff.resolved")
