"""The print page's address: the procedure and the answers in a query string, and back (strictly)."""

from __future__ import annotations

from urllib.parse import urlencode

from bot.checklists.loading import question_options
from bot.checklists.models import Answers, ChecklistError


def print_url(procedure: str, answers: Answers, lang: str, public_url: str = "") -> str:
    query = {"lang": lang}
    if answers.category:
        query["category"] = answers.category
    if answers.location:
        query["location"] = answers.location
    if answers.situations:
        query["situations"] = ",".join(answers.situations)
    return f"{public_url.rstrip('/')}/checklist/{procedure}?{urlencode(query)}"


def parse_answers(query: dict[str, str]) -> Answers:
    """Answers from a print-page query string; unknown values are refused rather than ignored."""
    options = question_options()
    category = query.get("category") or None
    location = query.get("location") or None
    situations = tuple(s for s in (query.get("situations") or "").split(",") if s)
    if category is not None and category not in options["category"]:
        raise ChecklistError(f"unknown category {category!r}")
    if location is not None and location not in options["location"]:
        raise ChecklistError(f"unknown location {location!r}")
    if set(situations) - set(options["situations"]):
        raise ChecklistError("unknown situation")
    return Answers(category, location, situations)
