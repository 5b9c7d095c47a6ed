"""Alembic environment: the URL comes from the caller (`bot.db.migrate`) or from settings."""

from __future__ import annotations

from alembic import context

from bot.db.engine import make_engine
from bot.db.models import Base

config = context.config


def _database_url() -> str:
    """The caller's URL (`bot.db.migrate`), else the one in settings (read only then)."""
    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    from bot.core.settings import load_settings

    return load_settings().database_url


url = _database_url()


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        # Batch mode lets later migrations alter tables on SQLite too.
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
