"""The gateway while a Rasa server or the action server is down: failover to a live server, replies of a turn
whose answer was lost read back from the (shared) tracker instead of running it twice, and turns that wait for
the action server. Two stand-in Rasa servers share one tracker, as real ones share the SQL tracker store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from rasa.shared.exceptions import RasaException

from bot.conversations import store
from bot.gateway.keys import CHAT, DB, RASA
from bot.rasa.client import ACTIONS_UNAVAILABLE, SEQ_KEY, turn_replies
from tests.gateway_support import ChatClient


@dataclass
class SharedTracker:
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def user_turns(self, sender: str, seq: int) -> int:
        return sum(1 for e in self.events.get(sender, []) if e["event"] == "user" and e["metadata"].get(SEQ_KEY) == seq)


@dataclass
class FakeRasa:
    """A Rasa REST endpoint that saves each turn to the shared tracker at its end, as Rasa does."""

    name: str
    tracker: SharedTracker
    up: bool = True
    drop_after_saving: bool = False  # dies after saving the turn, before its reply leaves
    actions_down: bool = False  # answers like bot/rasa/server.py when the action server stays unreachable
    turns: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/conversations/{sender}/tracker", self._tracker)
        app.router.add_get("/", self._root)
        return app

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa")

    async def _tracker(self, request: web.Request) -> web.Response:
        assert request.query.get("token")
        return web.json_response({"events": self.tracker.events.get(request.match_info["sender"], [])})

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        if not self.up:
            assert request.transport is not None
            request.transport.close()  # a dead server: the connection breaks
            return web.Response(status=500)
        body = await request.json()
        self.turns.append(body)
        if self.actions_down:
            return web.json_response([{"recipient_id": body["sender"], "custom": {"type": ACTIONS_UNAVAILABLE}}])
        reply = {"text": f"{self.name}: {body['message']}", "custom": {"type": "guide_answer", "section": "fees"}}
        self.tracker.events.setdefault(body["sender"], []).extend(
            [
                {"event": "user", "text": body["message"], "metadata": body.get("metadata") or {}},
                {"event": "bot", "text": reply["text"], "data": {"custom": reply["custom"]}},
                {"event": "action", "name": "action_listen"},
            ]
        )
        if self.drop_after_saving:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        return web.json_response([{"recipient_id": body["sender"], **reply}])


async def two_rasa_gateway(gateway_factory, aiohttp_server):  # type: ignore[no-untyped-def]
    tracker = SharedTracker()
    servers = [FakeRasa("one", tracker), FakeRasa("two", tracker)]
    for fake in servers:
        fake.url = str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")
    gateway = await gateway_factory(RASA_URL=",".join(fake.url for fake in servers))
    return gateway, servers, tracker


async def open_pinned_to(gateway, url: str) -> tuple[ChatClient, str]:  # type: ignore[no-untyped-def]
    """A conversation whose own Rasa server is `url`."""
    while True:
        client = ChatClient(await gateway.ws_connect("/ws"))
        welcome = await client.hello(None)
        if gateway.app[RASA].server_for(welcome["conversation"]) == url:
            return client, welcome["conversation"]
        await client.ws.close()


async def test_a_conversation_moves_to_a_live_server_while_its_own_is_down(gateway_factory, aiohttp_server) -> None:
    gateway, (one, two), tracker = await two_rasa_gateway(gateway_factory, aiohttp_server)
    client, conversation = await open_pinned_to(gateway, one.url)
    one.up = False
    await client.send({"type": "message", "id": "m1", "text": "fees?"})
    assert (await client.bot_reply())["text"] == "two: fees?"
    one.up = True
    gateway.app[RASA]._suspect_until.clear()  # its probation over, the server gets its conversations back
    await client.send({"type": "message", "id": "m2", "text": "and now?"})
    assert (await client.bot_reply())["text"] == "one: and now?"
    assert [t["message"] for t in two.turns] == ["fees?"]


async def test_a_turn_whose_reply_was_lost_is_answered_from_the_tracker_once(gateway_factory, aiohttp_server) -> None:
    gateway, (one, two), tracker = await two_rasa_gateway(gateway_factory, aiohttp_server)
    client, conversation = await open_pinned_to(gateway, one.url)
    one.drop_after_saving = True  # processes the turn, then dies before answering
    await client.send({"type": "message", "id": "x1", "text": "how long does it take?"})
    ack = await client.next("ack", id="x1")
    reply = await client.bot_reply()
    assert reply["text"] == "one: how long does it take?"  # read back: the turn that did run
    assert reply["custom"] == {"type": "guide_answer", "section": "fees"}
    assert two.turns == []  # never run a second time
    assert tracker.user_turns(conversation, ack["seq"]) == 1
    bot_messages = [m for m in store.history(gateway.app[DB], conversation) if m.role == "bot"]
    assert [m.text for m in bot_messages] == ["one: how long does it take?"]


async def test_a_gateway_restart_does_not_run_a_turn_twice(gateway_factory, aiohttp_server) -> None:
    """A message stored before this gateway started (the old one died mid-turn) is looked up in the tracker first."""
    gateway, (one, two), tracker = await two_rasa_gateway(gateway_factory, aiohttp_server)
    client, conversation = await open_pinned_to(gateway, one.url)
    message, _ = store.record_user_message(gateway.app[DB], conversation, "processed before the crash", "old1")
    tracker.events[conversation] = [
        {"event": "user", "text": "processed before the crash", "metadata": {SEQ_KEY: message.seq}},
        {"event": "bot", "text": "the answer Rasa gave", "data": {"buttons": [{"title": "A", "payload": "/a"}]}},
    ]
    assert await gateway.app[CHAT].retry_undelivered() == 1
    reply = await client.bot_reply()
    assert reply["text"] == "the answer Rasa gave" and reply["buttons"] == [{"title": "A", "payload": "/a"}]
    assert one.turns == [] and two.turns == []
    assert store.undelivered_user_messages(gateway.app[DB]) == []


async def test_turns_wait_for_the_action_server_and_are_answered_once(gateway_factory, aiohttp_server) -> None:
    gateway, (one, two), tracker = await two_rasa_gateway(gateway_factory, aiohttp_server)
    client, conversation = await open_pinned_to(gateway, one.url)
    one.actions_down = two.actions_down = True
    await client.send({"type": "message", "id": "a1", "text": "checklist please"})
    ack = await client.next("ack", id="a1")
    notice = await client.next("notice")
    assert notice["code"] == "bot_unavailable" and notice["seq"] == ack["seq"]
    assert two.turns == []  # the other Rasa would reach the same action server: no failover
    assert [m.seq for _, m in store.undelivered_user_messages(gateway.app[DB])] == [ack["seq"]]
    assert await gateway.app[CHAT].retry_undelivered() == 0  # still down: still waiting
    one.actions_down = False
    assert await gateway.app[CHAT].retry_undelivered() == 1
    assert (await client.bot_reply())["text"] == "one: checklist please"
    assert tracker.user_turns(conversation, ack["seq"]) == 1
    assert await gateway.app[CHAT].retry_undelivered() == 0


async def test_health_names_each_rasa_server(gateway_factory, aiohttp_server) -> None:
    gateway, (one, two), tracker = await two_rasa_gateway(gateway_factory, aiohttp_server)
    body = await (await gateway.get("/health")).json()
    assert body["components"]["rasa"] == "up" and body["components"]["rasa-2"] == "up"


def test_turn_replies_stop_at_the_next_turn() -> None:
    events = [
        {"event": "user", "metadata": {SEQ_KEY: 1}},
        {"event": "bot", "text": "first"},
        {"event": "user", "metadata": {SEQ_KEY: 2}},
        {"event": "bot", "text": "second", "data": {"custom": {"type": "x"}}},
        {"event": "bot", "text": "", "data": {"image": "https://example.org/i.png"}},
        {"event": "user", "metadata": {SEQ_KEY: 3}},
    ]
    assert turn_replies(events, 2) == [
        {"text": "second", "custom": {"type": "x"}},
        {"image": "https://example.org/i.png"},
    ]
    assert turn_replies(events, 3) == []  # the turn ran and said nothing
    assert turn_replies(events, 4) is None  # never reached the tracker


async def test_a_refused_connection_moves_on_at_once(gateway_factory, aiohttp_server) -> None:
    from bot.processes.stack import free_port

    tracker = SharedTracker()
    live = FakeRasa("live", tracker)
    live.url = str((await aiohttp_server(live.app())).make_url("")).rstrip("/")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    gateway = await gateway_factory(RASA_URL=f"{dead},{live.url}")
    client, conversation = await open_pinned_to(gateway, dead)
    await client.send({"type": "message", "id": "r1", "text": "hello?"})
    assert (await client.bot_reply())["text"] == "live: hello?"
    body = await (await gateway.get("/health")).json()
    assert body["components"]["rasa"] == "down" and body["components"]["rasa-2"] == "up"


async def test_rasa_waits_for_an_action_server_that_comes_back(aiohttp_server, monkeypatch) -> None:
    """bot/rasa/server.py: an action call that cannot connect is tried again within the turn."""
    import asyncio

    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    from bot.processes.stack import free_port
    from bot.rasa import server as rasa_server

    rasa_server.wait_for_action_server()
    port = free_port()
    calls = []

    async def webhook(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.json_response({"events": [], "responses": [{"text": "from the action server"}]})

    async def start_later() -> None:
        await asyncio.sleep(0.6)  # two or three refused attempts first
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        await aiohttp_server(app, port=port)

    action = RemoteAction("action_answer_guide", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
    tracker = DialogueStateTracker("c1", [])
    token = rasa_server._TURN.set({})
    try:
        starter = asyncio.create_task(start_later())
        events = await action.run(CollectingOutputChannel(), None, tracker, Domain.empty())  # type: ignore[arg-type]
        await starter
    finally:
        rasa_server._TURN.reset(token)
    assert [e.text for e in events] == ["from the action server"] and len(calls) == 1

    monkeypatch.setattr(rasa_server, "ACTION_SERVER_WAIT_S", 0.3)
    dead = RemoteAction("action_answer_guide", EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook"))
    turn: dict = {}
    token = rasa_server._TURN.set(turn)
    try:
        with pytest.raises(RasaException):
            await dead.run(CollectingOutputChannel(), None, tracker, Domain.empty())  # type: ignore[arg-type]
    finally:
        rasa_server._TURN.reset(token)
    assert turn["unreachable"] is True  # the turn will end unsaved, with the actions_unavailable payload


async def test_an_action_that_fails_on_the_server_is_tried_again(aiohttp_server) -> None:
    """An action whose database was briefly down answers HTTP 500: tried again within the turn, as an unreachable
    server is (stock Rasa would drop the action's events and the user would get no answer); a 400 rejection is
    Rasa's own protocol and is not retried."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa import server as rasa_server

    rasa_server.wait_for_action_server()
    calls = []

    async def webhook(request: web.Request) -> web.Response:
        calls.append(await request.json())
        if len(calls) < 3:  # the action's store is down for the first two calls
            return web.json_response({"error": "database unreachable"}, status=500)
        return web.json_response({"events": [], "responses": [{"text": "from the action server"}]})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    server = await aiohttp_server(app)
    action = RemoteAction("action_answer_guide", EndpointConfig(f"http://127.0.0.1:{server.port}/webhook"))
    tracker = DialogueStateTracker("c1", [])
    token = rasa_server._TURN.set({})
    try:
        events = await action.run(CollectingOutputChannel(), None, tracker, Domain.empty())  # type: ignore[arg-type]
    finally:
        rasa_server._TURN.reset(token)
    assert [e.text for e in events] == ["from the action server"] and len(calls) == 3
