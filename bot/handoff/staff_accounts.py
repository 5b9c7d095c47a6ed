"""Staff accounts and browser sessions: Argon2id passwords, lockout after repeated failures, server-side
sessions (only a hash of the cookie token is stored) with a per-session CSRF token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.db import Database
from bot.db.models import STAFF_ROLES, StaffSession, StaffUser, utcnow

Clock = Callable[[], datetime]
MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 10
MIN_PASSWORD = 10
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("no such staff member")


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class Session:
    staff: Staff
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_staff(db: Database, username: str, display_name: str, password: str, role: str = "staff") -> Staff:
    username = username.strip().lower()
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise AccountError("username: 1-64 letters, digits, '.', '-' or '_'")
    if role not in STAFF_ROLES:
        raise AccountError(f"role must be one of {STAFF_ROLES}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    display_name = (display_name or username).strip()[:100]
    with db.transaction() as session:
        if session.execute(sa.select(StaffUser.id).where(StaffUser.username == username)).scalar_one_or_none():
            raise AccountError(f"staff member {username!r} already exists")
        user = StaffUser(username=username, display_name=display_name, password_hash=_hasher.hash(password), role=role)
        session.add(user)
        session.flush()
        return Staff(user.id, user.username, user.display_name, user.role)


def set_password(db: Database, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    with db.transaction() as session:
        changed = session.execute(
            sa.update(StaffUser)
            .where(StaffUser.username == username.strip().lower())
            .values(password_hash=_hasher.hash(password), failed_logins=0, locked_until=None)
        ).rowcount
    if not changed:
        raise AccountError(f"no staff member {username!r}")


def authenticate(db: Database, username: str, password: str, clock: Clock = utcnow) -> Staff:
    """The staff member, or AccountError with one message for every failure (no hint whether the name exists).
    A failure is committed before it is reported, so the lockout counts every attempt."""
    now = clock()
    failure = AccountError("Wrong username or password, or the account is locked for a while.")
    if not isinstance(username, str) or not isinstance(password, str) or len(password) > 500:
        raise failure
    staff: Staff | None = None
    with db.transaction() as session:
        user = session.execute(
            sa.select(StaffUser).where(StaffUser.username == username.strip().lower())
        ).scalar_one_or_none()
        locked = user.locked_until if user is not None else None
        if user is None or not user.active or (locked is not None and locked > now):
            _check(_DUMMY, password)
        elif not _check(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                user.failed_logins = 0
        else:
            user.failed_logins = 0
            user.locked_until = None
            staff = Staff(user.id, user.username, user.display_name, user.role)
    if staff is None:
        raise failure
    return staff


def _check(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def open_session(db: Database, staff: Staff, clock: Clock = utcnow) -> tuple[str, str]:
    """(cookie token, CSRF token) for a new session."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = clock()
    with db.transaction() as session:
        session.add(
            StaffSession(
                token_hash=_digest(token),
                user_id=staff.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
            )
        )
        session.execute(sa.delete(StaffSession).where(StaffSession.expires_at < now))
    return token, csrf


def session_for(db: Database, token: str | None, clock: Clock = utcnow) -> Session | None:
    if not token or len(token) > 200:
        return None
    with db.transaction() as session:
        row = session.execute(
            sa.select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.user_id)
            .where(StaffSession.token_hash == _digest(token))
        ).one_or_none()
        if row is None:
            return None
        stored, user = row
        if stored.expires_at <= clock() or not user.active:
            return None
        return Session(Staff(user.id, user.username, user.display_name, user.role), stored.csrf_token)


def close_session(db: Database, token: str | None) -> None:
    if token:
        with db.transaction() as session:
            session.execute(sa.delete(StaffSession).where(StaffSession.token_hash == _digest(token)))
