"""Staff security: a TOTP second factor, idle timeout of sessions, login throttling per client address.

Revision ID: 0005_staff_security
Revises: 0004_privacy
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_staff_security"
down_revision = "0004_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger, nullable=True))
    with op.batch_alter_table("staff_sessions") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE staff_sessions SET last_seen_at = created_at")
    with op.batch_alter_table("staff_sessions") as batch:
        batch.alter_column("last_seen_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_table(
        "staff_login_throttle",
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("staff_login_throttle")
    with op.batch_alter_table("staff_sessions") as batch:
        batch.drop_column("last_seen_at")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
