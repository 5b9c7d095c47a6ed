"""Domain events: what changed in a conversation or its ticket, as the service that changed it says.

Services that change a ticket or a conversation (bot/handoff/tickets.py, the router) return these; one publisher
(bot/conversations/publisher.py) turns them into hub frames. So the handoff state machine is told from one place,
and no transport re-reads the bot's replies to learn what happened (Chatwoot's `notify_status_change`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from bot.conversations.store import StoredMessage

STAFF_STATES = ("queued", "assigned")


@dataclass(frozen=True)
class MessageAdded:
    """A message stored in a conversation: the applicant's connections see it; `to_staff` while a person is in
    charge (or for staff's own replies and system notices), with the open ticket it belongs to."""

    conversation_id: str
    message: StoredMessage
    to_applicant: bool = True
    to_staff: bool = False
    ticket: int | None = None


@dataclass(frozen=True)
class StateChanged:
    """Who is in charge, as the applicant's widget shows it: "bot", "queued" or "assigned" (with the staff name)."""

    conversation_id: str
    state: str
    staff: str | None = None


@dataclass(frozen=True)
class TicketOpened:
    """A conversation entered the queue (consoles notify staff)."""

    ticket: int
    conversation_id: str


@dataclass(frozen=True)
class QueueChanged:
    """The queue changed: every waiting applicant gets their place again, every console reloads."""


@dataclass(frozen=True)
class Typing:
    """Someone is (or stopped) writing; `turn` closes the bot's answer to that user message."""

    conversation_id: str
    role: str
    active: bool
    turn: int | None = None


@dataclass(frozen=True)
class Notice:
    """Something the applicant should know about a message that is not an answer (the bot is restarting)."""

    conversation_id: str
    code: str
    text: str
    seq: int


Event = Union[MessageAdded, StateChanged, TicketOpened, QueueChanged, Typing, Notice]


def stored(conversation_id: str, messages: list[StoredMessage]) -> list[Event]:
    """Replies (bot, system) for the applicant's connections, in order."""
    return [MessageAdded(conversation_id, message) for message in messages]


__all__ = [
    "STAFF_STATES",
    "Event",
    "MessageAdded",
    "Notice",
    "QueueChanged",
    "StateChanged",
    "TicketOpened",
    "Typing",
    "stored",
]
