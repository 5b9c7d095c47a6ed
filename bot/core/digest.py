"""How bearer secrets (API tokens, staff session tokens) are kept: only a SHA-256 of each is stored, so a copy of
the database grants nothing. They are long random strings, so an unsalted fast hash is enough (unlike passwords)."""

from __future__ import annotations

import hashlib


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
