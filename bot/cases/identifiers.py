"""Application numbers and passport numbers: normalising what people type, hashing and masking passports.

Users type numbers in many shapes (full-width digits from Chinese keyboards, spaces, lower case, dashes); both are
normalised before any check. Passport numbers are never stored or logged in clear: a case keeps an Argon2 hash of
the peppered number, and text that carries one is masked before it is persisted anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.guide.loader import default_guide

# Passport numbers worldwide come in many shapes: up to three letters then 6-9 digits (E12345678, G1234567,
# ABC1234567), all digits (12345678, 123456789), or 8-10 mixed letters and digits (C01X00T47). Longer digit runs
# (phones, the demo application numbers) are excluded by the boundaries.
_PASSPORT_SHAPE = re.compile(
    r"(?:[A-Z]{0,3}\d{6,9}|(?=[A-Z0-9]{8,10}$)(?=(?:[A-Z]*\d){2})(?=\d*[A-Z])[A-Z0-9]{8,10})", re.IGNORECASE
)
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
# Words that make a passport-shaped token likely to be one: the passport itself, and the case words around a lookup.
_CASE_CONTEXT = re.compile(
    r"passport|pass\s*port|护照|護照|证件|證件|身份|\bid\b|\bno\b|number|application|receipt|case|status|check|"
    r"申请|申請|编号|編號|受理|回执|进度|進度|查询|查詢|号码|號碼",
    re.IGNORECASE,
)
# Short words a letter prefix must not be taken from when chunks are joined ("it is 1234 5678" is not IS12345678).
_NOT_A_PREFIX = {"is", "it", "its", "my", "me", "no", "of", "at", "to", "in", "on", "a", "an", "and", "the", "for"}
MASK = "•••••••"
# A date typed in pieces ("2026-11-30") is not a passport; outside the form it stays (deadlines come from dates).
_DATE = re.compile(r"^(?:19|20)\d{2}[-./ ](?:0?[1-9]|1[0-2])[-./ ](?:0?[1-9]|[12]\d|3[01])$")
# Unconfirmed default: the real receipt-number format is not published (dossier §7, addendum §A8.2).
PLAUSIBLE_NUMBER = re.compile(r"^(?=.*\d)[A-Z0-9]{6,32}$")


class FormatError(ValueError):
    """A number that cannot be right; the message explains the expected format."""


def fold(text: str) -> str:
    """Full-width → ASCII, drop spaces, dashes and dots, upper case."""
    folded = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"[\s\-_.·]+", "", folded).upper()


@dataclass(frozen=True)
class NumberFormat:
    """What an application number must look like: the operator's pattern, or any plausible receipt number."""

    pattern: re.Pattern[str]
    configured: bool
    confirmed: bool
    example: str
    description: dict[str, str]

    def shown(self) -> bool:
        """Only a format the operator configured and confirmed is described to applicants."""
        return self.configured and self.confirmed and bool(self.example)


@lru_cache(maxsize=1)
def number_format() -> NumberFormat:
    """APPLICATION_NUMBER_PATTERN, else `application_number.pattern` in knowledge/service.yml, else the plausible
    default (letters and digits with at least one digit, 6-32 characters after dashes and spaces are dropped)."""
    spec = default_guide().service.get("application_number") or {}
    from_env = os.environ.get("APPLICATION_NUMBER_PATTERN", "").strip()
    raw = from_env or str(spec.get("pattern") or "").strip()
    return NumberFormat(
        pattern=re.compile(raw) if raw else PLAUSIBLE_NUMBER,
        configured=bool(raw),
        confirmed=bool(from_env) or bool(spec.get("confirmed")),
        example=str(spec.get("example") or ""),
        description={lang: str(text) for lang, text in (spec.get("description") or {}).items()},
    )


def normalize_application_number(raw: object) -> str:
    """The canonical number, or FormatError."""
    if not isinstance(raw, str) or not raw.strip():
        raise FormatError("empty")
    number = fold(raw)
    if len(number) > 32 or not number_format().pattern.match(number):
        raise FormatError("bad number")
    return number


def plausible_number(raw: str) -> bool:
    try:
        normalize_application_number(raw)
    except FormatError:
        return False
    return True


def candidate_number(text: str) -> str | None:
    """The application number in what was typed at the number prompt: the first plausible identifier."""
    for _, _, joined in identifier_groups(text):
        if plausible_number(joined):
            return joined
    return None


def number_example() -> str:
    fmt = number_format()
    return fmt.example if fmt.shown() else ""


def number_description(lang: str) -> str:
    fmt = number_format()
    return fmt.description.get(lang, "") if fmt.shown() else ""


def mask_number(number: str) -> str:
    """WP2026000123 → WP2026••••23: enough to recognise one's own case, not to read it off a screen."""
    if len(number) <= 6:
        return number[:2] + "•" * max(0, len(number) - 2)
    return number[:6] + "•" * (len(number) - 8) + number[-2:]


def mask_identifier(value: str) -> str:
    """Anything typed into the case form: only the last two characters stay (it may be a passport number)."""
    folded = fold(value)
    return "•" * max(4, len(folded) - 2) + folded[-2:] if len(folded) > 4 else MASK


def normalize_passport(raw: object) -> str:
    if not isinstance(raw, str):
        raise FormatError("not text")
    number = fold(raw)
    if not 5 <= len(number) <= 20 or not number.isalnum():
        raise FormatError("bad passport")
    return number


def passport_shaped(token: str) -> bool:
    return bool(_PASSPORT_SHAPE.fullmatch(fold(token)))


def _folded_chars(text: str) -> str:
    """NFKC per character, so positions in the result are positions in `text` (full-width digits, letters)."""
    return "".join(c if len(unicodedata.normalize("NFKC", c)) != 1 else unicodedata.normalize("NFKC", c) for c in text)


def identifier_groups(text: str) -> list[tuple[int, int, str]]:
    """Runs of letters and digits that may be one identifier typed in pieces ("E 1234 5678", "WP-2026-000-123"):
    (start, end, joined) for every group that holds a digit. Pieces are short (up to 5 characters; later ones
    digits only); a first piece of letters only joins when it is at most 3 and not a common word."""
    folded = _folded_chars(text)
    chunks = list(_ALNUM_RUN.finditer(folded))
    groups: list[tuple[int, int, str]] = []
    i = 0
    while i < len(chunks):
        j = i
        while j + 1 < len(chunks):
            gap = folded[chunks[j].end() : chunks[j + 1].start()]
            nxt = chunks[j + 1].group(0)
            first = chunks[i].group(0)
            # pieces are typed in small groups ("1234 5678"): a long run is a whole number of its own
            joinable_first = (len(first) <= 3 and first.isalpha() and first.lower() not in _NOT_A_PREFIX) or (
                len(first) <= 5 and any(ch.isdigit() for ch in first)
            )
            if gap in (" ", "-", "  ", " - ") and nxt.isdigit() and len(nxt) <= 5 and joinable_first:
                j += 1
            else:
                break
        joined = "".join(c.group(0) for c in chunks[i : j + 1])
        if any(ch.isdigit() for ch in joined):
            groups.append((chunks[i].start(), chunks[j].end(), joined.upper()))
        i = j + 1
    return groups


def _replace(text: str, spans: list[tuple[int, int]], mask: Callable[[str], str]) -> str:
    pieces, last = [], 0
    for start, end in sorted(spans):
        pieces.append(text[last:start])
        pieces.append(mask(text[start:end]))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def mask_identifiers(text: str, min_chars: int = 4) -> tuple[str, list[str]]:
    """Inside the case form everything typed is an identifier: every group of at least `min_chars` letters and
    digits holding a digit is masked. Returns (masked text, the identifiers, normalised, in order)."""
    groups = [g for g in identifier_groups(text) if len(g[2]) >= min_chars]
    if not groups:
        return text, []
    masked = _replace(text, [(s, e) for s, e, _ in groups], mask_identifier)
    return masked, [joined for _, _, joined in groups]


def mask_passports(text: str, expecting: bool = False) -> tuple[str, list[str]]:
    """Outside the case form: replace passport-shaped numbers with a mask. Returns (masked text, the numbers).

    A passport-shaped token is masked when the message has a case word ("passport", "application", "护照",
    "编号" …) or an application number in it, or always when `expecting` one. Tokens that match an application
    number format the operator configured are not passports and stay."""
    fmt = number_format()
    groups = identifier_groups(text)
    context = expecting or bool(_CASE_CONTEXT.search(_folded_chars(text)))
    spans: list[tuple[int, int]] = []
    found: list[str] = []
    folded = _folded_chars(text)
    for start, end, joined in groups:
        if _DATE.match(folded[start:end]):
            continue
        if fmt.configured and fmt.pattern.match(joined):
            context = True  # a real application number next to a passport-shaped token makes it a lookup
            continue
        if not passport_shaped(joined):
            context = context or (len(joined) >= 6 and plausible_number(joined))
        else:
            spans.append((start, end))
            found.append(joined)
    if not spans or not context:
        return text, []
    return _replace(text, spans, lambda _: MASK), found


class NumberKeyer:
    """A keyed hash of a normalised identifier: lookups are counted and matched by it, so a passport typed at the
    number prompt is never kept in clear anywhere."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(("number-key:" + secret_key).encode()).digest()

    def key(self, number: str) -> str:
        return hmac.new(self._key, fold(number).encode(), hashlib.sha256).hexdigest()


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
