"""Transcripts are kept only as long as configured (PIPL data minimisation), and an applicant can take theirs
away: export as JSON, delete. Both cover the assistant's database and Rasa's tracker store.

What is deleted with a conversation: its messages, tickets (with staff notes and webhook rows), the case form and
verifications, and its tracker events. What stays: lookup attempts, which hold only keyed hashes and are the
counters that keep others from being locked out (deleting them would reset the limits)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa

from bot.db import Database
from bot.db.models import CaseCheck, CaseVerification, Conversation, Message, Ticket, utcnow

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
TRACKER_TABLE = "events"
BATCH = 500


@dataclass(frozen=True)
class Purged:
    conversations: int
    tracker_events: int


def export(db: Database, conversation_id: str) -> dict[str, Any] | None:
    """Everything the applicant's conversation holds that is theirs to see (no staff notes, no internals)."""
    with db.transaction() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return None
        messages = session.execute(
            sa.select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        ).scalars()
        tickets = session.execute(sa.select(Ticket).where(Ticket.conversation_id == conversation_id)).scalars()
        return {
            "conversation": conversation.id,
            "created_at": conversation.created_at.isoformat(),
            "language": conversation.language_choice or conversation.language,
            "messages": [
                {
                    "seq": m.id,
                    "role": m.role,
                    "author": m.author,
                    "text": m.text,
                    "at": m.created_at.isoformat(),
                }
                for m in messages
            ],
            "tickets": [
                {"ticket": t.id, "status": t.status, "created_at": t.created_at.isoformat(), "contact": t.contact}
                for t in tickets
            ],
        }


def _delete_tracker(tracker_url: str, senders: list[str]) -> int:
    """Rasa's events of these conversations; nothing to do if the tracker store has no table yet."""
    if not senders or not tracker_url:
        return 0
    engine = sa.create_engine(tracker_url, future=True)
    try:
        if not sa.inspect(engine).has_table(TRACKER_TABLE):
            return 0
        events = sa.table(TRACKER_TABLE, sa.column("sender_id"))
        deleted = 0
        with engine.begin() as connection:
            for start in range(0, len(senders), BATCH):
                chunk = senders[start : start + BATCH]
                deleted += connection.execute(sa.delete(events).where(events.c.sender_id.in_(chunk))).rowcount
        return deleted
    finally:
        engine.dispose()


def _delete_conversations(session: Any, ids: list[str]) -> None:
    """Explicit deletes (not only ON DELETE CASCADE) so SQLite without foreign keys forgets them too."""
    from bot.db.models import TicketNote, WebhookDelivery

    ticket_ids = list(session.execute(sa.select(Ticket.id).where(Ticket.conversation_id.in_(ids))).scalars())
    statements = [
        sa.delete(TicketNote).where(TicketNote.ticket_id.in_(ticket_ids)),
        sa.delete(WebhookDelivery).where(WebhookDelivery.ticket_id.in_(ticket_ids)),
        sa.delete(Ticket).where(Ticket.conversation_id.in_(ids)),
        sa.delete(Message).where(Message.conversation_id.in_(ids)),
        sa.delete(CaseCheck).where(CaseCheck.conversation_id.in_(ids)),
        sa.delete(CaseVerification).where(CaseVerification.conversation_id.in_(ids)),
        sa.delete(Conversation).where(Conversation.id.in_(ids)),
    ]
    for statement in statements:
        session.execute(statement.execution_options(synchronize_session=False))


def delete(db: Database, tracker_url: str, conversation_id: str) -> bool:
    """The applicant's own deletion; True if there was something to delete."""
    with db.transaction() as session:
        if session.get(Conversation, conversation_id) is None:
            return False
        _delete_conversations(session, [conversation_id])
    _delete_tracker(tracker_url, [conversation_id])
    return True


def purge(db: Database, tracker_url: str, days: int, clock: Clock = utcnow) -> Purged:
    """Delete conversations with no message (and no change) for `days` days, with their tracker events, and tracker
    events of any conversation idle that long (Rasa's channels that never passed the gateway). 0 keeps all."""
    if days <= 0:
        return Purged(0, 0)
    cutoff = clock() - timedelta(days=days)
    with db.transaction() as session:
        last_message = (
            sa.select(Message.conversation_id, sa.func.max(Message.created_at).label("last"))
            .group_by(Message.conversation_id)
            .subquery()
        )
        stale = list(
            session.execute(
                sa.select(Conversation.id)
                .outerjoin(last_message, last_message.c.conversation_id == Conversation.id)
                .where(
                    Conversation.updated_at < cutoff,
                    sa.or_(last_message.c.last.is_(None), last_message.c.last < cutoff),
                )
            ).scalars()
        )
        for start in range(0, len(stale), BATCH):
            _delete_conversations(session, stale[start : start + BATCH])
    events = _delete_tracker(tracker_url, stale) + _purge_idle_tracker(tracker_url, cutoff)
    if stale or events:
        log.info("retention: deleted %d conversation(s) and %d tracker event(s)", len(stale), events)
    return Purged(len(stale), events)


def _purge_idle_tracker(tracker_url: str, cutoff: datetime) -> int:
    if not tracker_url:
        return 0
    engine = sa.create_engine(tracker_url, future=True)
    try:
        if not sa.inspect(engine).has_table(TRACKER_TABLE):
            return 0
        events = sa.table(TRACKER_TABLE, sa.column("sender_id"), sa.column("timestamp"))
        idle = (
            sa.select(events.c.sender_id)
            .group_by(events.c.sender_id)
            .having(sa.func.max(events.c.timestamp) < cutoff.timestamp())
        )
        with engine.begin() as connection:
            return connection.execute(sa.delete(events).where(events.c.sender_id.in_(idle))).rowcount
    finally:
        engine.dispose()
