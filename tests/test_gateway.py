"""The gateway's chat protocol: stored before acknowledged, in order, no injection, bad input handled, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversations import store
from bot.db import Database
from bot.gateway.keys import CHAT, DB
from tests.gateway_support import ChatClient


async def connect(gateway, conversation: str | None = None) -> tuple[ChatClient, dict]:  # type: ignore[no-untyped-def]
    client = ChatClient(await gateway.ws_connect("/ws"))
    welcome = await client.hello(conversation)
    return client, welcome


async def test_message_is_acknowledged_then_answered(gateway, rasa) -> None:
    client, welcome = await connect(gateway)
    await client.send({"type": "message", "id": "c1", "text": "how do I renew my permit"})
    ack = await client.next("ack", id="c1")
    reply = await client.bot_reply()
    assert ack["seq"] < reply["seq"]
    assert reply["text"] == "echo: how do I renew my permit"
    assert rasa.received[0]["sender"] == welcome["conversation"]
    stored = store.history(gateway.app[DB], welcome["conversation"])
    assert [(m.role, m.text) for m in stored] == [
        ("user", "how do I renew my permit"),
        ("bot", "echo: how do I renew my permit"),
    ]


async def test_resend_with_same_id_is_not_stored_or_answered_twice(gateway, rasa) -> None:
    client, welcome = await connect(gateway)
    await client.send({"type": "message", "id": "same", "text": "hello"})
    first = await client.next("ack", id="same")
    await client.bot_reply()
    await client.send({"type": "message", "id": "same", "text": "hello"})
    second = await client.next("ack", id="same")
    assert second == {"type": "ack", "id": "same", "seq": first["seq"], "duplicate": True}
    # Turns of a conversation are delivered in order: once the next message is answered, the resend has been
    # dealt with, and anything it had sent to Rasa would be there before this one.
    await client.send({"type": "message", "id": "next", "text": "and then?"})
    assert (await client.bot_reply())["text"] == "echo: and then?"
    assert [body["message"] for body in rasa.received] == ["hello", "and then?"]
    user_messages = [m for m in store.history(gateway.app[DB], welcome["conversation"]) if m.role == "user"]
    assert [m.client_id for m in user_messages] == ["same", "next"]


async def test_typed_slash_commands_never_reach_rasa_as_intents(gateway, rasa) -> None:
    client, _ = await connect(gateway)
    for i, text in enumerate(["/restart", '  /human_handoff{"x": 1}', '/faq{"section": "fees"}']):
        await client.send({"type": "message", "id": f"s{i}", "text": text})
        await client.bot_reply()
    forwarded = [body["message"] for body in rasa.received]
    assert all(not message.lstrip().startswith("/") for message in forwarded)
    assert forwarded[0] == "／restart"


async def test_only_offered_buttons_are_forwarded_as_payloads(gateway, rasa) -> None:
    rasa.reply = lambda text: [
        {"text": "Which one?", "buttons": [{"title": "Fees", "payload": '/faq{"section": "fees"}'}]}
    ]
    client, _ = await connect(gateway)
    await client.send({"type": "message", "id": "m1", "text": "money?"})
    await client.bot_reply()
    await client.send({"type": "button", "id": "b0", "payload": "/restart", "title": "Restart"})
    error = await client.next("error", id="b0")
    assert error["code"] == "not_offered"
    await client.send({"type": "button", "id": "b1", "payload": '/faq{"section": "fees"}', "title": "Fees"})
    await client.next("ack", id="b1")
    await client.bot_reply()
    # the payload goes on with the conversation's language as an entity (Rasa skips detection for payloads)
    assert rasa.received[-1]["message"] == '/faq{"section": "fees", "language": "en"}'
    assert len(rasa.received) == 2


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json at all", "bad_json"),
        ("[1, 2, 3]", "bad_frame"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "message", "id": "e1", "text": ""}', "empty"),
        ('{"type": "message", "id": "e2", "text": "   \\n\\t "}', "empty"),
        ('{"type": "message", "id": "e3", "text": 42}', "bad_type"),
        ('{"type": "message", "id": "e4", "text": null}', "bad_type"),
        ('{"type": "message", "id": {"a": 1}, "text": "x"}', "bad_id"),
        ('{"type": "set_language", "lang": "klingon"}', "bad_language"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_the_connection_survives(gateway, rasa, frame: str, code: str) -> None:
    client, _ = await connect(gateway)
    await client.ws.send_str(frame)
    error = await client.next("error")
    assert error["code"] == code and error["message"]
    await client.send({"type": "ping"})
    assert (await client.next("pong"))["type"] == "pong"


async def test_huge_and_binary_input(gateway, rasa) -> None:
    client, welcome = await connect(gateway)
    await client.send({"type": "message", "id": "big", "text": "工" * 5000})
    error = await client.next("error", id="big")
    assert error["code"] == "too_long" and "2000" in error["message"]
    await client.ws.send_bytes(b"\xff\xfe not utf-8 \xc3\x28")
    assert (await client.next("error"))["code"] == "bad_encoding"
    await client.send({"type": "message", "id": "ok", "text": "still here"})
    assert (await client.bot_reply())["text"] == "echo: still here"
    assert len(rasa.received) == 1


async def test_hostile_text_is_stored_and_returned_verbatim(gateway, rasa) -> None:
    hostile = "<script>alert('x')</script> '; DROP TABLE messages; -- \u200fevil\u200e 🙂🙂"
    client, welcome = await connect(gateway)
    await client.send({"type": "message", "id": "h1", "text": hostile + "\x00\x07\u202e\u2066"})
    await client.bot_reply()
    history = store.history(gateway.app[DB], welcome["conversation"])
    assert history[0].text == hostile  # control and bidi-override characters dropped, the rest kept as typed
    other, again = await connect(gateway, welcome["conversation"])
    assert again["history"][0]["text"] == hostile


async def test_emoji_only_message_is_forwarded(gateway, rasa) -> None:
    client, _ = await connect(gateway)
    await client.send({"type": "message", "id": "e", "text": "🙂🙂🙂"})
    assert (await client.bot_reply())["text"] == "echo: 🙂🙂🙂"


async def test_flood_is_rate_limited_without_dropping_the_connection(gateway_factory, rasa, frozen_limit_clock) -> None:
    # The windows are fixed minutes of the clock: a frozen clock keeps the 40 messages in one of them, however
    # slowly this machine sends them.
    gateway = await gateway_factory(MESSAGES_PER_MINUTE="30")  # 30 a minute per conversation
    client, _ = await connect(gateway)
    for i in range(40):
        await client.send({"type": "message", "id": f"f{i}", "text": f"flood {i}"})
    codes = []
    for _ in range(40):
        frame = await client.next(None)
        while frame["type"] not in ("ack", "error"):
            frame = await client.next(None)
        codes.append(frame.get("code", "ack"))
    assert codes.count("ack") == 30 and codes.count("rate_limited") == 10
    assert "seconds" in next(f["message"] for f in client.frames if f.get("code") == "rate_limited")
    await client.send({"type": "ping"})
    await client.next("pong")


async def test_origin_allowlist(gateway) -> None:
    refused = await gateway.get("/ws", headers={"Origin": "https://evil.example.com", "Upgrade": "websocket"})
    assert refused.status == 403
    allowed = await gateway.ws_connect("/ws", headers={"Origin": "https://bureau.example.gov.cn"})
    await allowed.close()


async def test_history_restores_after_reconnect(gateway, rasa) -> None:
    client, welcome = await connect(gateway)
    await client.send({"type": "message", "id": "a", "text": "first"})
    reply = await client.bot_reply()
    await client.ws.close()
    _, again = await connect(gateway, welcome["conversation"])
    assert [m["text"] for m in again["history"]] == ["first", "echo: first"]
    _, later = await connect_after(gateway, welcome["conversation"], reply["seq"] - 1)
    assert [m["text"] for m in later["history"]] == ["echo: first"]


async def connect_after(gateway, conversation: str, after: int):  # type: ignore[no-untyped-def]
    client = ChatClient(await gateway.ws_connect("/ws"))
    return client, await client.hello(conversation, after=after)


async def test_unknown_or_malformed_conversation_id_starts_a_new_one(gateway) -> None:
    _, first = await connect(gateway, "' OR 1=1 --")
    _, second = await connect(gateway, "0" * 48)
    assert first["conversation"] != second["conversation"]
    assert first["history"] == [] and second["history"] == []


async def test_message_survives_rasa_being_down(gateway, rasa) -> None:
    rasa.up = False
    client, welcome = await connect(gateway)
    await client.send({"type": "message", "id": "d1", "text": "are you there?"})
    await client.next("ack", id="d1")
    notice = await client.next("notice")
    assert notice["code"] == "bot_unavailable"
    assert store.undelivered_user_messages(gateway.app[DB])[0][1].text == "are you there?"
    rasa.up = True
    delivered = await gateway.app[CHAT].retry_undelivered()
    assert delivered == 1
    assert (await client.bot_reply())["text"] == "echo: are you there?"
    assert store.undelivered_user_messages(gateway.app[DB]) == []


async def test_turns_of_one_conversation_stay_in_order(gateway, rasa) -> None:
    rasa.delay_s = 0.05
    client, welcome = await connect(gateway)
    for i in range(5):
        await client.send({"type": "message", "id": f"o{i}", "text": f"q{i}"})
    replies = [(await client.bot_reply())["text"] for _ in range(5)]
    assert replies == [f"echo: q{i}" for i in range(5)]
    assert [body["message"] for body in rasa.received] == [f"q{i}" for i in range(5)]


async def test_two_tabs_of_one_conversation_both_see_everything(gateway, rasa) -> None:
    first, welcome = await connect(gateway)
    second, _ = await connect(gateway, welcome["conversation"])
    await first.send({"type": "message", "id": "t1", "text": "from tab one"})
    echoed = await second.next("message", role="user")
    assert echoed["text"] == "from tab one" and echoed["id"] == "t1"
    assert (await second.bot_reply())["text"] == "echo: from tab one"


async def test_language_choice_travels_as_metadata(gateway, rasa) -> None:
    client, _ = await connect(gateway)
    await client.send({"type": "message", "id": "l1", "text": "/lang zh"})
    reply = await client.bot_reply()
    assert "中文" in reply["text"] and reply["custom"] == {"type": "language", "lang": "zh"}
    assert rasa.received == []  # a gateway command, never sent to Rasa
    await client.send({"type": "message", "id": "l2", "text": "fees?"})
    await client.bot_reply()
    assert rasa.received[-1]["metadata"].get("language") == "zh"
    await client.send({"type": "set_language", "lang": None})
    await client.next("language")
    await client.send({"type": "message", "id": "l3", "text": "fees again"})
    await client.bot_reply()
    assert "language" not in rasa.received[-1]["metadata"]


async def test_health_reports_each_component(gateway, rasa) -> None:
    rasa.up = True
    response = await gateway.get("/health")
    body = await response.json()
    assert body["components"]["database"] == "up"
    assert body["components"]["rasa"] == "up"
    assert body["components"]["actions"] == "down"  # nothing listens at the scripted actions URL
    assert response.status == 503
    rasa.up = False
    body = await (await gateway.get("/health")).json()
    assert body["components"]["rasa"] == "down"


async def test_the_load_balancer_checks_liveness_which_waits_on_nothing_shared(gateway, rasa, monkeypatch) -> None:
    """HAProxy takes a gateway out on its check path alone. That path must answer while the shared components
    are down or slow: a check on /health took both gateways out at once on a busy CI machine (503 for all)."""
    import re

    from bot.gateway import health
    from bot.processes.cluster import HAPROXY_CFG

    config = HAPROXY_CFG.read_text()
    path = re.search(r"^\s*option httpchk GET (\S+)$", config, re.MULTILINE)
    assert path is not None and re.search(r"^\s*http-check expect status 200$", config, re.MULTILINE)

    def no_database(db: Database) -> bool:
        raise AssertionError("the liveness check touched the database")

    monkeypatch.setattr(health, "_database_ok", no_database)
    rasa.up = False
    response = await gateway.get(path.group(1))
    assert response.status == 200 and (await response.json()) == {"status": "live"}
    assert rasa.received == []


async def test_pages_send_security_headers(gateway) -> None:
    response = await gateway.get("/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "innerHTML" not in (Path(__file__).parents[1] / "bot/gateway/static/chat.js").read_text()


def test_store_works_on_both_databases(db: Database) -> None:
    conversation = store.open_conversation(db, None)
    message, new = store.record_user_message(db, conversation.id, "hi", "c1")
    again, new_again = store.record_user_message(db, conversation.id, "hi", "c1")
    assert new and not new_again and again.seq == message.seq
    replies = store.record_replies(
        db, conversation.id, message.seq, "bot", [("hello", {"buttons": [{"title": "A", "payload": "/a"}]})]
    )
    assert store.is_delivered(db, message.seq)
    assert store.offered_payloads(db, conversation.id) == {"/a"}
    assert [m.seq for m in store.history(db, conversation.id)] == [message.seq, replies[0].seq]


async def test_a_turn_ends_with_typing_off_after_the_last_reply(gateway, rasa) -> None:
    rasa.reply = lambda text: [{"text": "one"}, {"text": "two"}]
    client, _ = await connect(gateway)
    await client.send({"type": "message", "id": "t", "text": "hi"})
    ack = await client.next("ack", id="t")
    done = await client.next("typing", active=False)
    replies = [f["text"] for f in client.frames if f.get("type") == "message" and f.get("role") == "bot"]
    assert replies == ["one", "two"] and done["turn"] == ack["seq"]


def test_payloads_carry_the_conversation_language() -> None:
    from bot.conversations.commands import with_language

    assert with_language("/human_handoff", "zh") == '/human_handoff{"language": "zh"}'
    assert with_language('/faq{"section": "fees"}', "en") == '/faq{"section": "fees", "language": "en"}'
    assert with_language('/rate{"rating": "5", "language": "en"}', "zh") == '/rate{"rating": "5", "language": "en"}'
    assert with_language("/human_handoff", None) == "/human_handoff"
    assert with_language("/broken{not json", "zh") == "/broken{not json"


async def test_each_conversation_stays_on_one_of_several_rasa_servers(gateway_factory, rasa, aiohttp_server) -> None:  # type: ignore[no-untyped-def]
    from tests.gateway_support import ScriptedRasa

    second = ScriptedRasa()
    server = await aiohttp_server(second.app())
    gateway = await gateway_factory(RASA_URL=f"{rasa.url},{str(server.make_url('')).rstrip('/')}")
    conversations = []
    for _ in range(8):
        client = ChatClient(await gateway.ws_connect("/ws"))
        conversations.append((await client.hello())["conversation"])
        for n in range(3):
            await client.send({"type": "message", "id": f"m{n}", "text": f"question {n}"})
            await client.bot_reply()
        await client.ws.close()
    first_senders = [m["sender"] for m in rasa.received]
    second_senders = [m["sender"] for m in second.received]
    assert first_senders and second_senders, "eight conversations should not all land on one server"
    assert not set(first_senders) & set(second_senders), "a conversation was split across servers"
    assert sorted(set(first_senders) | set(second_senders)) == sorted(conversations)
    assert len(first_senders) + len(second_senders) == 8 * 3
