"""The `checklist` payload of DESIGN.md for one case: the same builder serves the bot and the print page, so both
always show the same list."""

from __future__ import annotations

from typing import Any

from bot.checklists.addresses import print_url
from bot.checklists.conditions import holds
from bot.checklists.loading import current
from bot.checklists.models import Answers, Catalogue, Checklist, ChecklistError
from bot.core import payload


def chosen(catalogue: Catalogue, procedure: str, answers: Answers) -> Checklist:
    """The procedure's list, or the list that replaces it for these answers (the short list for short-term work)."""
    counts_as = catalogue.questions.counts_as
    for other in catalogue.every.values():
        if procedure in other.instead_of and holds(other.when, answers, counts_as):
            return other
    return catalogue.every[procedure]


def build(procedure: str, answers: Answers, lang: str, public_url: str = "") -> dict[str, Any]:
    """The `checklist` payload of DESIGN.md for one case."""
    catalogue = current()
    if procedure not in catalogue.every:
        raise ChecklistError(f"no checklist for {procedure!r}")
    checklist = chosen(catalogue, procedure, answers)
    counts_as = catalogue.questions.counts_as
    items = []
    for item in checklist.items:
        if not holds(item.when, answers, counts_as):
            continue
        note = next((v.note for v in item.variants if holds(v.when, answers, counts_as)), item.note)
        items.append(
            {
                "id": item.id,
                "name": item.name.get(lang),
                "note": note.get(lang),
                "common_mistakes": [m.get(lang) for m in item.mistakes],
            }
        )
    return {
        "type": payload.CHECKLIST,
        "procedure": checklist.procedure,
        "title": checklist.title.get(lang),
        "category": answers.category,
        "location": answers.location,
        "situations": list(answers.situations),
        "items": items,
        "lang": lang,
        "reviewed": checklist.reviewed,
        "section": checklist.section,
        # The print page rebuilds the list from the same procedure and answers, so it shows this list too.
        "print_url": print_url(procedure, answers, lang, public_url),
    }
