"""Rasa's socket.io channel protocol, served by the gateway, so sites running rasa-webchat keep working unchanged.

session_request {session_id} → session_confirm <id>; user_uttered {message, customData, session_id} → bot_uttered
messages ({"text"}, {"text", "quick_replies"}, custom payloads as {"custom"}). The session id is the gateway's
conversation id (session persistence), so a reload resumes, and staff replies during a handoff arrive as
bot_uttered like any other message. Everything goes through the same ChatService as the WebSocket widget:
stored before it is handled, checked, masked, routed to Rasa or to staff.

Off unless SOCKETIO_ORIGINS lists the sites allowed to use it. rasa-webchat runs in the host page itself, not in
the gateway's iframe: its session id, which is this conversation's bearer token (resume, export, delete), sits in
the host page's storage, and what the applicant types is in the host page's DOM, where every script of that page
(an analytics tag, an XSS elsewhere on the site) can read it. The widget keeps both in the gateway's own origin; a
site should opt into this path knowingly, so ALLOWED_ORIGINS (who may frame the widget) does not grant it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import socketio
from aiohttp import web

from bot.conversations.input_checks import TextRejected
from bot.conversations.limits import client_address
from bot.conversations.router import ChatService, Client
from bot.gateway.keys import CHAT, SETTINGS
from bot.nlu.language import normalize_language
from bot.texts import both

log = logging.getLogger(__name__)
USER_EVENT = "user_uttered"
BOT_EVENT = "bot_uttered"


def rasa_socketio_messages(event: dict[str, Any]) -> list[dict[str, Any]]:
    """A gateway message event → what Rasa's socket.io output channel would emit for it."""
    if event.get("type") != "message" or event.get("role") == "user":
        return []
    text = event.get("text") or ""
    if event.get("role") == "staff" and event.get("author"):
        text = f"{event['author']}: {text}"
    out: list[dict[str, Any]] = []
    buttons = event.get("buttons") or []
    if text and buttons:
        quick = [
            {"content_type": "text", "title": b.get("title", ""), "payload": b.get("payload", "")} for b in buttons
        ]
        out.append({"text": text, "quick_replies": quick})
    elif text:
        out.append({"text": text})
    if event.get("custom"):
        out.append({"custom": event["custom"]})
    return out


def attach(app: web.Application) -> socketio.AsyncServer:
    settings = app[SETTINGS]
    # Browsers send Origin on the handshake; engine.io refuses one not listed (a script elsewhere cannot use it).
    origins: Any = "*" if "*" in settings.socketio_origins else list(settings.socketio_origins)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=origins,
        logger=False,
        engineio_logger=False,
        max_http_buffer_size=64 * 1024,
    )
    sio.attach(app, socketio_path="socket.io")
    forwarders: dict[str, tuple[str, asyncio.Task[None], Any]] = {}

    def chat() -> ChatService:
        return app[CHAT]

    async def stop_forwarding(sid: str) -> None:
        current = forwarders.pop(sid, None)
        if current is not None:
            topic, task, queue = current
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            chat().hub.unsubscribe(topic, queue)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request = environ.get("aiohttp.request")
        remote = request.remote if request is not None else None
        forwarded = request.headers.get("X-Forwarded-For") if request is not None else None
        await sio.save_session(sid, {"address": client_address(remote, forwarded, settings.trusted_proxies)})

    async def client_of(sid: str) -> Client:
        return Client((await sio.get_session(sid)).get("address") or "unknown")

    @sio.event
    async def session_request(sid: str, data: Any) -> None:
        requested = data.get("session_id") if isinstance(data, dict) else None
        client = await client_of(sid)
        try:
            await chat().admit_frame(None, client)
            conversation = await chat().open(
                requested if isinstance(requested, str) else None, client, channel="socketio"
            )
        except TextRejected as exc:
            await sio.emit(BOT_EVENT, {"text": str(exc)}, to=sid)
            return
        await stop_forwarding(sid)
        await sio.save_session(sid, {"conversation": conversation.id, "address": client.address})
        await sio.enter_room(sid, conversation.id)
        queue = chat().hub.subscribe(conversation.id)

        async def forward() -> None:
            while True:
                event = await queue.get()
                for message in rasa_socketio_messages(event):
                    await sio.emit(BOT_EVENT, message, to=sid)

        forwarders[sid] = (conversation.id, asyncio.create_task(forward()), queue)
        await sio.emit("session_confirm", conversation.id, to=sid)

    @sio.on(USER_EVENT)
    async def user_uttered(sid: str, data: Any) -> None:
        session = await sio.get_session(sid)
        if not isinstance(data, dict) or "conversation" not in session:
            await sio.emit(BOT_EVENT, {"text": "Please reload the page (no session)."}, to=sid)
            return
        if data.get("session_id") not in (None, session["conversation"]):
            return  # a message for another session on this socket: ignored, as Rasa does
        service = chat()
        client = Client(session.get("address") or "unknown")
        conversation = await service.resume(session["conversation"])
        if conversation is None:
            await sio.emit(BOT_EVENT, {"text": "Please reload the page (no session)."}, to=sid)
            return
        text = data.get("message")
        try:
            await service.admit_frame(conversation.id, client)
            raw_custom = data.get("customData")
            custom: dict[str, Any] = raw_custom if isinstance(raw_custom, dict) else {}
            # the widget's language switch is an explicit choice, read like the WebSocket's set_language
            chosen = normalize_language(custom.get("language"))
            if chosen is not None and chosen != conversation.language_choice:
                await service.set_language_choice(conversation.id, chosen)
            if isinstance(text, str) and len(text) > service.settings.max_message_chars * 4:
                raise TextRejected("too_long", both("errors.message.too_long_short"))
            try:
                if isinstance(text, str) and text.startswith("/"):
                    accepted = await service.accept_button(conversation, text, text, None, client)
                else:
                    accepted = await service.accept_text(conversation, text, None, client)
            except TextRejected as exc:
                if not (isinstance(text, str) and text.startswith("/") and exc.code in ("not_offered", "bad_payload")):
                    raise
                accepted = await service.accept_text(conversation, text, None, client)
        except TextRejected as exc:
            await sio.emit(BOT_EVENT, {"text": str(exc)}, to=sid)
            return
        service.deliver_soon(conversation.id, accepted.message)

    @sio.event
    async def disconnect(sid: str) -> None:
        await stop_forwarding(sid)

    return sio
