"""Staff accounts and browser sessions: Argon2id passwords, lockout after repeated failures (counted atomically),
login throttling per client address, an optional TOTP second factor, server-side sessions (only a hash of the
cookie token is stored) with a per-session CSRF token, an idle timeout, and all sessions ended by a new password."""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.core.digest import token_digest
from bot.db import Database
from bot.db.models import STAFF_ROLES, StaffLoginThrottle, StaffSession, StaffUser, UtcDateTime, utcnow
from bot.handoff import totp

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 10
IDLE_MINUTES = 30  # default of STAFF_IDLE_MINUTES
THROTTLE_MINUTES = 15
TOUCH_S = 30  # a session's last use is written at most this often
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


def _user_id(session: Any, username: str) -> int:
    """The account's id by its (normalised) name, for the admin commands that change one account."""
    user_id = session.execute(
        sa.select(StaffUser.id).where(StaffUser.username == username.strip().lower())
    ).scalar_one_or_none()
    if user_id is None:
        raise AccountError(f"no staff member {username!r}")
    return int(user_id)


def set_password(db: Database, username: str, password: str) -> None:
    """A new password ends every open session of the account (a stolen cookie dies with the old password)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    with db.transaction() as session:
        user_id = _user_id(session, username)
        session.execute(
            sa.update(StaffUser)
            .where(StaffUser.id == user_id)
            .values(password_hash=_hasher.hash(password), failed_logins=0, locked_until=None)
        )
        session.execute(sa.delete(StaffSession).where(StaffSession.user_id == user_id))


def _reserve_attempt(db: Database, username: str, now: datetime) -> int | None:
    """Count this attempt before any password is checked, in one UPDATE: parallel guesses each take the next
    number, and the one that reaches MAX_FAILURES locks the account in the same statement, so no more than
    MAX_FAILURES passwords are ever checked per lock period. None when the account is locked, inactive or unknown.

    PostgreSQL reads the new count with RETURNING; SQLite (RETURNING needs SQLAlchemy 2) reads it back in the same
    transaction, which is as atomic there because SQLite lets one writer at a time hold the database."""
    expired = StaffUser.locked_until.isnot(None)  # the WHERE below admits a set lock only once it has run out
    count = sa.case((expired, 1), else_=StaffUser.failed_logins + 1)
    lock = sa.case(
        (
            sa.and_(StaffUser.locked_until.is_(None), StaffUser.failed_logins + 1 >= MAX_FAILURES),
            sa.literal(now + timedelta(minutes=LOCK_MINUTES), UtcDateTime),
        ),
        else_=sa.null(),
    )
    statement = (
        sa.update(StaffUser)
        .where(
            StaffUser.username == username,
            StaffUser.active.is_(True),
            sa.or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now),
        )
        .values(failed_logins=count, locked_until=lock)
        .execution_options(synchronize_session=False)
    )
    with db.transaction() as session:
        if db.engine.dialect.name == "postgresql":
            return session.execute(statement.returning(StaffUser.failed_logins)).scalar_one_or_none()
        if session.execute(statement).rowcount != 1:
            return None
        return session.execute(sa.select(StaffUser.failed_logins).where(StaffUser.username == username)).scalar_one()


def authenticate(
    db: Database,
    username: object,
    password: object,
    clock: Clock = utcnow,
    otp: str | None = None,
    box: totp.SecretBox | None = None,
) -> Staff:
    """The staff member, or AccountError with one message for every failure (no hint whether the name exists,
    the account is locked, or only the one-time code was wrong). The name and password are the request's raw JSON
    values, checked here. Every attempt is counted before the password is checked; a success clears the count.
    `box` opens an enrolled account's TOTP secret: without it, or with a key that cannot open it, such an account
    cannot log in (refused, never let in without its code)."""
    now = clock()
    failure = AccountError("Wrong username or password (or one-time code), or the account is locked for a while.")
    if not isinstance(username, str) or not isinstance(password, str) or len(password) > 500:
        raise failure
    name = username.strip().lower()
    if _reserve_attempt(db, name, now) is None:
        _check(_DUMMY, password)  # the same work as a real check: no timing hint
        raise failure
    # Argon2 outside any transaction (no connection held while it works); the success is written in a transaction
    # that starts with its write, so on SQLite it waits its turn instead of failing on a stale read snapshot.
    with db.transaction() as session:
        user = session.execute(sa.select(StaffUser).where(StaffUser.username == name)).scalar_one()
    if not _check(user.password_hash, password):
        raise failure
    success = sa.update(StaffUser).where(StaffUser.id == user.id).execution_options(synchronize_session=False)
    if user.totp_secret:
        try:
            secret = _open_secret(box, user.totp_secret, user.id)
        except totp.SecretUnreadable as exc:
            log.error("staff %s: one-time code not checkable (%s); login refused", user.id, exc)
            raise failure from exc
        step = totp.accepted_step(secret, otp, now, user.totp_last_step)
        if step is None:
            raise failure
        # Only if no other login used this step (or a later one) meanwhile: a code is accepted once, even in parallel.
        last = StaffUser.totp_last_step
        success = success.where(sa.or_(last.is_(None), last < step)).values(totp_last_step=step)
    with db.transaction() as session:
        if session.execute(success.values(failed_logins=0, locked_until=None)).rowcount != 1:
            raise failure
    return Staff(user.id, user.username, user.display_name, user.role)


def _open_secret(box: totp.SecretBox | None, stored: str, user_id: int) -> str:
    if box is None:
        raise totp.SecretUnreadable("no TOTP encryption key given")
    return box.open(stored, user_id)


def enrol_totp(db: Database, username: str, box: totp.SecretBox) -> str:
    """A new TOTP secret for the account (returned once, for the authenticator app, and stored only sealed);
    logins then need a code."""
    secret = totp.new_secret()
    with db.transaction() as session:
        user_id = _user_id(session, username)
        session.execute(
            sa.update(StaffUser)
            .where(StaffUser.id == user_id)
            .values(totp_secret=box.seal(secret, user_id), totp_last_step=None)
        )
    return secret


def remove_totp(db: Database, username: str) -> None:
    with db.transaction() as session:
        changed = session.execute(
            sa.update(StaffUser)
            .where(StaffUser.username == username.strip().lower())
            .values(totp_secret=None, totp_last_step=None)
        ).rowcount
    if not changed:
        raise AccountError(f"no staff member {username!r}")


def throttle_address(db: Database, address: str, limit: int, clock: Clock = utcnow) -> bool:
    """Count a login attempt from a client address; False once it made `limit` attempts in the current
    THROTTLE_MINUTES window (refused before any password is checked, so one address cannot try passwords on
    every account in turn). One UPDATE per attempt, like the account counter; the first attempt inserts the row."""
    now = clock()
    address = (address or "unknown")[:64]
    fresh = StaffLoginThrottle.window_start <= now - timedelta(minutes=THROTTLE_MINUTES)
    statement = (
        sa.update(StaffLoginThrottle)
        .where(StaffLoginThrottle.address == address)
        .values(
            attempts=sa.case((fresh, 1), else_=StaffLoginThrottle.attempts + 1),
            window_start=sa.case((fresh, sa.literal(now, UtcDateTime)), else_=StaffLoginThrottle.window_start),
        )
        .execution_options(synchronize_session=False)
    )
    for _ in range(2):
        try:
            with db.transaction() as session:
                if session.execute(statement).rowcount == 0:
                    session.add(StaffLoginThrottle(address=address, window_start=now, attempts=1))
                    session.flush()
                    return limit >= 1
                attempts = session.execute(
                    sa.select(StaffLoginThrottle.attempts).where(StaffLoginThrottle.address == address)
                ).scalar_one()
                return attempts <= limit
        except sa.exc.IntegrityError:
            continue  # another request inserted the row first: count on it
    return False


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
                token_hash=token_digest(token),
                user_id=staff.id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
            )
        )
        session.execute(sa.delete(StaffSession).where(StaffSession.expires_at < now))
    return token, csrf


def session_for(
    db: Database, token: str | None, clock: Clock = utcnow, idle_minutes: int = IDLE_MINUTES, touch: bool = True
) -> Session | None:
    """The live session of a cookie token; a session idle for `idle_minutes` is ended here (deleted). `touch`
    False looks without counting as use (an open console socket checking that its session still lives)."""
    if not token or len(token) > 200:
        return None
    now = clock()
    with db.transaction() as session:
        row = session.execute(
            sa.select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.user_id)
            .where(StaffSession.token_hash == token_digest(token))
        ).one_or_none()
        if row is None:
            return None
        stored, user = row
        if stored.last_seen_at + timedelta(minutes=idle_minutes) <= now:
            session.delete(stored)
            return None
        if stored.expires_at <= now or not user.active:
            return None
        if touch and (now - stored.last_seen_at).total_seconds() >= TOUCH_S:
            stored.last_seen_at = now
        return Session(Staff(user.id, user.username, user.display_name, user.role), stored.csrf_token)


def csrf_matches(session: Session, sent: str | None) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of a guess was right."""
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), session.csrf_token.encode())


def close_session(db: Database, token: str | None) -> None:
    if token:
        with db.transaction() as session:
            session.execute(sa.delete(StaffSession).where(StaffSession.token_hash == token_digest(token)))
