"""Tables of the assistant. Constraints live in the schema; Alembic migrations in `bot/db/migrations` create it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base, relationship

from bot.cases.stages import default_procedures

# SQLAlchemy 1.4 is untyped here (its stubs need a mypy plugin): the declarative base is a class mypy cannot see.
Base: Any = declarative_base()

CONVERSATION_STATES = ("bot", "queued", "assigned", "resolved")
MESSAGE_ROLES = ("user", "bot", "staff", "system")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(sa.types.TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite forgets the zone; PostgreSQL
    keeps it), so no caller has to patch naive datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Conversation(Base):
    """One applicant's chat; its id is also the Rasa sender id. Knowing the id is what grants access."""

    __tablename__ = "conversations"

    id = sa.Column(sa.String(64), primary_key=True)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)
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
    payload = sa.Column(sa.JSON(none_as_null=True), nullable=True)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    # For user messages: when the bot (or staff) received it. NULL means still to deliver.
    delivered_at = sa.Column(UtcDateTime, nullable=True)
    # For staff messages: the display name of who wrote it.
    author = sa.Column(sa.String(100), nullable=True)

    conversation = relationship("Conversation", back_populates="messages")

    __table_args__ = (
        sa.CheckConstraint(f"role IN {MESSAGE_ROLES}", name="ck_messages_role"),
        sa.UniqueConstraint("conversation_id", "client_id", name="uq_messages_client_id"),
        sa.Index("ix_messages_undelivered", "role", "delivered_at"),
    )


# -- cases ------------------------------------------------------------------------------------------------------
# The stages are knowledge/procedures.yml's, in its order; the schema refuses anything else (a new stage needs a
# migration too: tests/test_migrations.py compares the migrated schema with these models).
STAGES = tuple(default_procedures().stage_labels)
PROCEDURES = (
    "notification_letter",
    "work_permit_after_entry",
    "apply_inside_china",
    "change_employer",
    "extension",
    "change_info",
    "cancellation",
    "replacement",
)
CATEGORIES = ("A", "B", "C", "unknown")
# `pending`: counted while the passport is being checked, so parallel checks cannot exceed a limit; `wait`: the
# number's backoff had not elapsed; `throttled`: the client address made too many checks.
LOOKUP_OUTCOMES = ("ok", "mismatch", "not_found", "locked", "bad_format", "pending", "wait", "throttled")
CASE_CHECK_STEPS = ("number", "passport", "done")


class Employer(Base):
    __tablename__ = "employers"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(300), nullable=False)
    credit_code = sa.Column(sa.String(32), nullable=True, unique=True)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)


class Case(Base):
    """An application. The passport number is only ever stored as a salted, peppered Argon2 hash."""

    __tablename__ = "cases"

    id = sa.Column(sa.Integer, primary_key=True)
    application_number = sa.Column(sa.String(32), nullable=False, unique=True)
    procedure = sa.Column(sa.String(40), nullable=False)
    category = sa.Column(sa.String(8), nullable=False, default="unknown")
    applicant_name = sa.Column(sa.String(200), nullable=False)
    nationality = sa.Column(sa.String(100), nullable=False, default="")
    passport_hash = sa.Column(sa.String(200), nullable=False)
    employer_id = sa.Column(sa.Integer, sa.ForeignKey("employers.id"), nullable=True)
    stage = sa.Column(sa.String(32), nullable=False, default="submitted")
    stage_since = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    submitted_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    employer = relationship("Employer")
    events = relationship("CaseEvent", back_populates="case", order_by="CaseEvent.id")
    missing = relationship("MissingMaterial", back_populates="case", order_by="MissingMaterial.id")

    __table_args__ = (
        sa.CheckConstraint(f"stage IN {STAGES}", name="ck_cases_stage"),
        sa.CheckConstraint(f"procedure IN {PROCEDURES}", name="ck_cases_procedure"),
        sa.CheckConstraint(f"category IN {CATEGORIES}", name="ck_cases_category"),
    )


class CaseEvent(Base):
    """Every stage change and material request: who, when, from what to what."""

    __tablename__ = "case_events"

    id = sa.Column(sa.Integer, primary_key=True)
    case_id = sa.Column(sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = sa.Column(sa.String(20), nullable=False, default="stage")
    from_stage = sa.Column(sa.String(32), nullable=True)
    to_stage = sa.Column(sa.String(32), nullable=True)
    actor = sa.Column(sa.String(100), nullable=False)
    note = sa.Column(sa.Text, nullable=False, default="")
    at = sa.Column(UtcDateTime, nullable=False, default=utcnow)

    case = relationship("Case", back_populates="events")

    __table_args__ = (
        sa.CheckConstraint("kind IN ('created', 'stage', 'materials', 'resolved')", name="ck_case_events_kind"),
    )


class MissingMaterial(Base):
    __tablename__ = "missing_materials"

    id = sa.Column(sa.Integer, primary_key=True)
    case_id = sa.Column(sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    item = sa.Column(sa.Text, nullable=False)
    requested_by = sa.Column(sa.String(100), nullable=False)
    requested_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    resolved_at = sa.Column(UtcDateTime, nullable=True)

    case = relationship("Case", back_populates="missing")


class LookupAttempt(Base):
    """Audit of every case lookup by an applicant; also the counter behind the lockouts. The number typed is
    kept only as a keyed hash (it may have been a passport number typed in the wrong field)."""

    __tablename__ = "lookup_attempts"

    id = sa.Column(sa.Integer, primary_key=True)
    conversation_id = sa.Column(sa.String(64), nullable=False, index=True)
    number_key = sa.Column(sa.String(64), nullable=True, index=True)
    case_id = sa.Column(sa.Integer, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True)
    outcome = sa.Column(sa.String(16), nullable=False)
    at = sa.Column(UtcDateTime, nullable=False, default=utcnow, index=True)

    __table_args__ = (sa.CheckConstraint(f"outcome IN {LOOKUP_OUTCOMES}", name="ck_lookup_attempts_outcome"),)


class CaseCheck(Base):
    """The case form of one conversation, held by the gateway: which step it is at (the number, then the passport)
    and the number entered, only as a keyed hash, a mask and the case it names. Rasa sees only `ref`."""

    __tablename__ = "case_checks"

    conversation_id = sa.Column(sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    step = sa.Column(sa.String(16), nullable=False)
    ref = sa.Column(sa.String(40), nullable=True, unique=True)
    number_key = sa.Column(sa.String(64), nullable=True)
    masked = sa.Column(sa.String(40), nullable=True)
    valid = sa.Column(sa.Boolean, nullable=False, default=False)
    case_id = sa.Column(sa.Integer, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True)
    updated_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)

    __table_args__ = (sa.CheckConstraint(f"step IN {CASE_CHECK_STEPS}", name="ck_case_checks_step"),)


class CaseVerification(Base):
    """Proof, for one conversation and a short time, that its user gave the right passport number for a case."""

    __tablename__ = "case_verifications"

    token = sa.Column(sa.String(64), primary_key=True)
    conversation_id = sa.Column(sa.String(64), nullable=False, index=True)
    case_id = sa.Column(sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(UtcDateTime, nullable=False)


class ApiToken(Base):
    """Tokens for the staff JSON API (created with the CLI; only a hash is kept)."""

    __tablename__ = "api_tokens"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(100), nullable=False)
    token_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    revoked_at = sa.Column(UtcDateTime, nullable=True)


# -- staff and handoff -------------------------------------------------------------------------------------------
STAFF_ROLES = ("staff", "admin")
TICKET_STATUSES = ("queued", "assigned", "resolved")
RESOLUTION_REASONS = ("answered", "referred", "duplicate", "no_response", "out_of_scope", "other")


class StaffUser(Base):
    """A staff member of the bureau. Passwords are Argon2id hashes; repeated failures lock the account."""

    __tablename__ = "staff_users"

    id = sa.Column(sa.Integer, primary_key=True)
    username = sa.Column(sa.String(64), nullable=False, unique=True)
    display_name = sa.Column(sa.String(100), nullable=False)
    password_hash = sa.Column(sa.String(200), nullable=False)
    role = sa.Column(sa.String(16), nullable=False, default="staff")
    active = sa.Column(sa.Boolean, nullable=False, default=True)
    failed_logins = sa.Column(sa.Integer, nullable=False, default=0)
    locked_until = sa.Column(UtcDateTime, nullable=True)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    # Optional second factor (RFC 6238 TOTP, enrolled from the CLI); the last accepted time step refuses replays.
    totp_secret = sa.Column(sa.String(255), nullable=True)  # sealed: bot.handoff.totp.SecretBox
    totp_last_step = sa.Column(sa.BigInteger, nullable=True)

    __table_args__ = (sa.CheckConstraint(f"role IN {STAFF_ROLES}", name="ck_staff_users_role"),)


class StaffSession(Base):
    """A logged-in browser: the cookie carries a random token, the table only its SHA-256."""

    __tablename__ = "staff_sessions"

    token_hash = sa.Column(sa.String(64), primary_key=True)
    user_id = sa.Column(sa.Integer, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(UtcDateTime, nullable=False)
    # Idle timeout: a session unused for STAFF_IDLE_MINUTES ends, whatever its absolute expiry.
    last_seen_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)


class StaffLoginThrottle(Base):
    """Login attempts per client address in a fixed window, counted atomically before any password is checked."""

    __tablename__ = "staff_login_throttle"

    address = sa.Column(sa.String(64), primary_key=True)
    window_start = sa.Column(UtcDateTime, nullable=False)
    attempts = sa.Column(sa.Integer, nullable=False)


class Ticket(Base):
    """A conversation handed to staff: queued → assigned (claimed by exactly one person) → resolved."""

    __tablename__ = "tickets"

    id = sa.Column(sa.Integer, primary_key=True)
    conversation_id = sa.Column(
        sa.String(64), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status = sa.Column(sa.String(16), nullable=False, default="queued")
    reason = sa.Column(sa.String(32), nullable=False)
    language = sa.Column(sa.String(8), nullable=False, default="en")
    topic = sa.Column(sa.String(64), nullable=True)
    summary = sa.Column(sa.Text, nullable=False, default="")
    case_number = sa.Column(sa.String(32), nullable=True)
    office_open = sa.Column(sa.Boolean, nullable=False, default=True)
    contact = sa.Column(sa.String(200), nullable=True)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow, index=True)
    assigned_to = sa.Column(sa.Integer, sa.ForeignKey("staff_users.id"), nullable=True)
    assigned_at = sa.Column(UtcDateTime, nullable=True)
    resolved_at = sa.Column(UtcDateTime, nullable=True)
    resolved_by = sa.Column(sa.Integer, sa.ForeignKey("staff_users.id"), nullable=True)
    resolution_reason = sa.Column(sa.String(32), nullable=True)
    resolution_note = sa.Column(sa.Text, nullable=True)
    guide_gap = sa.Column(sa.Boolean, nullable=False, default=False)
    satisfaction = sa.Column(sa.Integer, nullable=True)

    assignee = relationship("StaffUser", foreign_keys=[assigned_to])

    __table_args__ = (
        sa.CheckConstraint(f"status IN {TICKET_STATUSES}", name="ck_tickets_status"),
        sa.CheckConstraint(
            f"resolution_reason IS NULL OR resolution_reason IN {RESOLUTION_REASONS}", name="ck_tickets_resolution"
        ),
        sa.CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="ck_tickets_satisfaction"),
        sa.CheckConstraint("status != 'assigned' OR assigned_to IS NOT NULL", name="ck_tickets_assignee"),
    )


class TicketNote(Base):
    """Private notes of staff on a ticket; never shown to the applicant."""

    __tablename__ = "ticket_notes"

    id = sa.Column(sa.Integer, primary_key=True)
    ticket_id = sa.Column(sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    author_id = sa.Column(sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False)
    text = sa.Column(sa.Text, nullable=False)
    created_at = sa.Column(UtcDateTime, nullable=False, default=utcnow)


class WebhookDelivery(Base):
    """Outbox of notifications to the staff webhook, retried with backoff so chat never waits for it."""

    __tablename__ = "webhook_deliveries"

    id = sa.Column(sa.Integer, primary_key=True)
    ticket_id = sa.Column(sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    body = sa.Column(sa.JSON, nullable=False)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    next_attempt_at = sa.Column(UtcDateTime, nullable=False, default=utcnow, index=True)
    delivered_at = sa.Column(UtcDateTime, nullable=True)
    last_error = sa.Column(sa.Text, nullable=True)
