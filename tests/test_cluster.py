"""The cluster profile (`python -m bot run --cluster`): deploy/ is consistent and valid, the command refuses what
cannot work, and, with real OS processes on loopback, faults injected while conversations are live: kill -9 of a
gateway mid-turn, of a Rasa server, of the action server; Redis restarted; the database unreachable for a few
seconds. After each, every message is stored once and answered once, no ticket is lost or doubled, the staff
console answers, and nothing waited forever."""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import subprocess
import time
import zlib
from pathlib import Path

import aiohttp
import pytest

from bot.core.settings import PROJECT_ROOT
from bot.processes import cluster

HAPROXY_ENV = {"ETOWN_HAPROXY_BIND": "127.0.0.1:1", "ETOWN_GATEWAY_1": "127.0.0.1:2", "ETOWN_GATEWAY_2": "127.0.0.1:3"}


def haproxy_check(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [cluster.haproxy_binary(), "-c", "-f", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_deploy_haproxy_config_is_valid_and_is_what_two_gateways_run(tmp_path: Path) -> None:
    assert cluster.haproxy_config(2, tmp_path) == cluster.HAPROXY_CFG  # the file itself, not a copy
    result = haproxy_check(cluster.HAPROXY_CFG, HAPROXY_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_more_gateways_get_one_server_line_each(tmp_path: Path) -> None:
    rendered = cluster.haproxy_config(3, tmp_path)
    assert rendered.parent == tmp_path
    servers = re.findall(r'^\s*server (gateway-\d) "\$\{(ETOWN_GATEWAY_\d)\}" check', rendered.read_text(), re.M)
    assert servers == [(f"gateway-{n}", f"ETOWN_GATEWAY_{n}") for n in (1, 2, 3)]
    result = haproxy_check(rendered, {**HAPROXY_ENV, "ETOWN_GATEWAY_3": "127.0.0.1:4"})
    assert result.returncode == 0, result.stdout + result.stderr
    without = haproxy_check(rendered, HAPROXY_ENV)  # a gateway's address missing: HAProxy refuses to start
    assert without.returncode != 0


def test_units_target_env_example_and_haproxy_agree() -> None:
    env = cluster.read_env_file(cluster.ENV_EXAMPLE)
    rasa_ports = [url.rsplit(":", 1)[1] for url in env["RASA_URL"].split(",")]
    first = int(env["GATEWAY_PORT"])
    target = (cluster.UNITS / "etown.target").read_text()
    wanted = " ".join(line.removeprefix("Wants=") for line in target.splitlines() if line.startswith("Wants="))
    assert sorted(re.findall(r"etown-rasa@(\d+)\.service", wanted)) == sorted(rasa_ports)
    assert re.findall(r"etown-gateway@(\d+)\.service", wanted) == [str(first), str(first + 1)]
    assert cluster.HAPROXY_CFG.read_text().count("    server gateway-") == 2
    assert env["PUBLIC_URL"].endswith(":" + env["HAPROXY_PORT"])
    for unit in ("etown-actions.service", "etown-migrate.service"):
        assert cluster.unit_command(unit)[1:3] == ["-m", "bot"]
    assert cluster.unit_command("etown-gateway@.service", "8081")[-3:] == ["gateway", "--port", "8081"]
    with pytest.raises(cluster.ClusterError):
        cluster.unit_command("etown-rasa@.service")  # a template needs its instance
    readme = (PROJECT_ROOT / "README.md").read_text()
    for name in env:
        assert f"`{name}`" in readme, f"{name} (deploy/etown.env.example) is not in the README's table"


def test_the_cluster_refuses_the_embedded_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core.settings import load_settings

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(cluster.ClusterError, match="DATABASE_URL on PostgreSQL"):
        cluster.check_settings(load_settings())
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/x")
    monkeypatch.setenv("TRACKER_STORE_URL", "postgresql://postgres@127.0.0.1/x")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(cluster.ClusterError, match="REDIS_URL"):
        cluster.check_settings(load_settings())


def test_environment_file_values_yield_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "etown.env"
    path.write_text("# comment\nA_ONE=from-file\nA_TWO='quoted value'\n\nA_THREE=file\n")
    monkeypatch.setenv("A_THREE", "environment")
    env = cluster.cluster_environment(path)
    assert (env["A_ONE"], env["A_TWO"], env["A_THREE"]) == ("from-file", "quoted value", "environment")


@pytest.mark.postgres
def test_the_command_creates_its_database_once() -> None:
    import sqlalchemy as sa

    from tests.conftest import PG_ADMIN_URL, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"etown_cluster_{secrets.token_hex(4)}"
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        assert cluster.ensure_database(url) is True
        assert cluster.ensure_database(url) is False
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT current_database()")).scalar() == name
        engine.dispose()
    finally:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_the_tcp_proxy_cuts_and_restores(tmp_path: Path) -> None:
    from bot.evaluation.faults import TcpProxy

    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        proxy = TcpProxy("127.0.0.1", server.getsockname()[1])
        try:
            client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            accepted, _ = server.accept()
            client.sendall(b"ping")
            assert accepted.recv(4) == b"ping"
            proxy.cut()
            assert client.recv(4) == b""  # the open connection is gone
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            proxy.restore()
            again = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            server.accept()[0].close()
            again.close()
            client.close()
            accepted.close()
        finally:
            proxy.close()


async def test_a_store_that_is_down_ends_the_connection_with_a_clear_error(gateway, monkeypatch) -> None:
    """What a widget sees while the database is unreachable: an error frame without an id (its unacknowledged
    messages stay pending), then a close that says to try again later; nothing hangs."""
    import sqlalchemy.exc
    from aiohttp import WSCloseCode

    from bot.conversations.router import ChatService
    from tests.gateway_support import ChatClient

    async def unreachable(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    client = ChatClient(await gateway.ws_connect("/ws"))
    await client.hello(None)
    monkeypatch.setattr(ChatService, "accept_text", unreachable)
    await client.send({"type": "message", "id": "m1", "text": "hello?"})
    error = await client.next("error", timeout=10)
    assert error["code"] == "unavailable" and "id" not in error
    closing = await asyncio.wait_for(client.ws.receive(), 10)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == WSCloseCode.TRY_AGAIN_LATER


# -- the real cluster, faults while conversations are live --------------------------------------------------------

CONVERSATIONS = 6
RECOVERY_S = 180  # answers after a fault (a turn waiting for a restarted action server, a Redis lock to expire…)


@pytest.mark.slow
@pytest.mark.faults
async def test_faults_while_conversations_are_live(tmp_path: Path) -> None:
    from bot.db import Database
    from bot.evaluation.faults import STARTUP_S, ClusterRun
    from bot.evaluation.soak import QUESTIONS, account
    from bot.evaluation.widget_client import Turn, WidgetClient
    from bot.handoff import staff_accounts

    if not (PROJECT_ROOT / "models" / "etown.tar.gz").exists():
        pytest.fail("no trained model: run `make train` (make test does it first)")
    figures: list[str] = []
    run = ClusterRun(tmp_path)
    run.start()
    db: Database | None = None
    clients: list[WidgetClient] = []
    asker: WidgetClient | None = None
    try:
        took = await run.until(run.all_up, STARTUP_S, "every process up")
        figures.append(f"cluster up in {took:.0f} s")
        assert "created database " + run.database in run.output.read_text()  # the command made its database
        db = Database(run.direct_url)
        password = secrets.token_urlsafe(16)
        await asyncio.to_thread(staff_accounts.create_staff, db, "faults", "Faults", password)
        async with aiohttp.ClientSession() as session:
            clients = [WidgetClient(run.ws_url, session, f"c{n}") for n in range(CONVERSATIONS)]
            asker = WidgetClient(run.ws_url, session, "asker")  # asks for a person during the faults
            for client in [*clients, asker]:
                client.start()
                await client.until(lambda c=client: c.ws is not None, 60, "a first connection")
            questions = iter(QUESTIONS * 20)

            async def round_of_turns() -> list[tuple[WidgetClient, Turn]]:
                return [(client, await client.say(next(questions))) for client in clients]

            async def all_answered(said: list[tuple[WidgetClient, Turn]], what: str) -> float:
                began = time.monotonic()
                for client, turn in said:
                    try:
                        await client.answered(turn, max(1.0, RECOVERY_S - (time.monotonic() - began)))
                    except TimeoutError as exc:
                        # Say where the turn stopped: never stored, stored but not delivered, or answered in the
                        # database but never shown to the client (a live event lost between gateways).
                        where = await asyncio.to_thread(_turn_in_database, db, client, turn)
                        raise AssertionError(f"{what}: {exc}; {where}\n{run.tail()}") from exc
                took = time.monotonic() - began
                totals = await asyncio.to_thread(account, db, [*clients, asker])
                assert (totals.lost, totals.duplicated) == (0, 0), f"{what}: {totals.line()}\n{totals.problems}"
                return took

            async def staff_console_answers(expected_tickets: int) -> None:
                """Log in through HAProxy and list the queue (each call may land on either gateway)."""
                # unsafe: the session cookie comes from an IP address (127.0.0.1), which aiohttp refuses by default.
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as staff:
                    login = await staff.post(
                        f"{run.public_url}/staff/login", json={"username": "faults", "password": password}
                    )
                    assert login.status == 200, f"{await login.text()}\n{run.log_tail('haproxy')}"
                    listed = await staff.get(f"{run.public_url}/staff/api/tickets")
                    assert listed.status == 200
                    tickets = (await listed.json())["tickets"]
                assert len(tickets) == expected_tickets, tickets
                rows = await asyncio.to_thread(_tickets_by_conversation, db)
                assert all(count == 1 for count in rows.values()) and len(rows) == expected_tickets, rows

            await all_answered(await round_of_turns(), "warm-up")
            await staff_console_answers(0)

            # 1. kill -9 of a gateway in the middle of turns: its clients reconnect through HAProxy to the other.
            by_gateway = {name: [c for c in clients if c.gateway == name] for name in ("gateway-1", "gateway-2")}
            victim = max(by_gateway, key=lambda name: len(by_gateway[name]))
            on_victim = by_gateway[victim]
            said = await round_of_turns()
            await asyncio.wait_for(_first_ack(on_victim, said), 30)
            unanswered = sum(1 for c, t in said if c in on_victim and t.answered_at is None)
            old = run.kill(victim)
            killed = time.monotonic()
            took = await all_answered(said, f"kill -9 {victim}")
            moved = [c for c in on_victim if c.gateways[-1] not in (victim, "?")]
            figures.append(
                f"kill -9 {victim} with {len(on_victim)} connections, {unanswered} turns unanswered on it: all "
                f"{len(said)} turns answered {took:.1f} s later; {len(moved)} clients resumed on the other gateway"
            )
            assert on_victim and unanswered >= 1, "the kill did not hit a turn in flight"
            assert {c.gateways[-1] for c in on_victim} <= {"gateway-1", "gateway-2"} and all(
                c.connections >= 2 for c in on_victim
            )
            await run.until(lambda: run.back(victim, old), RECOVERY_S, f"{victim} restarted")
            figures.append(f"  {victim} restarted by the supervisor {time.monotonic() - killed:.1f} s after the kill")

            # 2. kill -9 of the action server; turns wait for it and are answered once it is back.
            old = run.kill("actions")
            killed = time.monotonic()
            took = await all_answered(await round_of_turns(), "kill -9 actions")
            await run.until(lambda: run.back("actions", old), RECOVERY_S, "actions restarted")
            figures.append(f"kill -9 actions: a round of {len(clients)} turns answered {took:.1f} s after the kill")

            # 3. Redis down, then restarted (our own redis-server): live events, locks, limits come back.
            run.redis.stop()
            said = await round_of_turns()
            await run.until(lambda: _component(run, "redis") == "down", 30, "/health saying Redis is down")
            run.redis.start()
            took = await all_answered(said, "Redis restart")
            await run.until(lambda: _component(run, "redis") == "up", 60, "/health saying Redis is up")
            figures.append(f"Redis stopped and restarted during a round: all answered {took:.1f} s after")

            # 4. The database unreachable (every connection cut, new ones refused), a handoff asked meanwhile.
            run.proxy.cut()
            cut = time.monotonic()
            said = await round_of_turns()
            handoff = await asker.ask_for_person()
            began = time.monotonic()
            health = await asyncio.to_thread(_health, run)
            figures.append(f"  /health with the database cut answered in {time.monotonic() - began:.1f} s: {health}")
            assert health[0] == 503 and health[1].get("database") == "down"
            await asyncio.sleep(3)  # the outage itself lasts this long; what it did is checked once it is over
            run.proxy.restore()
            took = await all_answered([*said, (asker, handoff)], "database cut")
            told = sum(1 for c in clients for e in c.errors if e.get("code") == "unavailable")
            figures.append(f"  {told} 'briefly unavailable' errors sent to clients during the cut")
            assert told >= 1
            figures.append(f"database cut {time.monotonic() - cut - took:.1f} s: all answered {took:.1f} s after")
            await staff_console_answers(1)

            # 5. kill -9 of a Rasa server: its conversations continue on the other one.
            pinned = [zlib.crc32(c.conversation.encode()) % 2 for c in clients if c.conversation]
            rasa_victim = "rasa" if pinned.count(0) >= len(pinned) / 2 else "rasa-2"
            run.kill(rasa_victim)
            took = await all_answered(await round_of_turns(), f"kill -9 {rasa_victim}")
            figures.append(f"kill -9 {rasa_victim}: a round answered {took:.1f} s after (the other server took over)")
            await staff_console_answers(1)
            figures.append(f"widget reconnections: {sum(c.connections - 1 for c in [*clients, asker])}")
            totals = await asyncio.to_thread(account, db, [*clients, asker])
            figures.append(totals.line())
            assert totals.sent == totals.acknowledged == totals.answered
    finally:
        for client in clients:
            await client.close()
        if asker is not None:
            await asker.close()
        if db is not None:
            db.dispose()
        run.stop()
        print("\n" + "\n".join(figures))


async def _first_ack(victims: list, said: list) -> None:  # type: ignore[type-arg]
    """Until a turn on the victim gateway is stored: the kill then lands between the ack and the answer."""
    while not any(t.seq is not None for c, t in said if c in victims):
        await asyncio.sleep(0.005)


def _turn_in_database(db, client, turn) -> str:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    state = (
        f"client {client.name} on {client.gateway or 'no connection'} ({client.connections} connections), "
        f"turn seq {turn.seq}, acknowledged {turn.acked_at is not None}"
    )
    if db is None or client.conversation is None:
        return state
    with db.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT id, role, client_id, delivered_at FROM messages WHERE conversation_id = :c ORDER BY id DESC"
                " LIMIT 6"
            ),
            {"c": client.conversation},
        ).all()
    stored = "; ".join(f"{r[0]} {r[1]} {r[2] or ''} delivered={r[3] is not None}" for r in reversed(rows))
    return f"{state}; last messages in the database: {stored}"


def _tickets_by_conversation(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    with db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT conversation_id, count(*) FROM tickets GROUP BY conversation_id"))
        return {row[0]: row[1] for row in rows}


def _health(run) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{run.public_url}/health", timeout=10) as response:
            return response.status, json.loads(response.read())["components"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["components"]


def _component(run, name: str) -> str | None:  # type: ignore[no-untyped-def]
    try:
        return _health(run)[1].get(name)
    except OSError:
        return None


async def test_a_turn_failing_on_a_store_tells_the_gateway_to_send_it_again() -> None:
    """bot/rasa/server.py: Rasa's REST channel turns any failure of a turn into HTTP 200 with no messages; with
    the tracker store's database down, that read as "the turn said nothing" and the message was never answered."""
    import sqlalchemy.exc
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from bot.rasa import server as rasa_server
    from bot.rasa.client import ACTIONS_UNAVAILABLE

    rasa_server.wait_for_action_server()

    class Processor:
        async def handle_message(self, message: UserMessage) -> None:
            raise sqlalchemy.exc.OperationalError("SELECT", {}, ConnectionRefusedError("refused"))

    agent = Agent()
    agent.processor = Processor()  # type: ignore[assignment]
    collector = CollectingOutputChannel()
    with pytest.raises(sqlalchemy.exc.OperationalError):
        await agent.handle_message(UserMessage("hello", collector, "s1"))
    assert [m.get("custom") for m in collector.messages] == [{"type": ACTIONS_UNAVAILABLE}]


async def test_a_conversation_lock_is_renewed_while_held_and_a_dead_holders_expires(redis_url, monkeypatch) -> None:
    """A gateway killed mid-turn held its conversation's Redis lock: with a fixed 60 s lock, the other gateway
    answered its turns 60 s late. Now the lock is short and renewed while the turn runs."""
    from redis.asyncio.lock import Lock

    from bot.conversations.hub import RedisHub

    monkeypatch.setattr(RedisHub, "LOCK_TIMEOUT_S", 0.3)
    renewals: list[float] = []
    renewed = asyncio.Event()
    reacquire = Lock.reacquire

    async def counted(lock: Lock) -> bool:
        result = await reacquire(lock)
        renewals.append(time.monotonic())
        if len(renewals) >= 3:
            renewed.set()
        return result

    monkeypatch.setattr(Lock, "reacquire", counted)
    first, second = RedisHub(redis_url), RedisHub(redis_url)
    await first.start()
    await second.start()
    key = "etown:hub:lock:c-renew"
    try:
        async with first.conversation_lock("c-renew"):
            began = time.monotonic()
            await asyncio.wait_for(renewed.wait(), 10)
            assert time.monotonic() - began > 0.3  # held past its timeout…
            assert await second._redis.get(key) is not None  # …and still taken
        assert await second._redis.get(key) is None  # released at the end
        dead = second._redis.lock(key, timeout=0.5)  # a holder that dies without releasing (nor renewing)
        assert await dead.acquire()
        began = time.monotonic()
        async with first.conversation_lock("c-renew"):
            waited = time.monotonic() - began
        assert 0.2 < waited < 5
    finally:
        await first.close()
        await second.close()
