"""Tables of the assistant. Constraints live in the schema; Alembic migrations in `bot/db/migrations` create it."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

CONVERSATION_STATES = ("bot", "queued", "assigned", "resolved")
MESSAGE_ROLES = ("user", "bot", "staff", "system")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Conversation(Base):
    """One applicant's chat; its id is also the Rasa sender id. Knowing the id is what grants access."""

    __tablename__ = "conversations"

    id = sa.Column(sa.String(64), primary_key=True)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
    channel = sa.Column(sa.String(16), nullable=False, default="web")
    # Language the user picked explicitly (toggle, /lang); None means "answer in the language asked".
    language_choice = sa.Column(sa.String(8), nullable=True)
    # Language of the latest answer, for messages that carry none (emoji, digits).
    language = sa.Column(sa.String(8), nullable=True)
    state = sa.Column(sa.String(16), nullable=False, default="bot")

    messages = relationship("Message", back_populates="conversation", order_by="Message.id")

    __table_args__ = (
        sa.CheckConstraint(f"state IN {CONVERSATION_STATES}", name="ck_conversations_state"),
        sa.CheckConstraint("language_choice IS NULL OR language_choice IN ('en', 'zh')", name="ck_conversations_lang"),
    )


class Message(Base):
    """Everything said in a conversation, by anyone, in order. `id` is the sequence clients resume from."""

    __tablename__ = "messages"

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_id = sa.Column(
        sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role = sa.Column(sa.String(16), nullable=False)
    # Id the client gave the message; a resend with the same id is recognised instead of stored twice.
    client_id = sa.Column(sa.String(64), nullable=True)
    text = sa.Column(sa.Text, nullable=False, default="")
    # Buttons, custom payloads and other structured content, as JSON.
    payload = sa.Column(sa.JSON, nullable=True)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    # For user messages: when the bot (or staff) received it. NULL means still to deliver.
    delivered_at = sa.Column(sa.DateTime(timezone=True), nullable=True)

    conversation = relationship("Conversation", back_populates="messages")

    __table_args__ = (
        sa.CheckConstraint(f"role IN {MESSAGE_ROLES}", name="ck_messages_role"),
        sa.UniqueConstraint("conversation_id", "client_id", name="uq_messages_client_id"),
        sa.Index("ix_messages_undelivered", "role", "delivered_at"),
    )
