"""Whether a `when` condition holds for the applicant's answers."""

from __future__ import annotations

from bot.checklists.models import Answers


def holds(when: dict[str, tuple[str, ...]], answers: Answers, counts_as: dict[str, str]) -> bool:
    """`counts_as` maps a category answer to the category it belongs to (C_short counts as C)."""
    if "category" in when and not category_matches(answers.category or "unknown", when["category"], counts_as):
        return False
    if "location" in when and answers.location not in when["location"]:
        return False
    if "situations_any" in when and not set(when["situations_any"]) & set(answers.situations):
        return False
    return not ("situations_none" in when and set(when["situations_none"]) & set(answers.situations))


def category_matches(category: str, wanted: tuple[str, ...], counts_as: dict[str, str]) -> bool:
    """An answer such as C_short (short-term work) also counts as the category it belongs to (C)."""
    return category in wanted or counts_as.get(category) in wanted
