"""Case form state held by the gateway (keyed hashes, never a typed number in clear); lookup attempts keyed
the same way. The old `pending_verification` column and the old attempts (whose `application_number` may hold a
passport typed in the wrong field) are dropped.

Revision ID: 0004_privacy
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_privacy"
down_revision = "0003"
branch_labels = None
depends_on = None

OUTCOMES = ("ok", "mismatch", "not_found", "locked", "bad_format", "pending", "wait", "throttled")
OLD_OUTCOMES = ("ok", "mismatch", "not_found", "locked", "bad_format")


def _attempts(number_column: sa.Column, outcomes: tuple[str, ...]) -> None:
    op.create_table(
        "lookup_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        number_column,
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"outcome IN {outcomes}", name="ck_lookup_attempts_outcome"),
    )
    op.create_index("ix_lookup_attempts_conversation_id", "lookup_attempts", ["conversation_id"])
    op.create_index(f"ix_lookup_attempts_{number_column.name}", "lookup_attempts", [number_column.name])
    op.create_index("ix_lookup_attempts_at", "lookup_attempts", ["at"])


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("pending_verification")
    op.drop_table("lookup_attempts")
    _attempts(sa.Column("number_key", sa.String(64), nullable=True), OUTCOMES)
    op.create_table(
        "case_checks",
        sa.Column(
            "conversation_id",
            sa.String(64),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(40), nullable=True, unique=True),
        sa.Column("number_key", sa.String(64), nullable=True),
        sa.Column("masked", sa.String(40), nullable=True),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("step IN ('number', 'passport', 'done')", name="ck_case_checks_step"),
    )


def downgrade() -> None:
    op.drop_table("case_checks")
    op.drop_table("lookup_attempts")
    _attempts(sa.Column("application_number", sa.String(32), nullable=False), OLD_OUTCOMES)
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("pending_verification", sa.String(32), nullable=True))
