"""API tokens for systems and staff scripts that update cases. Only a SHA-256 of a token is stored; the token
itself is shown once, when created."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from bot.core.digest import token_digest
from bot.db import Database
from bot.db.models import ApiToken, utcnow

PREFIX = "etk_"


def create_token(db: Database, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a token needs a name of 1-100 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as session:
        session.add(ApiToken(name=name, token_hash=token_digest(token)))
    return token


def token_owner(db: Database, token: str | None) -> str | None:
    """The name of a valid (not revoked) token, or None."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    with db.transaction() as session:
        return session.execute(
            sa.select(ApiToken.name).where(ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None))
        ).scalar_one_or_none()


def revoke_token(db: Database, name: str) -> int:
    with db.transaction() as session:
        return session.execute(
            sa.update(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
        ).rowcount
