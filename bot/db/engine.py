"""Engine and session factory, created once per process from settings (never a global session)."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> sa.engine.Engine:
    """Errors and logs never show bound parameters (`hide_parameters`): they are message texts, tokens and
    identifiers typed by applicants. SQLite gets WAL and a busy timeout so the gateway and the action server can
    write side by side, and (for a file) a connection pool: SQLAlchemy 1.4 would otherwise open and set up a new
    connection for every transaction."""
    if url.startswith("sqlite"):
        pooled = {} if url in ("sqlite://", "sqlite:///:memory:") else {"poolclass": sa.pool.QueuePool, "pool_size": 5}
        engine = sa.create_engine(
            url,
            future=True,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 15},
            **pooled,
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    return sa.create_engine(url, future=True, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """Owns the engine and hands out sessions, one per unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """`with db.transaction() as s:` commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
