"""Tickets: a conversation handed to staff. The conversation state (DESIGN.md) moves with the ticket:
bot → queued (ticket open) → assigned (claimed, atomically: one winner) → resolved (reason + note) → bot.
While queued or assigned the gateway gives the user's messages to staff, never to Rasa.

Every change returns the domain events it caused (bot/conversations/events.py), with the system notice it stored in
the same transaction; the gateway hands them to its one publisher. Assignees are staff ids; names are for display."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.conversations import store
from bot.conversations.events import STAFF_STATES, Event, MessageAdded, QueueChanged, StateChanged, TicketOpened
from bot.conversations.store import StoredMessage
from bot.core.clock import Clock
from bot.core.errors import ServiceError
from bot.db import Database
from bot.db.models import (
    RESOLUTION_REASONS,
    Case,
    CaseVerification,
    Conversation,
    Message,
    StaffUser,
    Ticket,
    TicketNote,
    utcnow,
)
from bot.handoff import texts

DEFAULT_HANDLING_S = 300
OPEN_STATUSES = ("queued", "assigned")
MAX_REPLY = 4000
MAX_NOTE = 4000


class TicketError(ServiceError):
    """A request about a ticket that cannot be done (not found, claimed by someone else, already resolved…)."""


@dataclass
class QueueInfo:
    ticket: int
    position: int
    estimated_wait_s: int


@dataclass
class TicketView:
    id: int
    conversation_id: str
    status: str
    reason: str
    language: str
    topic: str | None
    summary: str
    case_number: str | None
    office_open: bool
    contact: str | None
    created_at: datetime
    assigned_to: str | None
    waiting_s: int
    resolution_reason: str | None = None
    resolution_note: str | None = None
    guide_gap: bool = False
    satisfaction: int | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)
    assignee_id: int | None = None  # who has it, by staff id (assigned_to is the name to show)

    def as_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["created_at"] = self.created_at.isoformat()
        return data


def _view(session: Any, ticket: Ticket, now: datetime, with_notes: bool = False) -> TicketView:
    assignee = session.get(StaffUser, ticket.assigned_to) if ticket.assigned_to else None
    created = ticket.created_at
    end = ticket.assigned_at or ticket.resolved_at or now
    notes = []
    if with_notes:
        rows = session.execute(
            sa.select(TicketNote, StaffUser.display_name)
            .join(StaffUser, StaffUser.id == TicketNote.author_id)
            .where(TicketNote.ticket_id == ticket.id)
            .order_by(TicketNote.id)
        ).all()
        notes = [{"author": name, "text": note.text, "at": note.created_at.isoformat()} for note, name in rows]
    return TicketView(
        id=ticket.id,
        conversation_id=ticket.conversation_id,
        status=ticket.status,
        reason=ticket.reason,
        language=ticket.language,
        topic=ticket.topic,
        summary=ticket.summary,
        case_number=ticket.case_number,
        office_open=ticket.office_open,
        contact=ticket.contact,
        created_at=created,
        assigned_to=assignee.display_name if assignee else None,
        waiting_s=max(0, int((end - created).total_seconds())),
        resolution_reason=ticket.resolution_reason,
        resolution_note=ticket.resolution_note,
        guide_gap=ticket.guide_gap,
        satisfaction=ticket.satisfaction,
        notes=notes,
        assignee_id=ticket.assigned_to,
    )


@dataclass(frozen=True)
class TicketChange:
    """A ticket after a change, and the events the change caused, in the order connections should see them."""

    ticket: TicketView
    events: tuple[Event, ...]


def _notice(session: Any, ticket: Ticket, text: str, payload: dict[str, Any] | None = None) -> MessageAdded:
    """A system message about the handoff, stored with the change it announces: the applicant and consoles see it."""
    (message,) = store.add_messages(session, ticket.conversation_id, "system", [(text, payload)])
    return MessageAdded(ticket.conversation_id, message, to_staff=True, ticket=ticket.id)


def _verified_case(session: Any, conversation_id: str) -> str | None:
    return session.execute(
        sa.select(Case.application_number)
        .join(CaseVerification, CaseVerification.case_id == Case.id)
        .where(CaseVerification.conversation_id == conversation_id)
        .order_by(CaseVerification.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def summarize(
    session: Any, conversation_id: str, reason: str, language: str, topic: str | None, case: str | None
) -> str:
    """A short summary for the queue: why, language, likely topic, verified case, the last user messages."""
    recent = session.execute(
        sa.select(Message.text)
        .where(Message.conversation_id == conversation_id, Message.role == "user")
        .order_by(Message.id.desc())
        .limit(3)
    ).scalars()
    lines = [f"reason: {reason}", f"language: {language}"]
    if topic:
        lines.append(f"likely topic: {topic}")
    if case:
        lines.append(f"verified case: {case}")
    lines.extend(f"user: {text[:300]}" for text in reversed(list(recent)))
    return "\n".join(lines)


def open_ticket(
    db: Database,
    conversation_id: str,
    reason: str,
    language: str,
    topic: str | None,
    office_open: bool,
    clock: Clock = utcnow,
) -> tuple[TicketView, bool]:
    """Open a ticket for the conversation, or return the one already open (returns (ticket, created))."""
    now = clock()
    with db.transaction() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise TicketError("no_conversation", "this conversation is not known to the gateway")
        existing = session.execute(
            sa.select(Ticket).where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN_STATUSES))
        ).scalar_one_or_none()
        if existing is not None:
            return _view(session, existing, now), False
        case = _verified_case(session, conversation_id)
        ticket = Ticket(
            conversation_id=conversation_id,
            status="queued",
            reason=reason[:32],
            language=language,
            topic=topic,
            summary=summarize(session, conversation_id, reason, language, topic, case),
            case_number=case,
            office_open=office_open,
            created_at=now,
            guide_gap=False,
        )
        session.add(ticket)
        conversation.state = "queued"
        session.flush()
        return _view(session, ticket, now), True


def set_contact(db: Database, ticket_id: int, contact: str, question: str | None = None) -> None:
    with db.transaction() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise TicketError("not_found", "no such ticket")
        ticket.contact = contact[:200]
        if question:
            ticket.summary = f"{ticket.summary}\nquestion left: {question[:1000]}"


def handling_time_s(session: Any) -> int:
    """Median time from queue to claim of the last 50 claimed tickets (a default until there are some)."""
    rows = session.execute(
        sa.select(Ticket.created_at, Ticket.assigned_at)
        .where(Ticket.assigned_at.is_not(None))
        .order_by(Ticket.assigned_at.desc())
        .limit(50)
    ).all()
    waits = [(b - a).total_seconds() for a, b in rows if a and b]
    return int(statistics.median(waits)) if len(waits) >= 5 else DEFAULT_HANDLING_S


def queue_positions(db: Database) -> list[QueueInfo]:
    """Every queued ticket with its place in the queue and an estimated wait."""
    with db.transaction() as session:
        per_ticket = max(30, handling_time_s(session))
        queued = session.execute(
            sa.select(Ticket.id).where(Ticket.status == "queued").order_by(Ticket.created_at, Ticket.id)
        ).scalars()
        return [QueueInfo(tid, position, position * per_ticket) for position, tid in enumerate(queued, start=1)]


def queue_info(db: Database, ticket_id: int) -> QueueInfo | None:
    return next((q for q in queue_positions(db) if q.ticket == ticket_id), None)


def list_tickets(db: Database, statuses: tuple[str, ...] = OPEN_STATUSES, clock: Clock = utcnow) -> list[TicketView]:
    now = clock()
    with db.transaction() as session:
        rows = session.execute(
            sa.select(Ticket).where(Ticket.status.in_(statuses)).order_by(Ticket.created_at, Ticket.id).limit(500)
        ).scalars()
        return [_view(session, row, now) for row in rows]


def get_ticket(db: Database, ticket_id: int, clock: Clock = utcnow) -> TicketView:
    with db.transaction() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise TicketError("not_found", "no such ticket")
        return _view(session, ticket, clock(), with_notes=True)


def claim(db: Database, ticket_id: int, staff_id: int, clock: Clock = utcnow) -> TicketChange:
    """Exactly one of several simultaneous claims wins: the update only applies while the ticket is queued."""
    now = clock()
    with db.transaction() as session:
        won = session.execute(
            sa.update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.status == "queued")
            .values(status="assigned", assigned_to=staff_id, assigned_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise TicketError("not_found", "no such ticket")
            raise TicketError("already_claimed", "someone else has already taken this conversation")
        ticket = session.get(Ticket, ticket_id)
        session.execute(
            sa.update(Conversation).where(Conversation.id == ticket.conversation_id).values(state="assigned")
        )
        view = _view(session, ticket, now)
        name = view.assigned_to or ""
        joined = _notice(
            session, ticket, texts.STAFF_JOINED.format(name=name), {"custom": {"type": "staff_joined", "name": name}}
        )
        state = StateChanged(ticket.conversation_id, "assigned", staff=name)
        return TicketChange(view, (joined, state, QueueChanged()))


def _owned(session: Any, ticket_id: int, staff_id: int, allow_admin: bool = False) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketError("not_found", "no such ticket")
    if ticket.status == "resolved":
        raise TicketError("resolved", "this conversation is already resolved")
    if ticket.status != "assigned":
        raise TicketError("not_claimed", "claim the conversation first")
    if ticket.assigned_to != staff_id and not allow_admin:
        raise TicketError("not_yours", "another staff member has this conversation")
    return ticket


def _reply_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise TicketError("empty", "the reply is empty")
    if len(text) > MAX_REPLY:
        raise TicketError("too_long", f"the reply is longer than {MAX_REPLY} characters")
    return text.strip()


def check_can_reply(db: Database, ticket_id: int, staff_id: int, text: object) -> tuple[str, str]:
    """(conversation id, cleaned text) if this staff member may reply now; TicketError otherwise."""
    cleaned = _reply_text(text)
    with db.transaction() as session:
        ticket = _owned(session, ticket_id, staff_id)
        return ticket.conversation_id, cleaned


def reply(db: Database, ticket_id: int, staff_id: int, text: object) -> tuple[StoredMessage, tuple[Event, ...]]:
    """Store a staff reply if this staff member may reply now (checked in the same transaction as the insert)."""
    cleaned = _reply_text(text)
    with db.transaction() as session:
        ticket = _owned(session, ticket_id, staff_id)
        author = session.get(StaffUser, staff_id)
        (message,) = store.add_messages(
            session, ticket.conversation_id, "staff", [(cleaned, None)], author=author.display_name
        )
        return message, (MessageAdded(ticket.conversation_id, message, to_staff=True, ticket=ticket.id),)


def add_note(db: Database, ticket_id: int, staff_id: int, text: object, clock: Clock = utcnow) -> TicketView:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTE:
        raise TicketError("bad_note", f"a note needs 1-{MAX_NOTE} characters")
    with db.transaction() as session:
        if session.get(Ticket, ticket_id) is None:
            raise TicketError("not_found", "no such ticket")
        session.add(TicketNote(ticket_id=ticket_id, author_id=staff_id, text=text.strip(), created_at=clock()))
    return get_ticket(db, ticket_id, clock)


def requeue(db: Database, ticket_id: int, staff_id: int, is_admin: bool = False, clock: Clock = utcnow) -> TicketChange:
    with db.transaction() as session:
        ticket = _owned(session, ticket_id, staff_id, allow_admin=is_admin)
        ticket.status, ticket.assigned_to, ticket.assigned_at = "queued", None, None
        session.execute(sa.update(Conversation).where(Conversation.id == ticket.conversation_id).values(state="queued"))
        session.flush()
        notice = _notice(session, ticket, texts.REQUEUED)
        state = StateChanged(ticket.conversation_id, "queued")
        return TicketChange(_view(session, ticket, clock()), (notice, state, QueueChanged()))


def resolve(
    db: Database,
    ticket_id: int,
    staff_id: int,
    reason: object,
    note: object = "",
    guide_gap: bool = False,
    is_admin: bool = False,
    clock: Clock = utcnow,
) -> TicketChange:
    """Close the ticket and give the conversation back to the bot (the gateway then wakes Rasa for it)."""
    if reason not in RESOLUTION_REASONS:
        raise TicketError("bad_reason", f"reason must be one of {', '.join(RESOLUTION_REASONS)}")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise TicketError("bad_note", f"the note must be text of at most {MAX_NOTE} characters")
    now = clock()
    with db.transaction() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise TicketError("not_found", "no such ticket")
        if ticket.status == "resolved":
            raise TicketError("resolved", "this conversation is already resolved")
        if ticket.status == "assigned" and ticket.assigned_to != staff_id and not is_admin:
            raise TicketError("not_yours", "another staff member has this conversation")
        ticket.status = "resolved"
        ticket.resolved_at, ticket.resolved_by = now, staff_id
        ticket.resolution_reason, ticket.resolution_note, ticket.guide_gap = reason, note.strip(), bool(guide_gap)
        if ticket.assigned_to is None:
            ticket.assigned_to, ticket.assigned_at = staff_id, now
        # "resolved" until the gateway has resumed Rasa for it (then "bot"): kept in the database, so a gateway
        # restart or another gateway still knows the bot has to be woken before it can answer.
        session.execute(
            sa.update(Conversation).where(Conversation.id == ticket.conversation_id).values(state="resolved")
        )
        session.flush()
        notice = _notice(session, ticket, texts.RESOLVED, {"custom": {"type": "resolved"}})
        # The applicant's widget shows the bot in charge at once; the database says so once Rasa is awake.
        state = StateChanged(ticket.conversation_id, "bot")
        return TicketChange(_view(session, ticket, now), (notice, state, QueueChanged()))


def record_satisfaction(db: Database, conversation_id: str, rating: int) -> bool:
    """Store the rating on the conversation's latest resolved ticket."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        return False
    with db.transaction() as session:
        ticket = session.execute(
            sa.select(Ticket)
            .where(Ticket.conversation_id == conversation_id, Ticket.status == "resolved")
            .order_by(Ticket.resolved_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        if ticket is None:
            return False
        ticket.satisfaction = rating
        return True


def conversations_of(db: Database, ticket_ids: list[int]) -> dict[int, str]:
    if not ticket_ids:
        return {}
    with db.transaction() as session:
        rows = session.execute(sa.select(Ticket.id, Ticket.conversation_id).where(Ticket.id.in_(ticket_ids))).all()
        return {tid: cid for tid, cid in rows}


def open_ticket_of(db: Database, conversation_id: str) -> int | None:
    with db.transaction() as session:
        return session.execute(
            sa.select(Ticket.id).where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN_STATUSES))
        ).scalar_one_or_none()


def handed_over(session: Any, conversation_id: str, state_before: str) -> list[Event]:
    """After a bot turn: the ticket its action opened, if the turn began with the bot in charge and ended with a
    ticket open (actions/handoff.py opens it in the action server; the row is the signal, not the bot's words)."""
    if state_before in STAFF_STATES:
        return []
    ticket = session.execute(
        sa.select(Ticket.id).where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN_STATUSES))
    ).scalar_one_or_none()
    if ticket is None:
        return []
    return [StateChanged(conversation_id, "queued"), TicketOpened(ticket, conversation_id), QueueChanged()]
