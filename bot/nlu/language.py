"""Which language a message is written in: the assistant answers in the language it was asked in.

Mixed messages are common ("申请Z visa 需要什么材料?"): Chinese applicants borrow English terms, so a few Chinese
characters outweigh a few English words. Two Chinese characters count roughly as one English word.
"""

from __future__ import annotations

import re

SUPPORTED = ("en", "zh")
DEFAULT = "en"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A Latin word, not the letters of a code such as an application number (WP2026000123) or a passport number.
_LATIN_WORD = re.compile(
    r"(?<![A-Za-z0-9\uff10-\uff19])[A-Za-z\uff21-\uff3a\uff41-\uff5a]{2,}(?![A-Za-z0-9\uff10-\uff19])"
)


def detect_language(text: str) -> str | None:
    """`zh`, `en`, or None when the text carries no language (digits, emoji, punctuation, a payload)."""
    if not text or text.startswith("/"):
        return None
    cjk = len(_CJK.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    if cjk == 0 and latin_words == 0:
        return None
    if cjk >= 2 and cjk / 2 >= latin_words:
        return "zh"
    if latin_words == 0:
        return "zh"
    return "en"


def normalize_language(value: object) -> str | None:
    """Accept `zh`, `zh-CN`, `中文`, `en-US`, `English`…; anything else is None."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if value.startswith("zh") or value in ("中文", "chinese", "cn"):
        return "zh"
    if value.startswith("en") or value in ("英文", "english"):
        return "en"
    return None


def stated_language(explicit: object = None, message: str | None = None) -> str | None:
    """The first half of reply_language's precedence: what this turn itself says (a choice, else the message's
    language), or None. The NLU component uses it alone, since the language slot already holds the conversation's."""
    return normalize_language(explicit) or (detect_language(message) if message else None)


def reply_language(explicit: object = None, message: str | None = None, conversation: object = None) -> str:
    """The language to answer in, by one precedence everywhere: the user's explicit choice (`/lang zh`, the
    widget's switch, `?lang=` of a link), else the language the message is written in, else the conversation's
    language so far, else the default. Values are normalised (`zh-CN`, `中文`…); unusable ones are skipped."""
    return stated_language(explicit, message) or normalize_language(conversation) or DEFAULT
