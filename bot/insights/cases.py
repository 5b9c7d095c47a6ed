"""Cases against the bureau's promise, and the "reverse standardization" outcome (how many applications went back
for correction, for what, and whether a checklist built in the chat came first).

Each entry into a promised stage is one step: preliminary_review (1 working day from submission, or from the
re-submission after a correction), accepted (review the same working day) and under_review (conclusion within 3
working days of acceptance). Due dates come from `Procedures.due` on the case history, so the page counts exactly
as the assistant tells applicants. A step belongs to the period in which it started."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from bot.cases.identifiers import mask_number
from bot.cases.stages import Procedures
from bot.core.payload import custom_of
from bot.core.workdays import WorkCalendar, shanghai_date
from bot.db.models import Case, CaseEvent, CaseVerification, Message, MissingMaterial
from bot.insights.period import Period

STEPS = {"preliminary_review": "preliminary", "accepted": "same_day_review", "under_review": "conclusion"}
CONCLUDED = ("approved", "not_approved", "cancelled")


def is_conclusion(from_stage: str | None, to_stage: str | None) -> bool:
    """A decision: approval, refusal, cancellation, or (replacement cards) the card made straight from acceptance."""
    return to_stage in CONCLUDED or (to_stage == "card_ready" and from_stage == "accepted")


@dataclass(frozen=True)
class Late:
    case: str  # masked number
    procedure: str
    step: str
    due: date
    done: date | None  # None: still open
    days_late: int


@dataclass
class StepCount:
    due: int = 0  # steps whose outcome is known: done, or overdue while open
    met: int = 0

    @property
    def share(self) -> float | None:
        return round(self.met / self.due, 4) if self.due else None


@dataclass
class Cases:
    received: int = 0
    concluded: int = 0
    received_by_procedure: Counter[str] = field(default_factory=Counter)
    sent_back_by_procedure: Counter[str] = field(default_factory=Counter)
    steps: dict[str, StepCount] = field(default_factory=lambda: {s: StepCount() for s in STEPS.values()})
    late: list[Late] = field(default_factory=list)
    materials: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # Cases verified in a chat: (checklist built before the verification?) -> [cases, of which sent back]
    verified: dict[bool, list[int]] = field(default_factory=lambda: {True: [0, 0], False: [0, 0]})


def _history(case_submitted: datetime, events: list[tuple[str, str | None, str | None, datetime]]) -> list:
    """(stage entered, when) oldest first; a case created at `submitted` entered it when it was submitted."""
    history = []
    for kind, _, to_stage, at in events:
        if kind == "created" and to_stage:
            history.append((to_stage, case_submitted if to_stage == "submitted" else at))
        elif kind == "stage" and to_stage:
            history.append((to_stage, at))
    return history


def collect(
    session: sa.orm.Session, period: Period, procedures: Procedures, calendar: WorkCalendar, now: datetime
) -> Cases:
    result = Cases()
    today = shanghai_date(now)
    events: dict[int, list] = defaultdict(list)
    for case_id, kind, from_stage, to_stage, at in session.execute(
        sa.select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.from_stage, CaseEvent.to_stage, CaseEvent.at)
        .where(CaseEvent.kind.in_(("created", "stage")))
        .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)
    ).all():
        events[case_id].append((kind, from_stage, to_stage, at))
    cases = session.execute(sa.select(Case.id, Case.application_number, Case.procedure, Case.submitted_at)).all()
    received_ids: dict[int, str] = {}
    for case_id, number, procedure, submitted in cases:
        mine = events.get(case_id, [])
        if period.start <= submitted < period.end:
            result.received += 1
            result.received_by_procedure[procedure] += 1
            received_ids[case_id] = procedure
            if any(e[2] == "materials_requested" for e in mine):
                result.sent_back_by_procedure[procedure] += 1
        result.concluded += sum(
            1 for kind, f, t, at in mine if kind == "stage" and is_conclusion(f, t) and period.start <= at < period.end
        )
        history = _history(submitted, mine)
        for index, (stage, entered) in enumerate(history):
            step = STEPS.get(stage)
            if step is None or not (period.start <= entered < period.end):
                continue
            due = procedures.due(stage, entered, history[: index + 1], calendar)
            if due is None:
                continue
            following = history[index + 1] if index + 1 < len(history) else None
            if stage == "under_review" and following is not None and following[0] == "materials_requested":
                continue  # the clock stopped for a correction; the next review is its own step
            done = shanghai_date(following[1]) if following else None
            if done is None and today <= due.day:
                continue  # still within its time
            count = result.steps[step]
            count.due += 1
            if done is not None and done <= due.day:
                count.met += 1
            else:
                late_by, _ = calendar.working_days_between(due.day, done or today)
                result.late.append(Late(mask_number(number), procedure, step, due.day, done, late_by))
    if received_ids:
        for case_id, item in session.execute(
            sa.select(MissingMaterial.case_id, MissingMaterial.item).where(
                MissingMaterial.case_id.in_(list(received_ids))
            )
        ).all():
            result.materials[received_ids[case_id]][" ".join(item.split())] += 1
        _verified(session, result, received_ids)
    result.late.sort(key=lambda x: (x.due, x.case, x.step))
    return result


def _verified(session: sa.orm.Session, result: Cases, received: dict[int, str]) -> None:
    """For each received case verified in a chat: was a checklist shown in that conversation before the check?"""
    first: dict[int, tuple[str, datetime]] = {}
    for conversation_id, case_id, at in session.execute(
        sa.select(CaseVerification.conversation_id, CaseVerification.case_id, CaseVerification.created_at)
        .where(CaseVerification.case_id.in_(list(received)))
        .order_by(CaseVerification.created_at)
    ).all():
        first.setdefault(case_id, (conversation_id, at))
    sent_back = {
        case_id
        for (case_id,) in session.execute(
            sa.select(CaseEvent.case_id).where(
                CaseEvent.case_id.in_(list(first)), CaseEvent.to_stage == "materials_requested"
            )
        ).all()
    }
    for case_id, (conversation_id, at) in first.items():
        payloads = session.execute(
            sa.select(Message.payload).where(
                Message.conversation_id == conversation_id, Message.role == "bot", Message.created_at <= at
            )
        ).scalars()
        checklist = any(custom_of(p).get("type") == "checklist" for p in payloads)
        result.verified[checklist][0] += 1
        result.verified[checklist][1] += case_id in sent_back
