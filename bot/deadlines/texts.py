"""Dates in words, as the deadline lines show them; the words themselves are in bot/texts/deadlines.yml."""

from __future__ import annotations

from datetime import date

from bot.texts import t

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def format_date(day: date, lang: str) -> str:
    """'Sat 13 Feb 2027' / '2027年2月13日（周六）': always with the weekday, which matters around holidays."""
    return t("deadlines.date", lang, day=day, weekday=t(f"deadlines.weekday.{_WEEKDAYS[day.weekday()]}", lang))
