"""Dates in applicants' messages, English and Chinese: absolute ("2027-01-20", "20 Jan 2027", "January 20th",
"2027年1月20日", "1月20日") and relative ("next Monday", "in two weeks", "下个月15号", "两周后", "明天").

Hand-written rather than `dateparser` (PyPI 1.5.0): its `search_dates` finds dates in free text by trying every
substring against every language it knows, which is slow and matches stray words ("may", "march on") as dates;
its Chinese support covers absolute dates but not forms such as "下个月15号" or Chinese numerals ("十五号");
and we need the position of each date (to find the words that say which event it is) and a year rule that
depends on the event. The forms applicants write are few, so a small set of patterns with an injected `today`
is easier to test and to trust. A date written without a year is returned with `year_given=False`; the caller
chooses the year (`resolve_year`), because "expires on 20 Jan" means the next 20 January and "arrived on 20 Nov"
the last one.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (calendar.month_name[number].lower(), calendar.month_abbr[number].lower())
}
MONTHS["sept"] = 9
WEEKDAYS_EN = {calendar.day_name[i].lower(): i for i in range(7)} | {calendar.day_abbr[i].lower(): i for i in range(7)}
WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
EN_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
}  # fmt: skip
ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}

_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
_ZH_NUM = r"[0-9零〇一二两三四五六七八九十]{1,3}"
_EN_NUM = r"(?:\d{1,3}|" + "|".join(sorted(EN_NUMBERS, key=len, reverse=True)) + ")"
_UNITS_EN = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 0, "months": 0}


@dataclass(frozen=True)
class FoundDate:
    """A date found in a message; `day` has the year filled in provisionally (this year) when `year_given` is
    False. `start`/`end` locate the words in the message."""

    day: date
    start: int
    end: int
    text: str
    year_given: bool = True
    relative: bool = False


def zh_number(text: str) -> int | None:
    """'15', '十五', '二十一', '三十', '两' -> int (up to 99)."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        high = ZH_DIGITS.get(tens) if tens else 1
        low = ZH_DIGITS.get(ones) if ones else 0
        return None if high is None or low is None else high * 10 + low
    value = 0
    for char in text:
        if char not in ZH_DIGITS:
            return None
        value = value * 10 + ZH_DIGITS[char]
    return value


def en_number(text: str) -> int | None:
    text = text.lower()
    return int(text) if text.isdigit() else EN_NUMBERS.get(text)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_week_day(today: date, weekday: int) -> date:
    """'next Monday' / '下周一': that weekday in the coming calendar week (weeks start on Monday)."""
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
    return monday + timedelta(days=weekday)


def _coming_day(today: date, weekday: int) -> date:
    """'on Friday' / '周五' without 'next': the first such day after today."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


# Each pattern yields (date, year_given, relative) from its match, or None when the numbers are no date.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<!\d)(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?!\d)"), "iso"),
    (re.compile(r"(?<!\d)(\d{4})\s*年\s*(" + _ZH_NUM + r")\s*月\s*(" + _ZH_NUM + r")\s*[日号號]?"), "zh_full"),
    (re.compile(r"(下个?月|下下个?月|本月|这个月)\s*(" + _ZH_NUM + r")\s*[日号號]"), "zh_month_rel"),
    (re.compile(r"(?<![\d年])(" + _ZH_NUM + r")\s*月\s*(" + _ZH_NUM + r")\s*[日号號]"), "zh_md"),
    (re.compile(r"(下个?|这个?|本)?(?:周|星期|礼拜)([一二三四五六日天])"), "zh_weekday"),
    (re.compile(r"(" + _ZH_NUM + r")\s*(个?星期|周|天|日|个月)\s*(?:以后|之后|后)"), "zh_in"),
    (re.compile(r"(大后天|后天|明天|今天)"), "zh_day"),
    (
        re.compile(
            r"\b(\d{1,2})" + _ORD + r"\s+(?:of\s+)?(" + _MONTH_NAMES + r")\.?(?:,?\s+(\d{4}))?\b", re.IGNORECASE
        ),
        "en_dmy",
    ),
    (
        re.compile(r"\b(" + _MONTH_NAMES + r")\.?\s+(\d{1,2})" + _ORD + r"\b(?:,?\s+(\d{4}))?", re.IGNORECASE),
        "en_mdy",
    ),
    (re.compile(r"\b(next|this|on|coming)\s+(" + "|".join(WEEKDAYS_EN) + r")\b", re.IGNORECASE), "en_weekday"),
    # "in 30 days" counts from today; "(hand it) in 30 days before expiry" or "in 10 days of arrival" counts from
    # another event, so it is a period, not a date.
    (
        re.compile(
            r"\bin\s+("
            + _EN_NUM
            + r")\s+(days?|weeks?|months?)\b(?!\s+(?:before|after|prior|of|ahead|earlier|later)\b)|\b("
            + _EN_NUM
            + r")\s+(days?|weeks?|months?)\s+from\s+(?:now|today)\b",
            re.IGNORECASE,
        ),
        "en_in",
    ),
    (re.compile(r"\b(the\s+day\s+after\s+tomorrow|tomorrow|today)\b", re.IGNORECASE), "en_day"),
]


def _read(kind: str, m: re.Match[str], today: date) -> tuple[date, bool, bool] | None:
    g = m.groups()
    if kind == "iso":
        found = _safe_date(int(g[0]), int(g[1]), int(g[2]))
        return (found, True, False) if found else None
    if kind == "zh_full":
        month, day = zh_number(g[1]), zh_number(g[2])
        found = _safe_date(int(g[0]), month or 0, day or 0)
        return (found, True, False) if found else None
    if kind == "zh_month_rel":
        months = 2 if g[0].startswith("下下") else 1 if g[0].startswith("下") else 0
        first = add_months(today.replace(day=1), months)
        found = _safe_date(first.year, first.month, zh_number(g[1]) or 0)
        return (found, True, True) if found else None
    if kind == "zh_md":
        found = _safe_date(today.year, zh_number(g[0]) or 0, zh_number(g[1]) or 0)
        return (found, False, False) if found else None
    if kind == "zh_weekday":
        weekday = WEEKDAYS_ZH[g[1]]
        found = _next_week_day(today, weekday) if g[0] and g[0].startswith("下") else None
        if found is None:
            this_week = today - timedelta(days=today.weekday()) + timedelta(days=weekday)
            found = this_week if g[0] and this_week >= today else _coming_day(today, weekday)
        return found, True, True
    if kind == "zh_in":
        count = zh_number(g[0])
        if count is None:
            return None
        if "月" in g[1]:
            return add_months(today, count), True, True
        return today + timedelta(days=count * (7 if ("周" in g[1] or "星期" in g[1]) else 1)), True, True
    if kind == "zh_day":
        return today + timedelta(days={"今天": 0, "明天": 1, "后天": 2, "大后天": 3}[g[0]]), True, True
    if kind in ("en_dmy", "en_mdy"):
        day_text, month_text = (g[0], g[1]) if kind == "en_dmy" else (g[1], g[0])
        month = MONTHS.get(month_text.lower().rstrip("."))
        if month is None:
            return None
        year_given = g[2] is not None
        found = _safe_date(int(g[2]) if year_given else today.year, month, int(day_text))
        return (found, year_given, False) if found else None
    if kind == "en_weekday":
        weekday = WEEKDAYS_EN[g[1].lower()]
        found = _next_week_day(today, weekday) if g[0].lower() == "next" else _coming_day(today, weekday)
        return found, True, True
    if kind == "en_in":
        number, unit = (g[0], g[1]) if g[0] else (g[2], g[3])
        count = en_number(number)
        if count is None:
            return None
        if unit.lower().startswith("month"):
            return add_months(today, count), True, True
        return today + timedelta(days=count * _UNITS_EN[unit.lower()]), True, True
    if kind == "en_day":
        word = g[0].lower()
        return today + timedelta(days=2 if word.startswith("the day") else 1 if word == "tomorrow" else 0), True, True
    raise AssertionError(kind)


def find_dates(text: str, today: date) -> list[FoundDate]:
    """Every date in `text`, in order; overlapping matches keep the earlier-listed (more specific) pattern."""
    taken: list[tuple[int, int]] = []
    found: list[FoundDate] = []
    for pattern, kind in _PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            read = _read(kind, m, today)
            if read is None:
                continue
            taken.append((m.start(), m.end()))
            day, year_given, relative = read
            found.append(FoundDate(day, m.start(), m.end(), m.group(0).strip(), year_given, relative))
    return sorted(found, key=lambda f: f.start)


def resolve_year(found: FoundDate, today: date, rule: str = "next", recent_days: int = 0) -> date:
    """The date a year-less mention means: `next` = its next occurrence (today counts); `recent` = the last
    occurrence when that was at most `recent_days` ago, else the next one."""
    if found.year_given:
        return found.day
    this_year = found.day
    if rule == "recent":
        last = this_year if this_year <= today else _year_shift(this_year, -1)
        if (today - last).days <= recent_days:
            return last
    return this_year if this_year >= today else _year_shift(this_year, 1)


def _year_shift(day: date, years: int) -> date:
    return _safe_date(day.year + years, day.month, day.day) or date(day.year + years, day.month, 28)
