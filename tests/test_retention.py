"""Data minimisation: transcripts idle for RETENTION_DAYS are deleted (assistant database and Rasa's tracker
store); an applicant can download and delete their own conversation, authorised by its own token only; demo
data only when asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from bot.conversations import retention, store
from bot.db import Database
from bot.db.models import Conversation, Message, Ticket
from bot.gateway.keys import DB
from bot.handoff import tickets
from tests.gateway_support import ChatClient

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=timezone.utc)


def tracker_store(path: Path, rows: list[tuple[str, float]]) -> str:
    """A tracker store with Rasa's `events` table (the columns that matter here)."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, timestamp REAL, data TEXT)")
        )
    engine.dispose()
    add_events(url, rows)
    return url


def add_events(url: str, rows: list[tuple[str, float]]) -> None:
    engine = sa.create_engine(url, future=True)
    with engine.begin() as connection:
        for sender, moment in rows:
            connection.execute(
                sa.text("INSERT INTO events (sender_id, timestamp, data) VALUES (:s, :t, '{}')"),
                {"s": sender, "t": moment},
            )
    engine.dispose()


def senders(url: str) -> list[str]:
    engine = sa.create_engine(url, future=True)
    with engine.connect() as connection:
        found = sorted({row[0] for row in connection.execute(sa.text("SELECT sender_id FROM events"))})
    engine.dispose()
    return found


def aged(db: Database, conversation_id: str, when: datetime) -> None:
    with db.transaction() as session:
        session.execute(
            sa.update(Conversation).where(Conversation.id == conversation_id).values(updated_at=when, created_at=when)
        )
        session.execute(sa.update(Message).where(Message.conversation_id == conversation_id).values(created_at=when))


def test_retention_deletes_idle_transcripts_everywhere(db: Database, tmp_path: Path) -> None:
    old, recent, old_but_active = (store.open_conversation(db, None).id for _ in range(3))
    for conversation in (old, recent, old_but_active):
        store.record_user_message(db, conversation, "hello", None)
    tickets.open_ticket(db, old, "asked", "en", None, True)
    aged(db, old, NOW - timedelta(days=200))
    aged(db, old_but_active, NOW - timedelta(days=200))
    store.record_user_message(db, old_but_active, "still here", None)  # a message today keeps it
    url = tracker_store(
        tmp_path / "tracker.db",
        [(old, (NOW - timedelta(days=200)).timestamp()), (recent, NOW.timestamp()), ("rest-only", 1.0)],
    )
    purged = retention.purge(db, url, 180, clock=lambda: NOW)
    assert purged.conversations == 1 and purged.tracker_events == 2
    with db.transaction() as session:
        left = set(session.execute(sa.select(Conversation.id)).scalars())
        orphans = session.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one()
    assert left == {recent, old_but_active} and orphans == 0
    assert senders(url) == [recent]
    assert retention.purge(db, url, 0, clock=lambda: NOW) == retention.Purged(0, 0)  # 0 keeps everything


async def test_an_applicant_downloads_and_deletes_their_own_conversation(gateway_factory, rasa, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = tracker_store(tmp_path / "tracker.db", [])
    gateway = await gateway_factory(TRACKER_STORE_URL=url)
    client = ChatClient(await gateway.ws_connect("/ws"))
    welcome = await client.hello()
    conversation = welcome["conversation"]
    await client.send({"type": "message", "id": "1", "text": "<b>my question</b>"})
    await client.bot_reply()
    other = store.open_conversation(gateway.app[DB], None).id

    assert (await gateway.get("/api/conversation/export")).status == 404
    wrong = await gateway.get("/api/conversation/export", headers={"Authorization": "Bearer " + "0" * 48})
    assert wrong.status == 404
    own = await gateway.get("/api/conversation/export", headers={"Authorization": f"Bearer {conversation}"})
    assert own.status == 200 and own.headers["Cache-Control"] == "no-store"
    data = json.loads(await own.text())
    assert data["conversation"] == conversation
    assert [m["text"] for m in data["messages"]] == ["<b>my question</b>", "echo: <b>my question</b>"]

    add_events(url, [(conversation, 1.0), (other, 1.0)])
    deleted = await gateway.delete("/api/conversation", headers={"Authorization": f"Bearer {conversation}"})
    assert deleted.status == 200
    assert (await client.next("deleted"))["type"] == "deleted"  # open tabs hear it
    assert store.get_conversation(gateway.app[DB], conversation) is None
    assert store.get_conversation(gateway.app[DB], other) is not None
    assert senders(url) == [other]
    again = await gateway.delete("/api/conversation", headers={"Authorization": f"Bearer {conversation}"})
    assert again.status == 404


async def test_the_bureaus_pages_may_call_the_endpoints_others_not(gateway) -> None:  # type: ignore[no-untyped-def]
    allowed = await gateway.options(
        "/api/conversation",
        headers={"Origin": "https://bureau.example.gov.cn", "Access-Control-Request-Method": "DELETE"},
    )
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://bureau.example.gov.cn"
    other = await gateway.options(
        "/api/conversation", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "DELETE"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_demo_data_only_when_asked_for(tmp_path: Path) -> None:
    from bot.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'prod.db'}"
    upgrade(url)
    env = {"VAR_DIR": str(tmp_path), "DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
    refused = subprocess.run([sys.executable, "-m", "bot", "seed-demo"], env=env, capture_output=True, text=True)
    database = Database(url)
    with database.transaction() as session:
        count = session.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
        staff = session.execute(sa.text("SELECT count(*) FROM staff_users")).scalar_one()
    assert refused.returncode == 2 and "--demo" in refused.stderr and count == 0 and staff == 0
    asked = subprocess.run(
        [sys.executable, "-m", "bot", "seed-demo", "--demo"], env=env, capture_output=True, text=True
    )
    with database.transaction() as session:
        count = session.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    database.dispose()
    assert asked.returncode == 0 and count == 13
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "seed-demo --demo" in makefile  # `make run` asks for it explicitly
