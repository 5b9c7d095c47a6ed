"""What the assistant says around computed deadlines, in both languages (one catalogue, one lookup). The rules'
own titles and wording are content, in knowledge/deadlines.yml."""

from __future__ import annotations

from datetime import date

TEXTS: dict[str, dict[str, str]] = {
    "intro": {
        "en": "Your dates, counted (today is {today}):",
        "zh": "根据您给出的日期计算（今天是{today}）：",
    },
    "line": {
        "en": "• {title}: **{date}** — {rule} (from {event} on {event_date}).",
        "zh": "• {title}：**{date}**——{rule}（自{event_date}{event}起算）。",
    },
    "past": {"en": "  ⚠ This date has passed. {what_now}", "zh": "  ⚠ 该日期已过。{what_now}"},
    "past_fine": {"en": "  ✓ {what_now}", "zh": "  ✓ {what_now}"},
    "day_off": {
        "en": "  {date} is not a working day: the last working day before it is {before}.",
        "zh": "  {date}不是工作日，此前最后一个工作日是{before}。",
    },
    "estimate": {
        "en": "  Estimate: the official holidays for {year} are not published yet, so working days are counted "
        "from weekends alone.",
        "zh": "  此为估算：{year}年的法定节假日安排尚未公布，工作日暂按周末推算。",
    },
    "conflict": {
        "en": "  Sources differ: {note} — that would be **{date}**. The earlier date is the safe one.",
        "zh": "  来源说法不一：{note}，即 **{date}**。以较早的日期为准更稳妥。",
    },
    "unknown_event": {
        "en": 'I noted {dates} but not what happens then. Say, for example, "the permit expires on {example}" '
        'or "he entered China on {example}", and I will count the deadlines.',
        "zh": "我注意到了{dates}，但不清楚这是什么日期。可以说“工作许可{example}到期”或“{example}入境”，我来计算期限。",
    },
    "calendar": {"en": "Add to my calendar (.ics)", "zh": "添加到日历（.ics）"},
    "unit_calendar_days": {"en": "calendar days", "zh": "自然日"},
    "unit_working_days": {"en": "working days", "zh": "工作日"},
    "unit_months": {"en": "months", "zh": "个月"},
    "ics_name": {"en": "Work-permit deadlines", "zh": "工作许可期限"},
}

_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}


def t(key: str, lang: str, **values: object) -> str:
    return TEXTS[key][lang].format(**values)


def format_date(day: date, lang: str) -> str:
    """'Sat 13 Feb 2027' / '2027年2月13日（周六）': always with the weekday, which matters around holidays."""
    weekday = _WEEKDAYS[lang][day.weekday()]
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日（{weekday}）"
    return f"{weekday} {day.day} {day.strftime('%b')} {day.year}"
