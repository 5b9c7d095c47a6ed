"""What an applicant may learn about a case, and only after proving it is theirs.

Two factors: the application number and the passport number used in the application. A wrong passport and an
unknown number get the same answer and take the same time (Argon2 runs against a dummy hash when there is no
case). Limits that cannot be turned against the real applicant:
- 3 failures in one conversation lock that conversation's lookups for a while (only the one who failed);
- failures on one number (by its keyed hash) beyond a few within the hour make the next attempt on it wait,
  doubling each time up to a ceiling: a flood slows the number down but never locks its owner out;
- attempts on one number are serialised (an advisory lock on PostgreSQL; on SQLite the attempt's own insert takes
  the database's write lock) and counted as `pending` while the passport is being checked, so parallel checks
  cannot exceed a limit; the client address is throttled in front of all this by the gateway.
A successful check gives the conversation a short-lived verification token; the status is read with that token,
so the passport number never has to travel further than the gateway.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.cases.checks import CheckView
from bot.cases.identifiers import PassportHasher, mask_number
from bot.cases.stages import Procedures, default_procedures
from bot.core import payload
from bot.core.clock import Clock
from bot.core.workdays import WorkCalendar, default_calendar, shanghai_date
from bot.db import Database
from bot.db.models import Case, CaseEvent, CaseVerification, LookupAttempt, MissingMaterial, utcnow

FAILURES = ("mismatch", "not_found", "pending")
REFUSED = ("locked", "wait")


@dataclass(frozen=True)
class Limits:
    per_conversation: int = 3
    lock_minutes: int = 30
    # failures on one number within the hour that cost nothing; after them each attempt waits base * 2^(n - free)
    free_per_number: int = 3
    backoff_base_s: float = 2.0
    backoff_max_s: float = 60.0
    token_minutes: int = 30


@dataclass(frozen=True)
class Verification:
    """Outcome of a check: `ok` (with a token), `denied` (no such case or wrong passport: deliberately the same),
    `locked` (this conversation, until a time), `wait` (this number, `retry_after_s`), or `bad_format`."""

    outcome: str
    token: str | None = None
    locked_until: datetime | None = None
    attempts_left: int | None = None
    retry_after_s: int | None = None


@dataclass(frozen=True)
class PendingCheck:
    """A check between its two transactions: counted, and the passport already compared."""

    attempt_id: int
    conversation_id: str
    case_id: int | None
    matches: bool


@dataclass
class CaseStatus:
    case: str
    procedure: str
    stage: str
    stage_label: dict[str, str]
    stage_since: date
    due: date | None
    due_estimated: bool
    next_step_label: dict[str, str] | None
    on_time: bool
    missing: list[str] = field(default_factory=list)
    next_action: dict[str, str] = field(default_factory=dict)
    due_rule: dict[str, str] | None = None  # which rule the due date uses (knowledge/procedures.yml)
    steps: tuple[str, ...] = ()  # the procedure's progress path (knowledge/procedures.yml flows)
    step: int | None = None  # where the case is on it

    def payload(self, lang: str) -> dict[str, Any]:
        """The `case_status` payload of DESIGN.md."""
        return {
            "type": payload.CASE_STATUS,
            "case": self.case,
            "procedure": self.procedure,
            "stage": self.stage,
            "stage_label": self.stage_label[lang],
            "stage_since": self.stage_since.isoformat(),
            "due": self.due.isoformat() if self.due else None,
            "due_estimated": self.due_estimated,
            "due_rule": self.due_rule[lang] if self.due_rule else None,
            "on_time": self.on_time,
            "missing": list(self.missing),
            "next": self.next_action.get(lang, ""),
            "steps": list(self.steps),
            "step": self.step,
            "lang": lang,
        }


def _conversation_window(limits: Limits) -> int:
    return max(limits.lock_minutes, 60)


def _failures(session: Any, who: Any, since: datetime, exclude: int | None = None) -> list[datetime]:
    """When failed (or still pending) checks matching `who` happened since `since`, newest first."""
    query = sa.select(LookupAttempt.at).where(who, LookupAttempt.outcome.in_(FAILURES), LookupAttempt.at >= since)
    if exclude is not None:
        query = query.where(LookupAttempt.id != exclude)
    return list(session.execute(query.order_by(LookupAttempt.at.desc())).scalars().all())


def _conversation_lock(
    session: Any, conversation_id: str, now: datetime, limits: Limits, exclude: int | None = None
) -> datetime | None:
    since = now - timedelta(minutes=_conversation_window(limits))
    failures = _failures(session, LookupAttempt.conversation_id == conversation_id, since, exclude)
    if len(failures) >= limits.per_conversation:
        end = failures[0] + timedelta(minutes=limits.lock_minutes)
        return end if end > now else None
    return None


def backoff_s(failures: int, limits: Limits) -> float:
    """How long an attempt on a number must wait after its latest failure, given its failures this hour."""
    extra = failures - limits.free_per_number
    if extra < 0:
        return 0.0
    return min(limits.backoff_max_s, limits.backoff_base_s * (2 ** min(extra, 30)))


def _number_wait(session: Any, number_key: str, now: datetime, limits: Limits, exclude: int | None) -> float:
    failures = _failures(session, LookupAttempt.number_key == number_key, now - timedelta(hours=1), exclude)
    if not failures:
        return 0.0
    ready = failures[0] + timedelta(seconds=backoff_s(len(failures), limits))
    return max(0.0, (ready - now).total_seconds())


def _serialise(session: Any, number_key: str) -> None:
    """Attempts on one number one at a time. PostgreSQL: a transaction-scoped advisory lock on the key. SQLite
    needs nothing more: the caller's first statement is an insert, which takes the database's write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(number_key[:15], 16)})


def lock_state(db: Database, check: CheckView, clock: Clock = utcnow, limits: Limits = Limits()) -> datetime | None:
    """The end of this conversation's lock, if any (shown before asking for the passport)."""
    with db.transaction() as session:
        return _conversation_lock(session, check.conversation_id, clock(), limits)


def begin_check(
    db: Database,
    hasher: PassportHasher,
    check: CheckView,
    passport: str,
    clock: Clock = utcnow,
    limits: Limits = Limits(),
) -> PendingCheck | Verification:
    """Count the attempt (serialised per number), then compare the passport. Returns a refusal, or a
    PendingCheck to be finished with `finish_check` in the transaction that stores the applicant's message."""
    now = clock()
    if not check.valid or not check.number_key:
        return Verification("bad_format")
    with db.transaction() as session:
        _serialise(session, check.number_key)
        attempt = LookupAttempt(
            conversation_id=check.conversation_id,
            number_key=check.number_key,
            case_id=check.case_id,
            outcome="pending",
            at=now,
        )
        session.add(attempt)
        session.flush()
        locked = _conversation_lock(session, check.conversation_id, now, limits, exclude=attempt.id)
        if locked is not None:
            attempt.outcome = "locked"
            return Verification("locked", locked_until=locked)
        wait = _number_wait(session, check.number_key, now, limits, exclude=attempt.id)
        if wait > 0:
            attempt.outcome = "wait"
            return Verification("wait", retry_after_s=int(wait) + 1)
        case = session.get(Case, check.case_id) if check.case_id is not None else None
        stored_hash = case.passport_hash if case is not None else None
        attempt_id, case_id = attempt.id, case.id if case is not None else None
    # Argon2 runs whether or not the case exists (a dummy hash otherwise), outside any lock.
    matches = hasher.verify(stored_hash, passport)
    return PendingCheck(attempt_id, check.conversation_id, case_id, matches)


def finish_check(session: Any, pending: PendingCheck, clock: Clock = utcnow, limits: Limits = Limits()) -> Verification:
    """Record the outcome (inside the caller's transaction) and say what the applicant is told."""
    now = clock()
    attempt = session.get(LookupAttempt, pending.attempt_id)
    if pending.matches and pending.case_id is not None:
        token = secrets.token_urlsafe(24)
        session.add(
            CaseVerification(
                token=token,
                conversation_id=pending.conversation_id,
                case_id=pending.case_id,
                created_at=now,
                expires_at=now + timedelta(minutes=limits.token_minutes),
            )
        )
        attempt.outcome = "ok"
        return Verification("ok", token=token)
    attempt.outcome = "mismatch" if pending.case_id is not None else "not_found"
    session.flush()
    locked = _conversation_lock(session, pending.conversation_id, now, limits)
    if locked is not None:
        return Verification("locked", locked_until=locked)
    since = now - timedelta(minutes=_conversation_window(limits))
    used = len(_failures(session, LookupAttempt.conversation_id == pending.conversation_id, since))
    return Verification("denied", attempts_left=max(0, limits.per_conversation - used))


def verify(
    db: Database,
    hasher: PassportHasher,
    check: CheckView,
    passport: str,
    clock: Clock = utcnow,
    limits: Limits = Limits(),
) -> Verification:
    """A whole check in one call (the gateway splits it to store its message in the second transaction)."""
    started = begin_check(db, hasher, check, passport, clock, limits)
    if isinstance(started, Verification):
        return started
    with db.transaction() as session:
        return finish_check(session, started, clock, limits)


def active_verification(db: Database, check: CheckView, clock: Clock = utcnow) -> str | None:
    """A still-valid verification of this conversation for this case, so a repeat question needs no new check."""
    if check.case_id is None:
        return None
    with db.transaction() as session:
        return session.execute(
            sa.select(CaseVerification.token)
            .where(
                CaseVerification.conversation_id == check.conversation_id,
                CaseVerification.case_id == check.case_id,
                CaseVerification.expires_at > clock(),
            )
            .order_by(CaseVerification.expires_at.desc())
            .limit(1)
        ).scalar_one_or_none()


def refusals_since(db: Database, since: datetime) -> dict[str, int]:
    """Locked and slowed-down attempts since a moment: what staff watch for lockout attacks."""
    with db.transaction() as session:
        rows = session.execute(
            sa.select(LookupAttempt.outcome, sa.func.count())
            .where(LookupAttempt.outcome.in_(REFUSED + ("mismatch", "not_found")), LookupAttempt.at >= since)
            .group_by(LookupAttempt.outcome)
        ).all()
    return {outcome: int(count) for outcome, count in rows}


def status_for_token(
    db: Database,
    token: str,
    conversation_id: str,
    clock: Clock = utcnow,
    calendar: WorkCalendar | None = None,
    procedures: Procedures | None = None,
) -> CaseStatus | None:
    """The case behind a verification token of this conversation, or None (unknown, expired, other conversation)."""
    calendar = calendar or default_calendar()
    procedures = procedures or default_procedures()
    now = clock()
    if not isinstance(token, str) or not token:
        return None
    with db.transaction() as session:
        verification = session.get(CaseVerification, token)
        if verification is None or verification.conversation_id != conversation_id or verification.expires_at <= now:
            return None
        case = session.get(Case, verification.case_id)
        history = [
            (event.to_stage, event.at)
            for event in session.execute(
                sa.select(CaseEvent)
                .where(CaseEvent.case_id == case.id, CaseEvent.to_stage.is_not(None))
                .order_by(CaseEvent.id)
            ).scalars()
        ]
        missing = [
            row.item
            for row in session.execute(
                sa.select(MissingMaterial)
                .where(MissingMaterial.case_id == case.id, MissingMaterial.resolved_at.is_(None))
                .order_by(MissingMaterial.id)
            ).scalars()
        ]
        stage, since = case.stage, case.stage_since
        number, procedure = case.application_number, case.procedure
    due = procedures.due(stage, since, history, calendar)
    today = shanghai_date(now)
    label = procedures.stage_labels[stage]
    next_step = procedures.next_steps.get(stage)
    return CaseStatus(
        case=mask_number(number),
        procedure=procedure,
        stage=stage,
        stage_label={"en": label.en, "zh": label.zh},
        stage_since=shanghai_date(since),
        due=due.day if due else None,
        due_estimated=bool(due and due.estimated),
        next_step_label={"en": due.next.en, "zh": due.next.zh} if due else None,
        on_time=due is None or today <= due.day,
        missing=missing if stage == "materials_requested" else [],
        next_action={"en": next_step.en, "zh": next_step.zh} if next_step else {},
        due_rule={"en": due.rule.en, "zh": due.rule.zh} if due and due.rule else None,
        steps=procedures.progress(procedure),
        step=procedures.progress_step(procedure, stage),
    )
