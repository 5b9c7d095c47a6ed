"""The questions inside a long post: applicants often ask two or three things in one message ("…? Also, …";
"一是…；二是…；另外…"). Each part is ranked on its own so that every question gets its own section.

Rules, not a model: sentence ends, numbered items and the words applicants use to start another question. A part
too short to carry a question ("Thanks.", "您好") is dropped; the whole post is always ranked as well, so a
post that is really one question loses nothing.
"""

from __future__ import annotations

import re

# Sentence and item boundaries: ? ! . ; and their full-width forms, new lines, numbered items ("1.", "2)", "一、",
# "二是", "(3)"), and the connectives that start another question.
_BOUNDARY = re.compile(
    r"(?<=[?？!！。；;])\s*"
    r"|\n+"
    r"|(?<=[.])\s+(?=[A-Z])"
    r"|\s*(?:^|(?<=[\s，,：:]))(?:\(?\d{1,2}[.)、]|[一二三四五]、|[一二三四五]是|[（(][一二三四五1-5][)）])\s*"
    r"|(?:[，,]\s*)?(?=另外|还有一个|还有就是|还有，|此外|其次|再问一下|顺便问)"
    r"|(?<=[,;])\s*(?=(?:also|another question|and also|plus|secondly|second question|lastly)\b)"
    # ", and how long…", ", does he need…": a second question inside an English sentence.
    r"|[,;]\s*(?=(?:and |or )?(?:how|what|when|where|which|who|why|do|does|did|can|could|is|are|should|will|would)\b)",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z]{2,}")
# Greetings and sign-offs that are not questions.
_FILLER = re.compile(
    r"^(?:hi|hello|hey|dear|thanks?|thank you|thx|cheers|regards|best|您好|你好|谢谢|多谢|麻烦了|请问|问一下)\W*$",
    re.IGNORECASE,
)
MAX_PARTS = 6


def word_count(text: str) -> int:
    """Roughly how many words a text has: two Chinese characters count as one word."""
    return len(_WORD.findall(text)) + len(_CJK.findall(text)) // 2


def question_parts(text: str, min_words: int = 4) -> list[str]:
    """The parts of a post worth ranking on their own, in order; one part (or none) means a single question."""
    pieces = [p.strip(" \t,，:：-–—") for p in _BOUNDARY.split(text or "") if p and p.strip()]
    parts: list[str] = []
    carry = ""
    for piece in pieces:
        if _FILLER.match(piece):
            continue
        piece = (carry + " " + piece).strip() if carry else piece
        if word_count(piece) < min_words:
            # Too short to stand alone ("Two questions:", "HR here"): it introduces what follows.
            carry = piece
            continue
        carry = ""
        parts.append(piece)
    if carry and parts:
        parts[-1] = parts[-1] + " " + carry
    return parts[:MAX_PARTS]
