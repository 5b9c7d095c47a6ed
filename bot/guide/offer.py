"""The person offered with a guide reply, and the one question a reply asks when the guide distinguishes cases.

Strings added for issue 13 live in the small TEXTS table here, apart from answers.py's tables, so the catalogue
of texts can take them whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.core.workdays import SHANGHAI
from bot.guide.models import Distinction, GuideSection, Slot

TEXTS = {
    "staff_now": {
        "en": "A case like yours is best looked at by a person: press “Talk to a person” and a staff member can go "
        "through it with you now.",
        "zh": "您这样的情况最好由工作人员来看：请点击“转人工”，工作人员现在就可以和您一起核对。",
    },
    "staff_later": {
        "en": "A case like yours is best looked at by a person. Staff are not in now: press “Talk to a person” to "
        "leave your question, and they reply from {when}.",
        "zh": "您这样的情况最好由工作人员来看。工作人员目前不在线：请点击“转人工”留下问题，工作人员将于{when}起回复。",
    },
}


@dataclass(frozen=True)
class StaffAvailability:
    """Whether staff answer live now, and when they are next in (from OFFICE_HOURS, bot/handoff/office_hours.py)."""

    open: bool
    next_open: datetime | None = None


def _when(moment: datetime, lang: str) -> str:
    local = moment.astimezone(SHANGHAI)
    if lang == "zh":
        return f"{local.month}月{local.day}日 {local:%H:%M}（北京时间）"
    return f"{local:%A %d %B, %H:%M} Beijing time"


def person_note(lang: str, staff: StaffAvailability | None) -> str:
    """The line that offers a person; out of office hours it says when staff reply. Without hours known, the
    in-hours wording (the handoff itself then tells the user if staff are away)."""
    if staff is not None and not staff.open and staff.next_open is not None:
        return TEXTS["staff_later"][lang].format(when=_when(staff.next_open, lang))
    return TEXTS["staff_now"][lang]


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
