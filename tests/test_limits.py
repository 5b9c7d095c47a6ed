"""Limits that hold: per conversation and per client address, shared by every connection, transport and (through
Redis) gateway; frames of every kind count; new conversations, requests for a person and passport checks have
caps; a refused frame gets a clear error and the connection stays open."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.conversations.limits import Limiter, Rule, client_address
from bot.db.models import LookupAttempt
from bot.gateway.keys import DB
from tests.gateway_support import ChatClient, eventually
from tests.test_gateway_cases import add_case, case_form, start
from tests.test_socketio import WEBCHAT_SITE, Webchat

# The gateways of these tests count on a clock that stands still (tests/conftest.py, frozen_limit_clock).
pytestmark = pytest.mark.usefixtures("frozen_limit_clock")


async def outcome(client: ChatClient, client_id: str) -> str:
    """ "ack" or the error code of the frame sent with `client_id`."""
    while True:
        frame = await client.next(None)
        if frame.get("id") == client_id and frame["type"] in ("ack", "error"):
            return frame.get("code", "ack")


async def connect(gateway, conversation: str | None = None) -> tuple[ChatClient, dict]:  # type: ignore[no-untyped-def, type-arg]
    client = ChatClient(await gateway.ws_connect("/ws"))
    return client, await client.hello(conversation)


async def test_the_conversation_limit_is_shared_by_its_connections(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(MESSAGES_PER_MINUTE="10", ADDRESS_MESSAGES_PER_MINUTE="1000")
    first, welcome = await connect(gateway)
    second, _ = await connect(gateway, welcome["conversation"])
    codes = []
    for i in range(16):  # alternating sockets: N sockets must not mean N times the limit
        client = first if i % 2 == 0 else second
        await client.send({"type": "message", "id": f"m{i}", "text": f"hello {i}"})
        codes.append(await outcome(client, f"m{i}"))
    assert codes.count("ack") == 10 and codes.count("rate_limited") == 6
    error = next(f for f in first.frames + second.frames if f.get("code") == "rate_limited")
    assert "seconds" in error["message"]
    await first.send({"type": "message", "id": "after", "text": "still open?"})
    assert await outcome(first, "after") == "rate_limited"  # answered: the connection is kept


async def test_the_address_limit_spans_conversations(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(MESSAGES_PER_MINUTE="100", ADDRESS_MESSAGES_PER_MINUTE="6")
    codes = []
    for n in range(3):
        client, _ = await connect(gateway)
        for i in range(3):
            await client.send({"type": "message", "id": f"c{n}m{i}", "text": "hi"})
            codes.append(await outcome(client, f"c{n}m{i}"))
    assert codes.count("ack") == 6 and codes.count("rate_limited") == 3


async def test_ping_and_set_language_frames_are_limited_too(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(FRAMES_PER_MINUTE="8")
    client, _ = await connect(gateway)
    for _ in range(6):
        await client.send({"type": "set_language", "lang": "zh"})
        await client.send({"type": "ping"})
    kinds = [(await client.next(None))["type"] for _ in range(12)]
    assert kinds.count("language") + kinds.count("pong") == 8 and kinds.count("error") == 4
    assert {f["code"] for f in client.frames if f["type"] == "error"} == {"rate_limited"}


async def test_new_conversations_per_address_are_capped(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(NEW_CONVERSATIONS_PER_HOUR="2")
    _, first = await connect(gateway)
    await connect(gateway)
    refused = ChatClient(await gateway.ws_connect("/ws"))
    await refused.send({"type": "hello"})
    error = await refused.next("error")
    assert error["code"] == "rate_limited" and "conversations" in error["message"]
    resumed = await refused.hello(first["conversation"])  # the same socket may still resume its own conversation
    assert resumed["conversation"] == first["conversation"]


async def test_requests_for_a_person_are_capped(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(HANDOFFS_PER_HOUR="2")
    codes = []
    for n in range(3):
        client, _ = await connect(gateway)
        await client.send({"type": "handoff", "id": f"h{n}"})
        codes.append(await outcome(client, f"h{n}"))
    assert codes == ["ack", "ack", "rate_limited"]

    def handoffs() -> int:
        return sum(1 for body in rasa.received if body["message"].startswith("/human_handoff"))

    # An ack means accepted, not yet forwarded: wait for the two accepted requests to reach Rasa.
    await eventually(lambda: handoffs() >= 2, what="the two accepted requests forwarded")
    # The refused one is never forwarded: a message sent after it on the same conversation reaches Rasa behind
    # anything that conversation forwarded before, and by then there are still only two.
    await client.send({"type": "message", "id": "after", "text": "still there?"})
    assert await outcome(client, "after") == "ack"
    await eventually(lambda: any(b["message"] == "still there?" for b in rasa.received), what="the later message")
    assert handoffs() == 2


async def test_passport_checks_are_throttled_per_address_before_any_lookup(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(LOOKUPS_PER_HOUR="2")
    add_case(gateway)
    rasa.reply = case_form
    codes = []
    for n in range(3):
        client, _ = await start(gateway)
        await client.send({"type": "verify", "id": f"v{n}", "passport": "X0000000"})
        codes.append(await outcome(client, f"v{n}"))
    assert codes == ["ack", "ack", "rate_limited"]
    with gateway.app[DB].transaction() as session:
        attempts = session.execute(sa.select(sa.func.count()).select_from(LookupAttempt)).scalar_one()
    assert attempts == 2


async def test_socketio_and_websocket_share_the_address_limit(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(ADDRESS_MESSAGES_PER_MINUTE="4", SOCKETIO_ORIGINS=WEBCHAT_SITE)
    client, _ = await connect(gateway)
    for i in range(3):
        await client.send({"type": "message", "id": f"w{i}", "text": "over the websocket"})
        assert await outcome(client, f"w{i}") == "ack"
    chat = Webchat()
    session = await chat.start(str(gateway.make_url("")).rstrip("/"))
    await chat.say(session, "over socket.io")
    assert (await chat.next())["text"].startswith("echo:")
    await chat.say(session, "over socket.io again")
    assert "Too many messages" in (await chat.next())["text"]
    await chat.client.disconnect()


async def test_huge_and_binary_frames_get_an_error_and_the_connection_stays(gateway, rasa) -> None:  # type: ignore[no-untyped-def]
    client, _ = await connect(gateway)
    await client.ws.send_str("x" * 100_000)
    assert (await client.next("error"))["code"] == "too_large"
    await client.ws.send_bytes(bytes(range(256)) * 40)
    assert (await client.next("error"))["code"] in ("too_large", "bad_encoding")
    await client.send({"type": "message", "id": "ok", "text": "still here"})
    assert (await client.bot_reply())["text"] == "echo: still here"


async def test_two_gateways_share_the_limit_through_redis(gateway_factory, rasa, redis_url) -> None:  # type: ignore[no-untyped-def]
    first = await gateway_factory(REDIS_URL=redis_url, MESSAGES_PER_MINUTE="6", ADDRESS_MESSAGES_PER_MINUTE="1000")
    second = await gateway_factory(REDIS_URL=redis_url, MESSAGES_PER_MINUTE="6", ADDRESS_MESSAGES_PER_MINUTE="1000")
    here, welcome = await connect(first)
    there, _ = await connect(second, welcome["conversation"])
    codes = []
    for i in range(10):
        client = here if i % 2 == 0 else there
        await client.send({"type": "message", "id": f"r{i}", "text": "hi"})
        codes.append(await outcome(client, f"r{i}"))
    assert codes.count("ack") == 6 and codes.count("rate_limited") == 4


async def test_fixed_windows_reset() -> None:
    now = [1000.0]
    limiter = Limiter(clock=lambda: now[0])
    rule = Rule("t", 2, 60)
    assert [await limiter.hit(rule, "k") for _ in range(3)][:2] == [0.0, 0.0]
    assert await limiter.hit(rule, "other") == 0.0
    now[0] += 60
    assert await limiter.hit(rule, "k") == 0.0


def test_client_address_trusts_only_configured_proxies() -> None:
    assert client_address("203.0.113.5", "1.2.3.4", ()) == "203.0.113.5"  # a client cannot pick its address
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7", ("10.0.0.2",)) == "198.51.100.7"


async def test_ended_windows_are_forgotten() -> None:
    now = [1000.0]
    limiter = Limiter(clock=lambda: now[0])
    limiter.MAX_KEYS = 3
    for key in "abc":
        await limiter.hit(Rule("t", 1, 60), key)
    now[0] += 120
    await limiter.hit(Rule("t", 1, 60), "d")
    assert len(limiter._counts) == 1
