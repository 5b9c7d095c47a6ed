"""Transcript storage. Synchronous on purpose: the gateway calls it through `asyncio.to_thread`, the action
server and the CLI call it directly, and tests pass a throwaway database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.db.models import Conversation, Message, utcnow

ID_BYTES = 24
INTERNAL_KEYS = ("command",)


def new_conversation_id() -> str:
    return secrets.token_hex(ID_BYTES)


def valid_conversation_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 2 * ID_BYTES and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class StoredMessage:
    """A transcript entry as clients see it."""

    seq: int
    role: str
    text: str
    payload: dict[str, Any] | None
    created_at: datetime
    client_id: str | None = None
    author: str | None = None

    def as_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "role": self.role,
            "text": self.text,
            "at": self.created_at.isoformat(),
        }
        if self.payload:
            # `command` is what the gateway itself sent to Rasa for this message (e.g. a verification token).
            data.update({k: v for k, v in self.payload.items() if k not in INTERNAL_KEYS})
        if self.client_id:
            data["id"] = self.client_id
        if self.author:
            data["author"] = self.author
        return data


def _stored(message: Message) -> StoredMessage:
    return StoredMessage(
        seq=message.id,
        role=message.role,
        text=message.text,
        payload=message.payload,
        created_at=message.created_at,
        client_id=message.client_id,
        author=message.author,
    )


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    state: str
    language_choice: str | None
    language: str | None
    created: bool


def open_conversation(db: Database, conversation_id: str | None, channel: str = "web") -> ConversationInfo:
    """Resume a conversation by id, or start a new one (an unknown or malformed id also starts a new one)."""
    with db.transaction() as session:
        if valid_conversation_id(conversation_id):
            existing = session.get(Conversation, conversation_id)
            if existing is not None:
                return ConversationInfo(existing.id, existing.state, existing.language_choice, existing.language, False)
        conversation = Conversation(id=new_conversation_id(), channel=channel, state="bot")
        session.add(conversation)
        session.flush()
        return ConversationInfo(conversation.id, conversation.state, None, None, True)


def get_conversation(db: Database, conversation_id: str) -> ConversationInfo | None:
    with db.transaction() as session:
        found = session.get(Conversation, conversation_id)
        if found is None:
            return None
        return ConversationInfo(found.id, found.state, found.language_choice, found.language, False)


def mark_resumed(db: Database, conversation_id: str) -> None:
    """Rasa answers this conversation again (after a person resolved it)."""
    with db.transaction() as session:
        session.execute(
            sa.update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.state == "resolved")
            .values(state="bot")
        )


def add_user_message(
    session: Any, conversation_id: str, text: str, client_id: str | None, payload: dict[str, Any] | None = None
) -> StoredMessage:
    """Store a user message inside the caller's transaction; a repeated client id raises IntegrityError."""
    message = Message(conversation_id=conversation_id, role="user", client_id=client_id, text=text, payload=payload)
    session.add(message)
    session.flush()
    return _stored(message)


def record_user_message(
    db: Database, conversation_id: str, text: str, client_id: str | None, payload: dict[str, Any] | None = None
) -> tuple[StoredMessage, bool]:
    """Store a user message; returns (message, is_new). A repeated client id returns the stored original."""
    try:
        with db.transaction() as session:
            return add_user_message(session, conversation_id, text, client_id, payload), True
    except IntegrityError:
        if client_id is None:
            raise
        with db.transaction() as session:
            original = session.execute(
                sa.select(Message).where(Message.conversation_id == conversation_id, Message.client_id == client_id)
            ).scalar_one()
            return _stored(original), False


def find_user_message(db: Database, conversation_id: str, client_id: str) -> StoredMessage | None:
    with db.transaction() as session:
        found = session.execute(
            sa.select(Message).where(Message.conversation_id == conversation_id, Message.client_id == client_id)
        ).scalar_one_or_none()
        return _stored(found) if found else None


def record_messages(
    db: Database,
    conversation_id: str,
    role: str,
    items: list[tuple[str, dict[str, Any] | None]],
    author: str | None = None,
) -> list[StoredMessage]:
    """Store bot/staff/system messages (text, payload) in one transaction; staff messages carry their author."""
    with db.transaction() as session:
        return add_messages(session, conversation_id, role, items, author)


def add_messages(
    session: Any,
    conversation_id: str,
    role: str,
    items: list[tuple[str, dict[str, Any] | None]],
    author: str | None = None,
) -> list[StoredMessage]:
    """Store messages inside the caller's transaction (a ticket change stores its notice with the change)."""
    rows = [
        Message(conversation_id=conversation_id, role=role, text=text, payload=payload, author=author)
        for text, payload in items
    ]
    session.add_all(rows)
    session.flush()
    return [_stored(row) for row in rows]


def record_replies(
    db: Database, conversation_id: str, user_seq: int, role: str, items: list[tuple[str, dict[str, Any] | None]]
) -> list[StoredMessage]:
    """Store the answers to a user message and mark it delivered, atomically: a crash leaves either both or
    neither, so a retry never answers twice and an answer is never lost."""
    with db.transaction() as session:
        return add_replies(session, conversation_id, user_seq, role, items)


def add_replies(
    session: Any, conversation_id: str, user_seq: int, role: str, items: list[tuple[str, dict[str, Any] | None]]
) -> list[StoredMessage]:
    """`record_replies` inside the caller's transaction (the router reads what the turn changed in the same one)."""
    stored = add_messages(session, conversation_id, role, items)
    session.execute(sa.update(Message).where(Message.id == user_seq).values(delivered_at=utcnow()))
    return stored


def is_delivered(db: Database, message_seq: int) -> bool:
    return pending_delivery(db, "", message_seq)[0]


def pending_delivery(db: Database, conversation_id: str, message_seq: int) -> tuple[bool, ConversationInfo | None]:
    """Whether a message is already delivered, and its conversation as it is now (one round trip per turn)."""
    with db.transaction() as session:
        value = session.execute(sa.select(Message.delivered_at).where(Message.id == message_seq)).scalar_one_or_none()
        found = session.get(Conversation, conversation_id) if conversation_id else None
        info = ConversationInfo(found.id, found.state, found.language_choice, found.language, False) if found else None
        return value is not None, info


def undelivered_user_messages(db: Database, limit: int = 50) -> list[tuple[str, StoredMessage]]:
    """User messages nobody has answered yet (the bot was down), oldest first."""
    with db.transaction() as session:
        rows = session.execute(
            sa.select(Message)
            .where(Message.role == "user", Message.delivered_at.is_(None))
            .order_by(Message.id)
            .limit(limit)
        ).scalars()
        return [(row.conversation_id, _stored(row)) for row in rows]


def history(db: Database, conversation_id: str, after_seq: int = 0, limit: int = 500) -> list[StoredMessage]:
    """The transcript after `after_seq`, oldest first (the latest `limit` entries if it is longer)."""
    with db.transaction() as session:
        rows = session.execute(
            sa.select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after_seq)
            .order_by(Message.id.desc())
            .limit(limit)
        ).scalars()
        return [_stored(row) for row in reversed(list(rows))]


def offered_payloads(db: Database, conversation_id: str, recent: int = 30) -> set[str]:
    """Button payloads the bot offered in its recent messages: the only `/...` input allowed to reach Rasa."""
    with db.transaction() as session:
        payloads = session.execute(
            sa.select(Message.payload)
            .where(Message.conversation_id == conversation_id, Message.role == "bot", Message.payload.is_not(None))
            .order_by(Message.id.desc())
            .limit(recent)
        ).scalars()
        return {
            button["payload"]
            for payload in payloads
            for button in (payload or {}).get("buttons", [])
            if isinstance(button, dict) and isinstance(button.get("payload"), str)
        }


def set_language(db: Database, conversation_id: str, *, choice: str | None = None, current: str | None = None) -> None:
    values: dict[str, Any] = {}
    if choice is not None:
        values["language_choice"] = choice or None
    if current is not None:
        values["language"] = current
    if values:
        with db.transaction() as session:
            session.execute(sa.update(Conversation).where(Conversation.id == conversation_id).values(**values))
