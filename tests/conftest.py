"""Shared fixtures: throwaway databases (SQLite always, PostgreSQL on 127.0.0.1:5432 when present) and the real
stack (rasa + actions + gateway) on free ports for end-to-end tests."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from bot.conversations import limits, router
from bot.core.settings import load_settings
from bot.db import Database
from bot.db.migrate import upgrade
from bot.gateway.app import create_app
from tests.gateway_support import ScriptedRasa

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, future=True)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = "etown_test_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as connection:
        connection.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
        )
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    """The local Redis (database 15, emptied first) for the tests of several gateways sharing it."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    finally:
        client.close()
    return REDIS_TEST_URL


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'etown.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = _sqlite_url(tmp_path)
        upgrade(url)
        database = Database(url)
        yield database
        database.dispose()
        return
    base = request.getfixturevalue("postgres_url")
    schema = "t_" + secrets.token_hex(4)
    admin = sa.create_engine(base, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}?options=-csearch_path%3D{schema}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    url = _sqlite_url(tmp_path)
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real assistant: trained model, action server, Rasa server and gateway, on free local ports."""
    from bot.processes.stack import private_stack
    from bot.rasa.training import MODEL

    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it first)")
    # Staff are always "in" for these tests; office hours have their own tests with a fixed clock. Every test
    # connects from 127.0.0.1: the per-address caps (tested in test_limits.py) are raised for the session.
    # http://bureau.test stands for the bureau's own site embedding the widget (tests/test_browser_widget.py).
    generous = {"NEW_CONVERSATIONS_PER_HOUR": "100000", "HANDOFFS_PER_HOUR": "100000", "LOOKUPS_PER_HOUR": "100000"}
    extra = {"OFFICE_HOURS": "always", "ALLOWED_ORIGINS": "http://bureau.test", **generous}
    with private_stack(tmp_path_factory.mktemp("stack"), extra) as running:
        yield running


@pytest.fixture
async def rasa(aiohttp_server):  # type: ignore[no-untyped-def]
    scripted = ScriptedRasa()
    server = await aiohttp_server(scripted.app())
    scripted.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return scripted


@pytest.fixture
def gateway_factory(aiohttp_client, rasa, tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    """Builds a gateway test client on a fresh SQLite database, talking to the scripted Rasa."""

    async def make(**env: str):  # type: ignore[no-untyped-def]
        url = f"sqlite:///{tmp_path / 'gw.db'}"
        upgrade(url)
        settings = {
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": url,
            "RASA_URL": rasa.url,
            "ACTION_ENDPOINT": rasa.url + "/webhook",
            "MESSAGES_PER_MINUTE": "600",
            "ALLOWED_ORIGINS": "https://bureau.example.gov.cn",
            **env,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return await aiohttp_client(create_app(load_settings(), retry_in_background=False))

    return make


@pytest.fixture
def frozen_limit_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gateways built after this count their limits on a clock that stands still. The windows are fixed minutes
    of the clock, and a test whose frames straddle the end of one sees its count start again (a fresh-clone run,
    2 December: the fifth message of a 4-a-minute limit was answered). The windows' own reset has a unit test."""
    frozen = time.time()

    def make(url: str) -> limits.Limiter:
        return limits.RedisLimiter(url, clock=lambda: frozen) if url else limits.Limiter(clock=lambda: frozen)

    monkeypatch.setattr(router, "make_limiter", make)


@pytest.fixture
async def gateway(gateway_factory):  # type: ignore[no-untyped-def]
    return await gateway_factory()
