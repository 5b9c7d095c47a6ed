"""Application numbers and passport numbers: normalising what people type, hashing and masking passports.

Users type numbers in many shapes (full-width digits from Chinese keyboards, spaces, lower case, dashes); both are
normalised before any check. Passport numbers are never stored or logged in clear: a case keeps an Argon2 hash of
the peppered number, and text that carries one is masked before it is persisted anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.guide.loader import default_guide

# Passport numbers worldwide: optional 1-2 letters then 6-9 digits (E12345678, G1234567, 123456789), or the
# alphanumeric 9-character form some countries use (C01X00T47). Longer digit runs (phones, application numbers)
# are excluded by the boundaries.
_PASSPORT_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z]{1,2}\d{6,9}|(?=[A-Za-z0-9]{9}(?![A-Za-z0-9]))(?=[^\s]*\d)[A-Za-z0-9]{9})(?![A-Za-z0-9])"
)
_PASSPORT_CUE = re.compile(
    r"(passport|pass\s*port|护照|護照|证件号)\s*(?:no\.?|number|号码|号)?\s*[:：是为]?\s*", re.IGNORECASE
)
MASK = "•••••••"


class FormatError(ValueError):
    """A number that cannot be right; the message explains the expected format."""


def fold(text: str) -> str:
    """Full-width → ASCII, drop spaces, dashes and dots, upper case."""
    folded = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"[\s\-_.·]+", "", folded).upper()


@lru_cache(maxsize=1)
def _number_format() -> tuple[re.Pattern[str], str]:
    spec = default_guide().service.get("application_number") or {}
    return re.compile(spec.get("pattern", r"^[A-Z0-9]{6,32}$")), str(spec.get("example", ""))


def normalize_application_number(raw: object) -> str:
    """The canonical number, or FormatError saying what a valid one looks like."""
    if not isinstance(raw, str) or not raw.strip():
        raise FormatError("empty")
    number = fold(raw)
    pattern, _ = _number_format()
    if len(number) > 32 or not pattern.match(number):
        raise FormatError(number[:40])
    return number


def number_example() -> str:
    return _number_format()[1]


def number_description(lang: str) -> str:
    spec = default_guide().service.get("application_number") or {}
    return str((spec.get("description") or {}).get(lang, ""))


def mask_number(number: str) -> str:
    """WP2026000123 → WP2026••••23: enough to recognise one's own case, not to read it off a screen."""
    if len(number) <= 6:
        return number[:2] + "•" * max(0, len(number) - 2)
    return number[:6] + "•" * (len(number) - 8) + number[-2:]


def normalize_passport(raw: object) -> str:
    if not isinstance(raw, str):
        raise FormatError("not text")
    number = fold(raw)
    if not 5 <= len(number) <= 20 or not number.isalnum():
        raise FormatError("bad passport")
    return number


def looks_like_passport(text: str) -> bool:
    return bool(_PASSPORT_TOKEN.search(unicodedata.normalize("NFKC", text)))


def _spaced_passports(folded: str, expecting: bool) -> list[tuple[int, int]]:
    """Passport numbers typed with spaces or dashes ("E 1234 5678"): up to 4 adjacent chunks that join into one."""
    chunks = [m for m in re.finditer(r"[A-Za-z0-9]+", folded)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(chunks):
        found = None
        for size in (4, 3, 2):
            window = chunks[i : i + size]
            if len(window) < size:
                continue
            gaps = [folded[a.end() : b.start()] for a, b in zip(window, window[1:], strict=False)]
            if any(gap not in (" ", "-", "  ") for gap in gaps):
                continue
            parts = [c.group(0) for c in window]
            # a passport starts with its letters (at most two) or a digit, and every later chunk has digits
            if not (parts[0].isalpha() and len(parts[0]) <= 2 or any(ch.isdigit() for ch in parts[0])):
                continue
            if not all(any(ch.isdigit() for ch in part) for part in parts[1:]):
                continue
            joined = "".join(parts)
            cue = _PASSPORT_CUE.search(folded[max(0, window[0].start() - 24) : window[0].start()])
            if _PASSPORT_TOKEN.fullmatch(joined) and (expecting or cue):
                found = (window[0].start(), window[-1].end(), size)
                break
        if found:
            spans.append(found[:2])
            i += found[2]
        else:
            i += 1
    return spans


def mask_passports(text: str, expecting: bool = False) -> tuple[str, list[str]]:
    """Replace passport-like numbers with a mask. Returns (masked text, the numbers found).

    Always masks a number that follows a cue ("passport", "护照"); masks every passport-like number when the bot
    has just asked for one (`expecting`). Spaced forms ("E 1234 5678") count too. Full-width characters keep
    their positions (NFKC is applied per character), so spans found in the folded text apply to the original.
    """
    folded = "".join(
        c if len(unicodedata.normalize("NFKC", c)) != 1 else unicodedata.normalize("NFKC", c) for c in text
    )
    spans: list[tuple[int, int]] = []
    for match in _PASSPORT_TOKEN.finditer(folded):
        before = folded[max(0, match.start() - 24) : match.start()]
        if expecting or _PASSPORT_CUE.search(before):
            spans.append(match.span())
    for start, end in _spaced_passports(folded, expecting):
        if not any(start < e and s < end for s, e in spans):
            spans.append((start, end))
    if not spans:
        return text, []
    spans.sort()
    found = [re.sub(r"[\s\-]", "", folded[start:end]).upper() for start, end in spans]
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        pieces.append(MASK)
        last = end
    pieces.append(text[last:])
    return "".join(pieces), found


class PassportHasher:
    """Argon2id over an HMAC of the number with a server-side pepper: a stolen database alone is not enough to
    test guesses, and each hash has its own salt."""

    def __init__(self, secret_key: str) -> None:
        self._pepper = hashlib.sha256(("passport-pepper:" + secret_key).encode()).digest()
        self._argon = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

    def _peppered(self, passport: str) -> str:
        return hmac.new(self._pepper, normalize_passport(passport).encode(), hashlib.sha256).hexdigest()

    def hash(self, passport: str) -> str:
        return self._argon.hash(self._peppered(passport))

    def verify(self, stored: str | None, passport: str) -> bool:
        """Constant work whether or not a hash exists, so timing does not tell whether a case exists."""
        try:
            candidate = self._peppered(passport)
        except FormatError:
            candidate = "invalid"
        try:
            return self._argon.verify(stored or _DUMMY_HASH, candidate) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


_DUMMY_HASH = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("no such case")
