"""The person offered with a guide reply, and the one question a reply asks when the guide distinguishes cases.

Its words are in the text catalogue (bot/texts/guide.yml, `guide.staff_*`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.core.workdays import SHANGHAI
from bot.guide.models import Distinction, GuideSection, Slot
from bot.texts import t


@dataclass(frozen=True)
class StaffAvailability:
    """Whether staff answer live now, and when they are next in (from OFFICE_HOURS, bot/handoff/office_hours.py)."""

    open: bool
    next_open: datetime | None = None


def _when(moment: datetime, lang: str) -> str:
    return t("guide.staff_back_at", lang, moment=moment.astimezone(SHANGHAI))


def person_note(lang: str, staff: StaffAvailability | None) -> str:
    """The line that offers a person; out of office hours it says when staff reply. Without hours known, the
    in-hours wording (the handoff itself then tells the user if staff are away)."""
    if staff is not None and not staff.open and staff.next_open is not None:
        return t("guide.staff_later", lang, when=_when(staff.next_open, lang))
    return t("guide.staff_now", lang)


def situation_payload(section: GuideSection, slot: str, value: str) -> str:
    """A button that answers `section` for one case of a slot (read back by actions/guide.py)."""
    return "/faq" + json.dumps({"section": section.id, "situation": f"{slot}:{value}"})


def parse_situation(entity: str | None) -> dict[str, str]:
    """{slot: value} from a situation button's entity ("location:inside"); empty for anything else."""
    slot, _, value = (entity or "").partition(":")
    return {slot: value} if slot and value else {}


def ask_buttons(slot: Slot, distinction: Distinction, section: GuideSection, lang: str) -> list[dict[str, str]]:
    """One button per case the distinction answers: the case's label, opening that case's answer."""
    buttons = []
    for value in slot.values:
        variant = distinction.variants.get(value.id)
        if variant is None:
            continue
        buttons.append({"title": value.label.get(lang), "payload": situation_payload(section, slot.id, value.id)})
    return buttons
