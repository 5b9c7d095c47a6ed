"""Pending passport checks; cases, stage history, material requests, lookup audit, verifications, API tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STAGES = (
    "submitted",
    "preliminary_review",
    "materials_requested",
    "accepted",
    "under_review",
    "approved",
    "not_approved",
    "card_ready",
    "collected",
    "cancelled",
)
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
OUTCOMES = ("ok", "mismatch", "not_found", "locked", "bad_format")


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("pending_verification", sa.String(32), nullable=True))
    op.create_table(
        "employers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("credit_code", sa.String(32), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_number", sa.String(32), nullable=False, unique=True),
        sa.Column("procedure", sa.String(40), nullable=False),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("applicant_name", sa.String(200), nullable=False),
        sa.Column("nationality", sa.String(100), nullable=False),
        sa.Column("passport_hash", sa.String(200), nullable=False),
        sa.Column("employer_id", sa.Integer, sa.ForeignKey("employers.id"), nullable=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("stage_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"stage IN {STAGES}", name="ck_cases_stage"),
        sa.CheckConstraint(f"procedure IN {PROCEDURES}", name="ck_cases_procedure"),
        sa.CheckConstraint(f"category IN {CATEGORIES}", name="ck_cases_category"),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("to_stage", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('created', 'stage', 'materials', 'resolved')", name="ck_case_events_kind"),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "missing_materials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_missing_materials_case_id", "missing_materials", ["case_id"])
    op.create_table(
        "lookup_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("application_number", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"outcome IN {OUTCOMES}", name="ck_lookup_attempts_outcome"),
    )
    op.create_index("ix_lookup_attempts_conversation_id", "lookup_attempts", ["conversation_id"])
    op.create_index("ix_lookup_attempts_application_number", "lookup_attempts", ["application_number"])
    op.create_index("ix_lookup_attempts_at", "lookup_attempts", ["at"])
    op.create_table(
        "case_verifications",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_verifications_conversation_id", "case_verifications", ["conversation_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    for table in ("api_tokens", "case_verifications", "lookup_attempts", "missing_materials", "case_events", "cases"):
        op.drop_table(table)
    op.drop_table("employers")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("pending_verification")
