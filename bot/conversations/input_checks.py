"""Checks on text a person typed, before it is stored or forwarded. Stored text is kept as typed (minus
invisible control characters); it is always rendered as text, never as HTML, wherever it is shown."""

from __future__ import annotations

import re

from bot.core.errors import ServiceError
from bot.texts import both

# C0/C1 controls (except tab and newline) and the explicit bidi embeddings/overrides/isolates, which can make
# text display differently from what it is ("Trojan source"); plain direction marks (U+200E/F) are harmless.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class TextRejected(ServiceError):
    """The input cannot be accepted (empty, too long, over a limit, a button never offered…)."""


def clean_text(raw: object, max_chars: int) -> str:
    """Normalise line ends, drop control characters, trim; reject non-text, empty and over-long input."""
    if not isinstance(raw, str):
        raise TextRejected("bad_type", both("errors.message.bad_type"))
    text = _CONTROL.sub("", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise TextRejected("empty", both("errors.message.empty"))
    if len(text) > max_chars:
        raise TextRejected("too_long", both("errors.message.too_long", length=len(text), limit=max_chars))
    return text
