"""Staff TOTP secrets sealed at rest (AES-256-GCM, bot.handoff.totp.SecretBox): a wider column, and every secret
stored in clear so far sealed in place, with TOTP_ENCRYPTION_KEY (or the key derived from SECRET_KEY) of the
environment the migration runs in, which must be the gateway's. A caller may pass the key as
`config.attributes["totp_encryption_key"]` (bot.db.migrate.upgrade does when given one).

Revision ID: 0006_sealed_totp_secrets
Revises: 0005_staff_security
Create Date: 2026-12-01
"""

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import context, op

if TYPE_CHECKING:
    from bot.handoff.totp import SecretBox

revision = "0006_sealed_totp_secrets"
down_revision = "0005_staff_security"
branch_labels = None
depends_on = None

staff_users = sa.table("staff_users", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))


def _box() -> "SecretBox":
    """The SecretBox of this environment; settings are read only when a row needs it (an empty table needs none)."""
    from bot.handoff.totp import SecretBox

    key = context.config.attributes.get("totp_encryption_key")
    if not key:
        from bot.core.settings import load_settings

        key = load_settings().totp_encryption_key
    return SecretBox(key)


def _enrolled() -> list[tuple[int, str]]:
    query = sa.select(staff_users.c.id, staff_users.c.totp_secret).where(staff_users.c.totp_secret.isnot(None))
    return [(row.id, row.totp_secret) for row in op.get_bind().execute(query)]


def _store(user_id: int, value: str) -> None:
    op.get_bind().execute(sa.update(staff_users).where(staff_users.c.id == user_id).values(totp_secret=value))


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(64), type_=sa.String(255), existing_nullable=True)
    rows = [(user_id, value) for user_id, value in _enrolled() if not value.startswith("gcm1:")]
    if rows:
        box = _box()
        for user_id, value in rows:
            _store(user_id, box.seal(value, user_id))


def downgrade() -> None:
    rows = _enrolled()
    if rows:
        box = _box()
        for user_id, value in rows:
            _store(user_id, box.open(value, user_id) if box.is_sealed(value) else value)
    with op.batch_alter_table("staff_users") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=True)
