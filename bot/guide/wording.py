"""Reading a guide text the way the content checks need: the numbers it states (in either language's notation),
its paragraphs, statements and sentences, and the markers of an unconfirmed or hedged fact."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from bot.guide.loader import FACT_REF

# ---------------------------------------------------------------------------------------------------------------
# Numbers in a text
# ---------------------------------------------------------------------------------------------------------------

EN_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
EN_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "sixty": 60, "ninety": 90,
}  # fmt: skip
# A spelled-out number counts only before a unit ("three months"): "one agency" is not a figure of the guide.
EN_UNIT = r"(?:working[ -]days?|workdays?|days?|weeks?|months?|years?|hours?|minutes?|times|points?)\b"
EN_MULTIPLIER = {"k": 1_000, "million": 1_000_000}

ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
ZH_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
ZH_NUMERAL = "[零〇一二两三四五六七八九十][零〇一二两三四五六七八九十百千万]*"
# Likewise a Chinese numeral counts only before a unit (三个月, 十五日, 第三十一条), not in 一般, 之一, 一次.
ZH_UNIT = "(?:个)?(?:工作日|周岁|小时|分钟|年|月|周|日|天|岁|分|元|倍|条|级|层|号)"
ZH_MULTIPLIER = {"万": 10_000, "亿": 100_000_000}
RANGE = r"\s*(?:[-–—~～]|至|到|to)\s*"

URL = re.compile(r"https?://\S+")
THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d])")


def canonical_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def zh_numeral_value(text: str) -> int:
    """Value of a Chinese numeral: 十五 → 15, 三十一 → 31, 两 → 2, 五万 → 50000."""
    total, section, digit = 0, 0, 0
    for char in text:
        if char in ZH_DIGITS:
            digit = ZH_DIGITS[char]
        elif char in ZH_SMALL_UNITS:
            section += (digit or 1) * ZH_SMALL_UNITS[char]
            digit = 0
        elif char == "万":
            total += (section + digit) * 10_000
            section, digit = 0, 0
    return total + section + digit


def _digit_numbers(text: str, multipliers: dict[str, int]) -> Iterator[float]:
    """Arabic numbers (full-width already folded), with 'k' / '万' style multipliers, shared across a range."""
    suffix = "|".join(sorted(map(re.escape, multipliers), key=len, reverse=True))
    number = r"(\d+(?:\.\d+)?)"
    pattern = re.compile(rf"{number}(?:{RANGE}{number})?\s*(?:({suffix})(?![A-Za-z]))?", re.IGNORECASE)
    for match in pattern.finditer(text):
        factor = multipliers.get((match.group(3) or "").lower(), 1)
        first = float(match.group(1))
        if match.group(2) is None:
            yield first * factor
            continue
        second = float(match.group(2))
        # "350–450k" is 350,000 to 450,000, but in "5000元至2万元" the 万 belongs to the second end only.
        yield first * factor if first < second else first
        yield second * factor


def numbers_in(text: str, lang: str) -> set[str]:
    """The set of numbers a text states, comparable across languages.

    '30 days' and '30日' are both 30; '2,000' and '2000' are 2000; '450k' and '45万' are 450000; '十五日' is 15;
    '7 November 2023' and '2023年11月7日' are {7, 11, 2023}. Spelled-out numbers count only before a unit.
    """
    text = unicodedata.normalize("NFKC", text)
    text = URL.sub(" ", FACT_REF.sub(" ", text))
    text = THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text)
    found: list[float] = []
    if lang == "zh":
        zh_range = re.compile(rf"({ZH_NUMERAL})(?:{RANGE}({ZH_NUMERAL}))?(?={ZH_UNIT})")
        for match in zh_range.finditer(text):
            found.append(zh_numeral_value(match.group(1)))
            if match.group(2):
                found.append(zh_numeral_value(match.group(2)))
        # A range whose first end has no unit of its own: 一至五级, 三至五年.
        text = zh_range.sub(" ", text)
        found.extend(_digit_numbers(text, ZH_MULTIPLIER))
    else:
        words = "|".join(EN_WORDS)
        for match in re.finditer(rf"\b({words})(?:{RANGE}({words}))?[ -]+(?={EN_UNIT})", text, re.IGNORECASE):
            found.append(EN_WORDS[match.group(1).lower()])
            if match.group(2):
                found.append(EN_WORDS[match.group(2).lower()])
        # "within the past year" is the English of 近一年内.
        for _ in re.finditer(r"\b(?:the past|the last|within a|in a)\s+(?:year|month|week|day)\b", text, re.I):
            found.append(1)
        months = "|".join(EN_MONTHS)
        month_near_number = re.compile(rf"(?<=\d )\b({months})\b\.?|\b({months})\b\.?(?= \d)", re.IGNORECASE)
        for match in month_near_number.finditer(text):
            name = (match.group(1) or match.group(2)).lower()
            if name == "may" and not (match.group(0)[0].isupper()):
                continue  # the verb, not the month
            found.append(EN_MONTHS[name])
        found.extend(_digit_numbers(text, EN_MULTIPLIER))
    return {canonical_number(value) for value in found}


# ---------------------------------------------------------------------------------------------------------------
# Wording markers
# ---------------------------------------------------------------------------------------------------------------

UNCONFIRMED = {
    "en": re.compile(r"not (?:yet )?confirmed|unconfirmed|not confirmed yet", re.IGNORECASE),
    "zh": re.compile(r"尚未.{0,8}确认|未经.{0,8}确认"),
}
# Words that attribute a fact to a weaker source or flag it as uncertain.
HEDGE = {
    "en": re.compile(
        r"agenc|report|unverified|not verified|unconfirmed|not confirmed|low-reliability|secondary|unofficial|"
        r"not on an official|forum|one page|some pages|sites?\b|websites?|according to|claim|anecdot|"
        r"may be|uncertain|unclear|not clear|differ|disagree|conflict|not found|cop(?:y|ies) of",
        re.IGNORECASE,
    ),
    "zh": re.compile(
        r"中介|报道|据称|据.{0,10}(?:称|介绍|反映|报道)|未经核实|尚未.{0,8}确认|可靠性较低|非官方|网站|网页|论坛|说法|"
        r"有.{0,8}称|个案|可能|不确定|不明确|并不明确|不一|未找到|未见|转载"
    ),
}
# One wording for each recurring note in Chinese (issue #11, point 14): (wrong, use instead).
ZH_STYLE = (
    ("低可靠度", "可靠性较低"),
    ("低可靠性", "可靠性较低"),
    ("好消息是", "直接说事实"),
    ("世界500强高校", "世界排名前500的高校"),
    ("体检核验证明", "《境外人员体格检查记录验证证明》"),
)
SENTENCE = {"en": re.compile(r"(?<=[.!?])\s+|\n"), "zh": re.compile(r"(?<=[。！？])|\n")}


def sentences(text: str, lang: str) -> list[str]:
    return [s for s in SENTENCE[lang].split(text) if s.strip()]


def statements(paragraph: str, lang: str) -> list[str]:
    """A bullet is one statement (bullets are short); other lines split into sentences."""
    result: list[str] = []
    for line in paragraph.splitlines():
        result.extend([line] if line.lstrip().startswith("-") else sentences(line, lang))
    return [s for s in result if s.strip()]


def paragraphs(text: str) -> list[str]:
    """Blocks between blank lines: a list and the line introducing it are one paragraph."""
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]
