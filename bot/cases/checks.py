"""The case form as the gateway holds it: which step a conversation is at, and the number entered.

DESIGN.md: once the receipt-number format is operator-supplied, a passport typed at the number prompt cannot be
told from a receipt number, so whatever is typed into the case form is an identifier. It is kept here only as a
keyed hash (`number_key`, for matching and counting), a mask and the case it names; Rasa's tracker only ever sees
`ref`, a random reference to this row. Synchronous, like the transcript store.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa

from bot.cases.identifiers import FormatError, NumberKeyer, mask_identifier, normalize_application_number
from bot.db import Database
from bot.db.models import Case, CaseCheck, utcnow

Clock = Callable[[], datetime]
REF_PREFIX = "ref-"
MAX_AGE = timedelta(minutes=30)


@dataclass(frozen=True)
class CheckView:
    conversation_id: str
    step: str
    ref: str | None
    number_key: str | None
    masked: str | None
    valid: bool
    case_id: int | None


def _view(row: CaseCheck) -> CheckView:
    return CheckView(row.conversation_id, row.step, row.ref, row.number_key, row.masked, row.valid, row.case_id)


def is_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(REF_PREFIX) and len(value) <= 40


def _upsert(session: Any, conversation_id: str, now: datetime, **values: Any) -> CaseCheck:
    row = session.get(CaseCheck, conversation_id)
    if row is None:
        row = CaseCheck(conversation_id=conversation_id, valid=False, step="number", updated_at=now)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()
    return row


def expect_number(db: Database, conversation_id: str, clock: Clock = utcnow) -> None:
    """The bot has just asked for the application number: what comes next is an identifier."""
    with db.transaction() as session:
        _upsert(
            session,
            conversation_id,
            clock(),
            step="number",
            ref=None,
            number_key=None,
            masked=None,
            valid=False,
            case_id=None,
        )


def enter_number(db: Database, keyer: NumberKeyer, conversation_id: str, raw: str, clock: Clock = utcnow) -> str:
    """Record a typed number (valid or not, case or no case) and return the reference Rasa gets instead of it."""
    try:
        number = normalize_application_number(raw)
        valid = True
    except FormatError:
        number, valid = raw, False
    ref = REF_PREFIX + secrets.token_hex(12)
    with db.transaction() as session:
        case_id = (
            session.execute(sa.select(Case.id).where(Case.application_number == number)).scalar_one_or_none()
            if valid
            else None
        )
        _upsert(
            session,
            conversation_id,
            clock(),
            step="number",
            ref=ref,
            number_key=keyer.key(number),
            masked=mask_identifier(number),
            valid=valid,
            case_id=case_id,
        )
    return ref


def entry(db: Database, conversation_id: str, ref: str) -> CheckView | None:
    """The number behind `ref`, if it belongs to this conversation."""
    with db.transaction() as session:
        row = session.execute(
            sa.select(CaseCheck).where(CaseCheck.conversation_id == conversation_id, CaseCheck.ref == ref)
        ).scalar_one_or_none()
        return _view(row) if row else None


def expect_passport(db: Database, conversation_id: str, ref: str, clock: Clock = utcnow) -> bool:
    """The bot asked for the passport for the number behind `ref`: the next input is the second factor."""
    with db.transaction() as session:
        return bool(
            session.execute(
                sa.update(CaseCheck)
                .where(CaseCheck.conversation_id == conversation_id, CaseCheck.ref == ref, CaseCheck.valid.is_(True))
                .values(step="passport", updated_at=clock())
            ).rowcount
        )


def current(db: Database, conversation_id: str, clock: Clock = utcnow) -> CheckView | None:
    """The step the conversation is at, unless it is older than MAX_AGE (an abandoned form)."""
    with db.transaction() as session:
        row = session.get(CaseCheck, conversation_id)
        if row is None or row.updated_at < clock() - MAX_AGE:
            return None
        return _view(row)


def finish_in(session: Any, conversation_id: str, clock: Clock = utcnow) -> None:
    """The check is over (an outcome, a lock, a status shown): the number is forgotten, but for MAX_AGE the
    conversation counts as just out of the form, so a passport typed again on its own is still masked."""
    session.execute(
        sa.update(CaseCheck)
        .where(CaseCheck.conversation_id == conversation_id)
        .values(step="done", ref=None, number_key=None, masked=None, valid=False, case_id=None, updated_at=clock())
    )


def finish(db: Database, conversation_id: str) -> None:
    with db.transaction() as session:
        finish_in(session, conversation_id)


def clear_in(session: Any, conversation_id: str) -> None:
    session.execute(sa.delete(CaseCheck).where(CaseCheck.conversation_id == conversation_id))


def clear(db: Database, conversation_id: str) -> None:
    with db.transaction() as session:
        clear_in(session, conversation_id)
