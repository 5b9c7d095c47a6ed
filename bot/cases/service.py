"""What staff do with cases: create them, move them through their stages, request missing materials, import a CSV
export. Used by the CLI and the JSON API alike; every change is recorded as a CaseEvent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.cases.identifiers import FormatError, PassportHasher, normalize_application_number, normalize_passport
from bot.cases.stages import InvalidTransition, Procedures, default_procedures
from bot.core.clock import Clock
from bot.core.errors import ServiceError
from bot.db import Database
from bot.db.models import CATEGORIES, Case, CaseEvent, Employer, MissingMaterial, utcnow

MAX_TEXT = {"applicant_name": 200, "nationality": 100, "employer_name": 300, "employer_credit_code": 32}


class CaseError(ServiceError):
    """A request about cases that cannot be done."""


@dataclass
class NewCase:
    application_number: str
    procedure: str
    applicant_name: str
    passport_number: str
    category: str = "unknown"
    nationality: str = ""
    employer_name: str = ""
    employer_credit_code: str = ""
    stage: str = "submitted"
    stage_since: datetime | None = None
    submitted_at: datetime | None = None


@dataclass
class CaseView:
    """A case as staff see it (never the passport hash)."""

    application_number: str
    procedure: str
    category: str
    applicant_name: str
    nationality: str
    employer: str | None
    stage: str
    stage_since: datetime
    submitted_at: datetime
    missing: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["stage_since"] = self.stage_since.isoformat()
        data["submitted_at"] = self.submitted_at.isoformat()
        return data


def _view(session: Session, case: Case) -> CaseView:
    return CaseView(
        application_number=case.application_number,
        procedure=case.procedure,
        category=case.category,
        applicant_name=case.applicant_name,
        nationality=case.nationality,
        employer=case.employer.name if case.employer else None,
        stage=case.stage,
        stage_since=case.stage_since,
        submitted_at=case.submitted_at,
        missing=[
            {"id": m.id, "item": m.item, "requested_at": m.requested_at.isoformat(), "by": m.requested_by}
            for m in case.missing
            if m.resolved_at is None
        ],
        events=[
            {
                "kind": e.kind,
                "from": e.from_stage,
                "to": e.to_stage,
                "actor": e.actor,
                "note": e.note,
                "at": e.at.isoformat(),
            }
            for e in case.events
        ],
    )


def _find(session: Session, raw_number: str, lock: bool = False) -> Case:
    try:
        number = normalize_application_number(raw_number)
    except FormatError as exc:
        raise CaseError("bad_number", f"{raw_number!r} is not an application number") from exc
    query = sa.select(Case).where(Case.application_number == number)
    if lock:
        query = query.with_for_update()
    case = session.execute(query).scalar_one_or_none()
    if case is None:
        raise CaseError("not_found", f"no case {number}")
    return case


def validate_new_case(data: NewCase, procedures: Procedures) -> NewCase:
    """Normalised copy of `data`, or CaseError naming the first bad field."""
    try:
        number = normalize_application_number(data.application_number)
    except FormatError as exc:
        raise CaseError("bad_number", f"application_number {data.application_number!r} has the wrong format") from exc
    try:
        passport = normalize_passport(data.passport_number)
    except FormatError as exc:
        raise CaseError("bad_passport", "passport_number must be 5-20 letters or digits") from exc
    if data.procedure not in procedures.flow_of:
        raise CaseError("bad_procedure", f"procedure must be one of {', '.join(procedures.flow_of)}")
    category = data.category or "unknown"
    if category not in CATEGORIES:
        raise CaseError("bad_category", f"category must be one of {', '.join(CATEGORIES)}")
    if data.stage not in procedures.stages_of(data.procedure):
        raise CaseError("bad_stage", f"stage must be one of {', '.join(procedures.stages_of(data.procedure))}")
    if not data.applicant_name.strip():
        raise CaseError("missing_name", "applicant_name is required")
    for name, limit in MAX_TEXT.items():
        if len(getattr(data, name)) > limit:
            raise CaseError("too_long", f"{name} is longer than {limit} characters")
    return NewCase(
        application_number=number,
        procedure=data.procedure,
        applicant_name=data.applicant_name.strip(),
        passport_number=passport,
        category=category,
        nationality=data.nationality.strip(),
        employer_name=data.employer_name.strip(),
        employer_credit_code=data.employer_credit_code.strip().upper(),
        stage=data.stage,
        stage_since=data.stage_since,
        submitted_at=data.submitted_at,
    )


def _employer(session: Session, name: str, credit_code: str) -> Employer | None:
    if not name and not credit_code:
        return None
    if credit_code:
        found = session.execute(sa.select(Employer).where(Employer.credit_code == credit_code)).scalar_one_or_none()
        if found:
            return found
    else:
        found = session.execute(
            sa.select(Employer).where(Employer.name == name, Employer.credit_code.is_(None))
        ).scalar_one_or_none()
        if found:
            return found
    employer = Employer(name=name or credit_code, credit_code=credit_code or None)
    session.add(employer)
    session.flush()
    return employer


def insert_case(session: Session, data: NewCase, hasher: PassportHasher, actor: str, now: datetime) -> Case:
    exists = session.execute(
        sa.select(Case.id).where(Case.application_number == data.application_number)
    ).scalar_one_or_none()
    if exists is not None:
        raise CaseError("duplicate", f"case {data.application_number} already exists")
    submitted = data.submitted_at or data.stage_since or now
    case = Case(
        application_number=data.application_number,
        procedure=data.procedure,
        category=data.category,
        applicant_name=data.applicant_name,
        nationality=data.nationality,
        passport_hash=hasher.hash(data.passport_number),
        employer=_employer(session, data.employer_name, data.employer_credit_code),
        stage=data.stage,
        stage_since=data.stage_since or now,
        submitted_at=submitted,
    )
    session.add(case)
    session.flush()
    session.add(CaseEvent(case_id=case.id, kind="created", to_stage=data.stage, actor=actor, at=now, note=""))
    return case


def create_case(db: Database, data: NewCase, hasher: PassportHasher, actor: str, clock: Clock = utcnow) -> CaseView:
    clean = validate_new_case(data, default_procedures())
    with db.transaction() as session:
        case = insert_case(session, clean, hasher, actor, clock())
        session.flush()
        session.refresh(case)
        return _view(session, case)


def move_case(
    db: Database,
    number: str,
    to_stage: str,
    actor: str,
    note: str = "",
    expected: str | None = None,
    clock: Clock = utcnow,
) -> CaseView:
    """Move a case to a stage its flow allows. With `expected`, refuse if someone moved it meanwhile; without,
    the stage read here is the expectation, so two staff moving the same case at once cannot both win."""
    procedures = default_procedures()
    now = clock()
    with db.transaction() as session:
        case = _find(session, number)
        current = case.stage
        if expected is not None and expected != current:
            raise CaseError("conflict", f"case is at {current}, not {expected}; reload and try again")
        try:
            procedures.check_transition(case.procedure, current, to_stage)
        except InvalidTransition as exc:
            raise CaseError("invalid_transition", str(exc)) from exc
        moved = session.execute(
            sa.update(Case)
            .where(Case.id == case.id, Case.stage == current)
            .values(stage=to_stage, stage_since=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            raise CaseError("conflict", "the case was changed by someone else meanwhile; reload and try again")
        session.add(
            CaseEvent(
                case_id=case.id, kind="stage", from_stage=current, to_stage=to_stage, actor=actor, note=note, at=now
            )
        )
        session.flush()
        session.expire(case)
        return _view(session, case)


def request_materials(
    db: Database, number: str, items: list[str], actor: str, move: bool = True, clock: Clock = utcnow
) -> CaseView:
    """Record what is missing (补正) and, by default, move the case to `materials_requested`."""
    cleaned = [item.strip() for item in items if isinstance(item, str) and item.strip()]
    if not cleaned:
        raise CaseError("no_items", "name at least one missing item")
    if any(len(item) > 500 for item in cleaned):
        raise CaseError("too_long", "an item is longer than 500 characters")
    if move:
        with db.transaction() as session:
            stage = _find(session, number).stage
        if stage != "materials_requested":
            move_case(db, number, "materials_requested", actor, note="; ".join(cleaned), expected=stage, clock=clock)
    now = clock()
    with db.transaction() as session:
        case = _find(session, number)
        for item in cleaned:
            session.add(MissingMaterial(case_id=case.id, item=item, requested_by=actor, requested_at=now))
        session.add(CaseEvent(case_id=case.id, kind="materials", actor=actor, note="; ".join(cleaned), at=now))
        session.flush()
        session.expire(case)
        return _view(session, case)


def resolve_materials(db: Database, number: str, actor: str, clock: Clock = utcnow) -> CaseView:
    """Mark every open material request of a case as received."""
    now = clock()
    with db.transaction() as session:
        case = _find(session, number)
        session.execute(
            sa.update(MissingMaterial)
            .where(MissingMaterial.case_id == case.id, MissingMaterial.resolved_at.is_(None))
            .values(resolved_at=now)
        )
        session.add(CaseEvent(case_id=case.id, kind="resolved", actor=actor, note="materials received", at=now))
        session.flush()
        session.expire(case)
        return _view(session, case)


def get_case(db: Database, number: str) -> CaseView:
    with db.transaction() as session:
        return _view(session, _find(session, number))


def list_cases(db: Database, limit: int = 200) -> list[CaseView]:
    with db.transaction() as session:
        rows = session.execute(sa.select(Case).order_by(Case.updated_at.desc()).limit(limit)).scalars()
        return [_view(session, row) for row in rows]
