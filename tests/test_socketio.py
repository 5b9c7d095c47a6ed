"""The socket.io endpoint speaks Rasa's socket.io channel protocol (what rasa-webchat uses), handoff included;
it is off unless SOCKETIO_ORIGINS names the sites that may use it, and only those origins can."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from bot.conversations import store
from bot.gateway.keys import DB
from bot.handoff import staff_accounts, tickets
from tests.gateway_support import eventually

# A site that runs rasa-webchat (in its own page, so its session id is readable there): opted in by name.
WEBCHAT_SITE = "https://webchat.example.gov.cn"


@pytest.fixture
async def gateway(gateway_factory):  # type: ignore[no-untyped-def]
    return await gateway_factory(SOCKETIO_ORIGINS=WEBCHAT_SITE)


class Webchat:
    """A python-socketio client doing what rasa-webchat does."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.session: asyncio.Future = asyncio.get_event_loop().create_future()
        self.client.on("bot_uttered", self.inbox.put_nowait)
        self.client.on("session_confirm", lambda sid: self.session.done() or self.session.set_result(sid))

    async def start(self, url: str, session_id: str | None = None, transports: list[str] | None = None) -> str:
        await self.client.connect(url, socketio_path="socket.io", transports=transports or ["websocket"])
        await self.client.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.session, 30)

    async def say(self, session_id: str, text: str, custom: dict | None = None) -> None:  # type: ignore[type-arg]
        await self.client.emit("user_uttered", {"message": text, "customData": custom or {}, "session_id": session_id})

    async def next(self) -> dict:  # type: ignore[type-arg]
        return await asyncio.wait_for(self.inbox.get(), 30)


async def test_session_and_messages_follow_rasas_protocol(gateway, rasa) -> None:
    url = str(gateway.make_url("")).rstrip("/")
    rasa.reply = lambda text: [
        {"text": f"bot: {text}", "buttons": [{"title": "Fees", "payload": '/faq{"section": "fees"}'}]}
    ]
    chat = Webchat()
    session = await chat.start(url, transports=["polling", "websocket"])
    assert len(session) == 48
    await chat.say(session, "hello <b>there</b>", {"language": "zh-CN"})  # a locale names the choice too
    reply = await chat.next()
    assert reply["text"] == "bot: hello <b>there</b>"
    assert reply["quick_replies"] == [{"content_type": "text", "title": "Fees", "payload": '/faq{"section": "fees"}'}]
    assert rasa.received[-1]["metadata"].get("language") == "zh"
    await chat.say(session, '/faq{"section": "fees"}')
    await chat.next()
    assert rasa.received[-1]["message"] == '/faq{"section": "fees", "language": "zh"}'  # an offered quick reply
    await chat.say(session, "/restart")
    await chat.next()
    assert rasa.received[-1]["message"] == "／restart"  # typed commands are never injected
    await chat.client.disconnect()

    again = Webchat()
    assert await again.start(url, session) == session  # session persistence
    await again.client.disconnect()


async def test_staff_replies_reach_webchat_during_a_handoff(gateway, rasa) -> None:
    url = str(gateway.make_url("")).rstrip("/")
    chat = Webchat()
    session = await chat.start(url)
    ticket, _ = tickets.open_ticket(gateway.app[DB], session, "asked", "en", None, True)
    staff = staff_accounts.create_staff(gateway.app[DB], "sio", "Liu Yang", "a long enough password")
    tickets.claim(gateway.app[DB], ticket.id, staff.id)
    before = len(rasa.received)
    await chat.say(session, "is anyone there?")

    def handed_to_staff() -> bool:
        stored = [m.text for m in store.history(gateway.app[DB], session) if m.role == "user"]
        return "is anyone there?" in stored and store.undelivered_user_messages(gateway.app[DB]) == []

    # Stored and delivered (to the staff side: nothing is left that could still go to Rasa), and Rasa got nothing.
    await eventually(handed_to_staff, what="the message handed to the staff")
    assert len(rasa.received) == before
    from bot.gateway.keys import CHAT

    _, events = tickets.reply(gateway.app[DB], ticket.id, staff.id, "Yes, Liu Yang here.")
    await gateway.app[CHAT].publisher.publish(events)
    assert (await chat.next())["text"] == "Liu Yang: Yes, Liu Yang here."
    await chat.client.disconnect()


HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


async def test_the_socketio_path_is_off_by_default(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    """The widget's embedders (ALLOWED_ORIGINS) frame it, where the token is out of the page's reach; that does
    not open the path on which the host page holds the token."""
    default = await gateway_factory()
    response = await default.get(HANDSHAKE, headers={"Origin": "https://bureau.example.gov.cn"})
    assert response.status == 404


async def test_only_the_listed_sites_may_open_a_socketio_session(gateway) -> None:  # type: ignore[no-untyped-def]
    listed = await gateway.get(HANDSHAKE, headers={"Origin": WEBCHAT_SITE})
    assert listed.status == 200 and '"sid"' in await listed.text()
    assert listed.headers.get("Access-Control-Allow-Origin") == WEBCHAT_SITE
    for other in ("https://bureau.example.gov.cn", "https://evil.example"):  # a widget embedder is not enough
        refused = await gateway.get(HANDSHAKE, headers={"Origin": other})
        assert refused.status == 400, other
