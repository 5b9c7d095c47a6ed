"""Alembic owns the schema: `upgrade head` on empty SQLite and PostgreSQL gives exactly the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import Database
from bot.db.models import Base


def test_upgrade_head_matches_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = [d for d in compare_metadata(context, Base.metadata) if not _ignorable(d)]
    assert differences == []


def _ignorable(difference) -> bool:  # type: ignore[no-untyped-def]
    # SQLite reflects no check constraints and names unique constraints itself.
    return isinstance(difference, tuple) and difference[0] in ("remove_constraint", "add_constraint")


def test_schema_refuses_bad_states(db: Database) -> None:
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as session:
        session.execute(
            sa.text(
                "INSERT INTO conversations (id, created_at, updated_at, channel, state) "
                "VALUES ('x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'web', 'sleeping')"
            )
        )
