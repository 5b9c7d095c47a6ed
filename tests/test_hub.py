"""Several gateways sharing Redis: events reach connections on any gateway, and a stored message is handed to
Rasa once however many gateways try. Runs against the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio

from bot.conversations import store
from bot.conversations.hub import Hub, RedisHub, start_hub
from bot.gateway.keys import CHAT, DB
from tests.gateway_support import ChatClient
from tests.test_gateway_staff import handing_over, login


async def test_without_redis_the_hub_is_in_process() -> None:
    hub = await start_hub("")
    assert type(hub) is Hub
    queue = hub.subscribe("c1")
    await hub.publish("c1", {"type": "x"})
    assert queue.get_nowait() == {"type": "x"}
    await hub.close()


async def test_events_cross_gateways_once(redis_url: str) -> None:
    first, second = RedisHub(redis_url), RedisHub(redis_url)
    await first.start()
    await second.start()
    try:
        here, there = first.subscribe("c1"), second.subscribe("c1")
        elsewhere = second.subscribe("c2")
        await first.publish("c1", {"type": "message", "text": "<b>hi</b> 你好"})
        assert await asyncio.wait_for(there.get(), 30) == {"type": "message", "text": "<b>hi</b> 你好"}
        assert here.get_nowait() == {"type": "message", "text": "<b>hi</b> 你好"}
        await second.publish("c1", {"type": "typing"})
        assert await asyncio.wait_for(here.get(), 30) == {"type": "typing"}
        # Redis relays in publishing order: an echo of a hub's own event, or an event of another topic, would
        # arrive before these markers.
        await second.publish("c1", {"type": "marker"})
        await first.publish("c2", {"type": "marker"})
        assert await asyncio.wait_for(here.get(), 30) == {"type": "marker"}
        assert await asyncio.wait_for(elsewhere.get(), 30) == {"type": "marker"}
        assert here.empty() and elsewhere.empty()  # no echo of its own events, nothing on other topics
    finally:
        await first.close()
        await second.close()


async def test_the_conversation_lock_excludes_the_other_gateway(redis_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from redis.asyncio.lock import Lock

    refused = asyncio.Event()
    attempt = Lock.do_acquire

    async def watched(lock: Lock, token: bytes) -> bool:
        """Redis's own attempt to take the lock, noting each refusal."""
        taken = await attempt(lock, token)
        if not taken:
            refused.set()
        return taken

    monkeypatch.setattr(Lock, "do_acquire", watched)
    first, second = RedisHub(redis_url), RedisHub(redis_url)
    await first.start()
    await second.start()
    order: list[str] = []
    try:
        async with first.conversation_lock("c1"):
            waiting = asyncio.create_task(_take(second, "c1", order))
            await asyncio.wait_for(refused.wait(), 30)  # the second gateway asked Redis and was refused
            assert not waiting.done()
            order.append("first releases")
        await asyncio.wait_for(waiting, 30)
        assert order == ["first releases", "second holds"]
    finally:
        await first.close()
        await second.close()


async def _take(hub: RedisHub, conversation: str, order: list[str]) -> None:
    async with hub.conversation_lock(conversation):
        order.append("second holds")


async def test_staff_reply_crosses_gateways(gateway_factory, rasa, redis_url) -> None:  # type: ignore[no-untyped-def]
    """The applicant is connected to one gateway, the staff member works on another."""
    applicant_side = await gateway_factory(REDIS_URL=redis_url)
    staff_side = await gateway_factory(REDIS_URL=redis_url)
    assert (await (await staff_side.get("/health")).json())["components"]["redis"] == "up"
    reply = handing_over(applicant_side)
    rasa.reply = lambda text: (setattr(reply, "sender", rasa.received[-1]["sender"]), reply(text))[1]
    headers = await login(staff_side)

    applicant = ChatClient(await applicant_side.ws_connect("/ws"))
    await applicant.hello()
    await applicant.send({"type": "message", "id": "1", "text": "I want a person"})
    assert (await applicant.next("state"))["state"] == "queued"
    ticket = (await (await staff_side.get("/staff/api/tickets")).json())["tickets"][0]["id"]

    assert (await staff_side.post(f"/staff/api/tickets/{ticket}/claim", json={}, headers=headers)).status == 200
    assert "Agent" in (await applicant.next("message", role="system"))["text"]
    sent = await staff_side.post(
        f"/staff/api/tickets/{ticket}/reply", json={"text": "Hello from desk 3"}, headers=headers
    )
    assert sent.status == 200
    assert (await applicant.next("message", role="staff"))["text"] == "Hello from desk 3"

    resolved = await staff_side.post(
        f"/staff/api/tickets/{ticket}/resolve", json={"reason": "answered"}, headers=headers
    )
    assert resolved.status == 200
    assert (await applicant.next("state"))["state"] == "bot"


async def test_two_gateways_hand_a_message_to_rasa_once(gateway_factory, rasa, redis_url) -> None:  # type: ignore[no-untyped-def]
    """Both retry the same stored message at the same moment (as their retry loops may)."""
    first = await gateway_factory(REDIS_URL=redis_url)
    second = await gateway_factory(REDIS_URL=redis_url)
    rasa.delay_s = 0.3  # both gateways try while the first hand-over is still in flight
    db = first.app[DB]
    conversation = store.open_conversation(db, None)
    message, _ = store.record_user_message(db, conversation.id, "left while the bot was down", "m1")
    results = await asyncio.gather(
        first.app[CHAT].deliver(conversation.id, message), second.app[CHAT].deliver(conversation.id, message)
    )
    assert results == [True, True]
    assert [m["message"] for m in rasa.received] == ["left while the bot was down"]


async def test_a_lost_subscription_is_made_good_from_the_database(gateway_factory, rasa, redis_url) -> None:  # type: ignore[no-untyped-def]
    """Redis restarts: events published while a gateway was not subscribed never arrive. Once it subscribes
    again, its open connections send what the database holds beyond what they had sent (the fault test's
    Redis restart had a reply stored by one gateway that the other never showed)."""
    import redis.asyncio

    gateway = await gateway_factory(REDIS_URL=redis_url)
    applicant = ChatClient(await gateway.ws_connect("/ws"))
    conversation = (await applicant.hello())["conversation"]
    # A reply stored by another gateway whose event was lost on the way: nothing reaches the connection.
    store.record_messages(gateway.app[DB], conversation, "bot", [("stored while Redis was away", None)])
    try:
        await applicant.next("message", timeout=0.5)
        raise AssertionError("the reply arrived without a resync")
    except asyncio.TimeoutError:
        pass
    control = redis.asyncio.from_url(redis_url)
    try:
        clients = await control.client_list(_type="pubsub")
        ours = [c for c in clients if str(c.get("name", "")).startswith("etown-hub-")]
        assert ours, clients
        for client in ours:
            await control.client_kill_filter(_id=client["id"])
    finally:
        await control.close()
    caught_up = await applicant.next("message", role="bot")
    assert caught_up["text"] == "stored while Redis was away"
    assert (await applicant.next("typing"))["active"] is False
