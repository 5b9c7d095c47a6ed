"""Staff console over HTTP and WebSocket against the gateway: login, CSRF, the live handoff from queue to resolve.
(The Rasa side is scripted here; tests/test_e2e_handoff.py runs the same story with the real assistant.)"""

from __future__ import annotations

import asyncio
import json

from bot.gateway.keys import DB
from bot.handoff import staff_accounts, texts, tickets
from tests.gateway_support import ChatClient

PASSWORD = "a long enough password"


def handing_over(gateway):  # type: ignore[no-untyped-def]
    """Scripted Rasa that, like action_handoff, opens a ticket when asked for a person."""

    def reply(text: str) -> list[dict]:  # type: ignore[type-arg]
        if text == "/handoff_resolved":
            return [{"text": "How helpful was the staff member?"}]
        if "person" in text:
            conversation = reply.sender  # type: ignore[attr-defined]
            ticket, _ = tickets.open_ticket(gateway.app[DB], conversation, "asked", "en", None, True)
            return [
                {"text": "I have asked a staff member to take over."},
                {"custom": texts.handoff_payload(ticket.id, 1, 300, True, None, "en")},
            ]
        return [{"text": f"bot: {text}"}]

    return reply


async def login(gateway, username: str = "agent", role: str = "staff") -> dict[str, str]:  # type: ignore[no-untyped-def]
    staff_accounts.create_staff(gateway.app[DB], username, username.title(), PASSWORD, role)
    response = await gateway.post("/staff/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/staff" in cookie
    return {"X-CSRF-Token": (await response.json())["csrf"]}


async def test_console_needs_login_and_csrf(gateway) -> None:
    response = await gateway.get("/staff", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/staff/login"
    assert (await gateway.get("/staff/api/tickets")).status == 401
    bad = await gateway.post("/staff/login", json={"username": "agent", "password": "nope"})
    assert bad.status == 401
    headers = await login(gateway)
    assert (await gateway.get("/staff")).status == 200
    refused = await gateway.post("/staff/api/tickets/1/claim", json={})
    assert refused.status == 403 and (await refused.json())["error"] == "csrf"
    cross = await gateway.post(
        "/staff/api/tickets/1/claim", json={}, headers={**headers, "Origin": "https://evil.example"}
    )
    assert cross.status == 403
    missing = await gateway.post("/staff/api/tickets/999/claim", json={}, headers=headers)
    assert missing.status == 404
    garbage = await gateway.post("/staff/api/tickets/999/reply", data=b"\xff{", headers=headers)
    assert garbage.status == 400
    await gateway.post("/staff/logout", json={}, headers=headers)
    assert (await gateway.get("/staff/api/me")).status == 401


async def test_handoff_from_queue_to_resolve(gateway, rasa) -> None:
    reply = handing_over(gateway)
    rasa.reply = lambda text: (setattr(reply, "sender", rasa.received[-1]["sender"]), reply(text))[1]
    headers = await login(gateway)
    staff_ws = await gateway.ws_connect("/staff/ws")
    applicant = ChatClient(await gateway.ws_connect("/ws"))
    welcome = await applicant.hello()

    await applicant.send({"type": "message", "id": "1", "text": "<b>I want a person</b>"})
    assert (await applicant.next("state"))["state"] == "queued"
    queue = await applicant.next("queue")
    assert queue["position"] == 1 and queue["estimated_wait_s"] > 0
    new = await next_event(staff_ws, "ticket_new")
    ticket_id = new["ticket"]

    listing = await (await gateway.get("/staff/api/tickets")).json()
    assert [t["id"] for t in listing["tickets"]] == [ticket_id] and listing["tickets"][0]["status"] == "queued"

    claimed = await gateway.post(f"/staff/api/tickets/{ticket_id}/claim", json={}, headers=headers)
    assert claimed.status == 200
    joined = await applicant.next("message", role="system")
    assert "Agent" in joined["text"]
    second = await gateway.post(f"/staff/api/tickets/{ticket_id}/claim", json={}, headers=headers)
    assert second.status == 409

    before = len(rasa.received)
    await applicant.send({"type": "message", "id": "2", "text": "are you there? <script>x</script>"})
    ack = await applicant.next("ack", id="2")
    # The applicant's client learns that the turn is over (no bot reply will come) as after a bot turn.
    assert (await applicant.next("typing", turn=ack["seq"]))["active"] is False
    event = await next_event(staff_ws, "ticket_message", role="user")
    assert event["message"]["text"] == "are you there? <script>x</script>"
    # The console hears of it only once its delivery is settled (recorded as handed to the staff, not to Rasa).
    from bot.conversations import store

    assert store.undelivered_user_messages(gateway.app[DB]) == []
    assert len(rasa.received) == before  # the bot never answers while a person is in charge

    sent = await gateway.post(
        f"/staff/api/tickets/{ticket_id}/reply", json={"text": "Yes, I am here."}, headers=headers
    )
    assert sent.status == 200
    staff_message = await applicant.next("message", role="staff")
    assert staff_message["text"] == "Yes, I am here." and staff_message["author"] == "Agent"

    detail = await (await gateway.get(f"/staff/api/tickets/{ticket_id}")).json()
    assert [m["role"] for m in detail["transcript"]][:2] == ["user", "bot"]
    assert any(m["text"] == "<b>I want a person</b>" for m in detail["transcript"])

    resolved = await gateway.post(
        f"/staff/api/tickets/{ticket_id}/resolve", json={"reason": "answered", "note": "done"}, headers=headers
    )
    assert resolved.status == 200
    assert (await applicant.next("state"))["state"] == "bot"
    rating = await applicant.bot_reply()
    assert rating["text"] == "How helpful was the staff member?"
    sender, events = rasa.tracker_events[-1]
    assert sender == welcome["conversation"] and events[0] == {"event": "resume"}

    late = await gateway.post(f"/staff/api/tickets/{ticket_id}/reply", json={"text": "one more"}, headers=headers)
    assert late.status == 409 and (await late.json())["error"] == "resolved"

    await applicant.send({"type": "message", "id": "3", "text": "thanks"})
    assert (await applicant.bot_reply())["text"] == "bot: thanks"
    await staff_ws.close()


async def test_resolve_needs_a_known_reason(gateway) -> None:
    headers = await login(gateway, "boss", "admin")
    from bot.conversations import store

    conversation = store.open_conversation(gateway.app[DB], None)
    ticket, _ = tickets.open_ticket(gateway.app[DB], conversation.id, "asked", "en", None, True)
    response = await gateway.post(f"/staff/api/tickets/{ticket.id}/resolve", json={"reason": "bored"}, headers=headers)
    assert response.status == 400 and (await response.json())["error"] == "bad_reason"


async def next_event(ws, kind: str, timeout: float = 30, role: str | None = None) -> dict:  # type: ignore[no-untyped-def, type-arg]
    async def read() -> dict:  # type: ignore[type-arg]
        while True:
            event = json.loads((await ws.receive()).data)
            if event["type"] == kind and (role is None or event.get("message", {}).get("role") == role):
                return event

    return await asyncio.wait_for(read(), timeout)


async def test_an_unreachable_webhook_is_retried_and_never_blocks_chat(gateway_factory, rasa) -> None:
    from datetime import datetime, timedelta, timezone

    from bot.conversations import store
    from bot.gateway.keys import HTTP
    from bot.handoff import webhook

    gateway = await gateway_factory(STAFF_WEBHOOK_URL="http://127.0.0.1:9/hook")
    db = gateway.app[DB]
    conversation = store.open_conversation(db, None)
    ticket, _ = tickets.open_ticket(db, conversation.id, "asked", "en", None, True)
    webhook.enqueue(db, ticket, "http://127.0.0.1")
    assert await webhook.deliver_due(db, gateway.app[HTTP], "http://127.0.0.1:9/hook") == 0
    now = datetime.now(timezone.utc)
    assert webhook.due(db, now) == []  # backing off
    ((_, _, attempts),) = webhook.due(db, now + timedelta(seconds=webhook.backoff(1) + 1))
    assert attempts == 1
    applicant = ChatClient(await gateway.ws_connect("/ws"))
    await applicant.hello()
    await applicant.send({"type": "message", "id": "x", "text": "hello"})
    assert (await applicant.bot_reply())["text"] == "echo: hello"


async def test_resolved_while_rasa_is_down_the_bot_is_woken_after_a_gateway_restart(gateway_factory, rasa) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory()
    reply = handing_over(gateway)
    rasa.reply = lambda text: (setattr(reply, "sender", rasa.received[-1]["sender"]), reply(text))[1]
    headers = await login(gateway)
    applicant = ChatClient(await gateway.ws_connect("/ws"))
    conversation = (await applicant.hello())["conversation"]
    await applicant.send({"type": "message", "id": "1", "text": "a person please"})
    ticket = (await applicant.next("queue"))["ticket"]
    assert (await gateway.post(f"/staff/api/tickets/{ticket}/claim", json={}, headers=headers)).status == 200

    rasa.up = False
    resolved = await gateway.post(f"/staff/api/tickets/{ticket}/resolve", json={"reason": "answered"}, headers=headers)
    assert resolved.status == 200
    await applicant.ws.close()
    await gateway.close()  # the gateway goes away before Rasa is back

    rasa.up = True
    restarted = await gateway_factory()
    applicant = ChatClient(await restarted.ws_connect("/ws"))
    assert (await applicant.hello(conversation))["state"] == "resolved"
    await applicant.send({"type": "message", "id": "2", "text": "one more question"})
    assert (await applicant.bot_reply())["text"] == "bot: one more question"
    sender, events = rasa.tracker_events[-1]
    assert sender == conversation and events[0] == {"event": "resume"}
