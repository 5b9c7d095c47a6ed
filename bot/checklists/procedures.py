"""Which procedure's list, which questions still to ask, and the buttons that start the checklist form."""

from __future__ import annotations

import json

from bot.checklists.loading import all_checklists

# A first application depends on where the applicant is: from abroad it is the notification letter (then the
# card after entry), from inside China the in-country application.
FIRST_APPLICATION = "first_application"
FIRST_APPLICATION_BY_LOCATION = {"outside": "notification_letter", "inside": "apply_inside_china"}


def resolve_procedure(procedure: str | None, location: str | None) -> str | None:
    if procedure == FIRST_APPLICATION:
        return FIRST_APPLICATION_BY_LOCATION.get(location or "")
    return procedure if procedure in all_checklists() else None


def questions_for(procedure: str | None, location: str | None) -> list[str]:
    """The questions still needed for this procedure, in the order the assistant asks them."""
    if procedure is None:
        return []
    if procedure == FIRST_APPLICATION and location is None:
        return ["location"]
    resolved = resolve_procedure(procedure, location)
    if resolved is None:
        return []
    asks = list(all_checklists()[resolved].asks)
    return [q for q in ("category", "location", "situations") if q in asks]


def request_payload(procedure: str) -> str:
    """A button payload that starts the checklist form with the procedure already chosen."""
    return "/request_checklist" + json.dumps({"procedure": procedure})


def procedure_choices() -> list[str]:
    """Procedures offered as buttons: a first application, then every other checklist."""
    others = [p for p in all_checklists() if p not in FIRST_APPLICATION_BY_LOCATION.values()]
    return [FIRST_APPLICATION, *others]
