"""Database: one engine and sessionmaker per process, models, Alembic migrations."""

from bot.db.engine import Database, make_engine

__all__ = ["Database", "make_engine"]
