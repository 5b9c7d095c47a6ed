"""The insights pages' labels, in the console's "English · 中文" style: lookups into bot/texts/insights.yml, by the
names the report code uses."""

from __future__ import annotations

from bot.texts import both, catalogue


def _group(name: str) -> dict[str, str]:
    """Every label of one group of the catalogue (`insights.head.*`), keyed by its last name."""
    prefix = f"insights.{name}."
    return {key[len(prefix) :]: both(key) for key in catalogue() if key.startswith(prefix)}


OUTCOMES = _group("outcome")
STEPS = _group("step")
HOURS = _group("hours")
LANGUAGES = _group("language")
TITLES = _group("title")
HEAD = _group("head")
YES_NO = {True: both("insights.answer_yes"), False: both("insights.answer_no")}
OPEN = both("insights.open")
NOTES = _group("note")
REPORT = _group("report")
