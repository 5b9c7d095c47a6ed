"""What an applicant may learn about a case, and only after proving it is theirs.

Two factors: the application number and the passport number used in the application. A wrong passport and an
unknown number get the same answer and take the same time (no enumeration). Failures are counted: 3 in one
conversation, or 10 on one application number within an hour, lock lookups for a while. A successful check gives
the conversation a short-lived verification token; the status is read with that token, so the passport number
never has to travel further than the gateway.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa

from bot.cases.identifiers import FormatError, PassportHasher, mask_number, normalize_application_number
from bot.cases.stages import Procedures, default_procedures
from bot.db import Database
from bot.db.models import Case, CaseEvent, CaseVerification, LookupAttempt, MissingMaterial, utcnow
from bot.workdays import WorkCalendar, default_calendar, shanghai_date

Clock = Callable[[], datetime]
FAILURES = ("mismatch", "not_found")


@dataclass(frozen=True)
class Limits:
    per_conversation: int = 3
    per_case_per_hour: int = 10
    lock_minutes: int = 30
    token_minutes: int = 30


@dataclass(frozen=True)
class Verification:
    """Outcome of a check: `ok` (with a token), `denied` (no such case or wrong passport: deliberately the same),
    `locked` (until a time), or `bad_format`."""

    outcome: str
    token: str | None = None
    locked_until: datetime | None = None
    attempts_left: int | None = None


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

    def payload(self, lang: str) -> dict[str, Any]:
        """The `case_status` payload of DESIGN.md."""
        return {
            "type": "case_status",
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
            "lang": lang,
        }


def _since(now: datetime, minutes: int) -> datetime:
    return now - timedelta(minutes=minutes)


def _failure_times(session: Any, who: Any, since: datetime) -> list[datetime]:
    """When failed checks matching `who` happened since `since`, newest first."""
    query = (
        sa.select(LookupAttempt.at)
        .where(who, LookupAttempt.outcome.in_(FAILURES), LookupAttempt.at >= since)
        .order_by(LookupAttempt.at.desc())
    )
    return list(session.execute(query).scalars().all())


def _locked_until(session: Any, conversation_id: str, number: str, now: datetime, limits: Limits) -> datetime | None:
    """The end of the current lock, if one applies: too many failures in this conversation, or on this case
    within the hour."""
    limits_by_scope = (
        (LookupAttempt.conversation_id == conversation_id, max(limits.lock_minutes, 60), limits.per_conversation),
        (LookupAttempt.application_number == number, 60, limits.per_case_per_hour),
    )
    ends = []
    for who, window_minutes, allowed in limits_by_scope:
        failures = _failure_times(session, who, _since(now, window_minutes))
        if len(failures) >= allowed:
            ends.append(failures[0] + timedelta(minutes=limits.lock_minutes))
    active = [end for end in ends if end > now]
    return max(active) if active else None


def lock_state(
    db: Database, conversation_id: str, raw_number: str, clock: Clock = utcnow, limits: Limits = Limits()
) -> datetime | None:
    try:
        number = normalize_application_number(raw_number)
    except FormatError:
        number = ""
    with db.transaction() as session:
        return _locked_until(session, conversation_id, number, clock(), limits)


def verify(
    db: Database,
    hasher: PassportHasher,
    conversation_id: str,
    raw_number: str,
    passport: str,
    clock: Clock = utcnow,
    limits: Limits = Limits(),
) -> Verification:
    now = clock()
    try:
        number = normalize_application_number(raw_number)
    except FormatError:
        return Verification("bad_format")
    with db.transaction() as session:
        locked = _locked_until(session, conversation_id, number, now, limits)
        if locked is not None:
            session.add(
                LookupAttempt(conversation_id=conversation_id, application_number=number, outcome="locked", at=now)
            )
            return Verification("locked", locked_until=locked)
        case = session.execute(sa.select(Case).where(Case.application_number == number)).scalar_one_or_none()
    # Argon2 runs whether or not the case exists, outside the transaction.
    matches = hasher.verify(case.passport_hash if case else None, passport)
    with db.transaction() as session:
        if matches and case is not None:
            token = secrets.token_urlsafe(24)
            session.add(
                CaseVerification(
                    token=token,
                    conversation_id=conversation_id,
                    case_id=case.id,
                    created_at=now,
                    expires_at=now + timedelta(minutes=limits.token_minutes),
                )
            )
            session.add(
                LookupAttempt(
                    conversation_id=conversation_id, application_number=number, case_id=case.id, outcome="ok", at=now
                )
            )
            return Verification("ok", token=token)
        outcome = "mismatch" if case is not None else "not_found"
        session.add(
            LookupAttempt(
                conversation_id=conversation_id,
                application_number=number,
                case_id=case.id if case else None,
                outcome=outcome,
                at=now,
            )
        )
        session.flush()
        locked = _locked_until(session, conversation_id, number, now, limits)
        if locked is not None:
            return Verification("locked", locked_until=locked)
        used = session.execute(
            sa.select(sa.func.count())
            .select_from(LookupAttempt)
            .where(
                LookupAttempt.conversation_id == conversation_id,
                LookupAttempt.outcome.in_(FAILURES),
                LookupAttempt.at >= _since(now, max(limits.lock_minutes, 60)),
            )
        ).scalar_one()
        return Verification("denied", attempts_left=max(0, limits.per_conversation - used))


def active_verification(db: Database, conversation_id: str, raw_number: str, clock: Clock = utcnow) -> str | None:
    """A still-valid verification of this conversation for this number, so a repeat question needs no new check."""
    try:
        number = normalize_application_number(raw_number)
    except FormatError:
        return None
    now = clock()
    with db.transaction() as session:
        token = session.execute(
            sa.select(CaseVerification.token)
            .join(Case, Case.id == CaseVerification.case_id)
            .where(
                CaseVerification.conversation_id == conversation_id,
                Case.application_number == number,
                CaseVerification.expires_at > now,
            )
            .order_by(CaseVerification.expires_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        return token


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
    )
