"""WebSocket chat protocol between a browser (widget or chat page) and the gateway.

Client → server frames (JSON objects):
  {"type": "hello", "conversation": <id|null>, "after": <last seq seen>}       first frame; resumes or starts
  {"type": "message", "id": <client id>, "text": "..."}                       typed text
  {"type": "button", "id": <client id>, "payload": "/...", "title": "..."}    a button the bot offered
  {"type": "verify", "id": <client id>, "passport": "..."}                   answer to a passport check request
  {"type": "handoff", "id": <client id>}                                    ask for a person (any time)
  {"type": "feedback", "id": <client id>, "seq": <answer seq>, "value": "up"|"down"}   rate an answer
  {"type": "set_language", "lang": "en"|"zh"|null}                            explicit language choice
  {"type": "ping"}
Server → client frames:
  {"type": "welcome", "conversation", "state", "language", "history": [...]}
  {"type": "ack", "id", "seq", "duplicate"}       the message is stored (sent only after the commit)
  {"type": "message", "seq", "role", "text", "buttons"?, "custom"?, "id"?}
  {"type": "typing", "role", "active"}  {"type": "notice", "code", "text"}  {"type": "error", "code", "message", "id"?}
Every frame counts against the limits of the chat service (per conversation and per client address); a refused
or oversized frame gets an error frame and the connection stays open.
A resend of a message with the same client id is acknowledged again and never stored or answered twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

import redis.exceptions
import sqlalchemy.exc
from aiohttp import WSCloseCode, WSMsgType, web

from bot.conversations.hub import RESYNC
from bot.conversations.limits import client_address
from bot.conversations.router import HANDOFF_COMMAND, Accepted, ChatService, Client
from bot.conversations.store import ConversationInfo
from bot.core.errors import ServiceError
from bot.gateway.keys import CHAT, SETTINGS
from bot.nlu.language import normalize_language
from bot.texts import both

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# Frames above MAX_FRAME_BYTES get an error (the connection stays); aiohttp closes a connection only beyond
# HARD_FRAME_BYTES, which no client of ours sends.
MAX_FRAME_BYTES = 64 * 1024
HARD_FRAME_BYTES = 256 * 1024
HELLO_TIMEOUT_S = 15
MAX_CLIENT_ID = 64
# The database or Redis unreachable: the connection ends with an error frame without an id (a client keeps its
# unacknowledged messages and resends them once it is back), instead of an unexplained drop.
STORE_DOWN = (sqlalchemy.exc.DBAPIError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
FEEDBACK_LABELS = {"up": "👍", "down": "👎"}


class ProtocolError(ServiceError):
    """A frame this protocol does not understand; the connection stays open."""


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin on WebSocket upgrades; other clients may omit it."""
    if not origin:
        return True
    return "*" in allowed or origin.rstrip("/") in allowed


def parse_frame(raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("bad_encoding", both("errors.frame.bad_encoding")) from exc
    try:
        frame = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise ProtocolError("bad_json", both("errors.frame.bad_json")) from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ProtocolError("bad_frame", both("errors.frame.bad_frame"))
    return frame


def _sized(raw: Any) -> Any:
    """A frame larger than any message needs is refused with a clear error; the connection stays open."""
    if len(raw) > MAX_FRAME_BYTES:
        raise ProtocolError("too_large", both("errors.frame.too_large", kb=MAX_FRAME_BYTES // 1024))
    return raw


def client_id_of(frame: dict[str, Any]) -> str | None:
    value = frame.get("id")
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > MAX_CLIENT_ID:
        raise ProtocolError("bad_id", both("errors.frame.bad_id", chars=MAX_CLIENT_ID))
    return str(value)


class ChatConnection:
    """One browser connection: reads frames, writes events of its conversation."""

    def __init__(self, ws: web.WebSocketResponse, chat: ChatService, client: Client) -> None:
        self.ws = ws
        self.chat = chat
        self.client = client
        self.conversation: ConversationInfo | None = None
        self.last_seq = 0  # the newest transcript entry this connection has sent (where a catch-up starts)

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(frame, ensure_ascii=False, default=str))
            self._sent_up_to(frame)

    def _sent_up_to(self, frame: dict[str, Any]) -> None:
        entries = frame.get("history") if frame.get("type") == "welcome" else [frame]
        for entry in entries or ():
            seq = entry.get("seq") if isinstance(entry, dict) and entry.get("type", "message") == "message" else None
            if isinstance(seq, int) and not isinstance(seq, bool):
                self.last_seq = max(self.last_seq, seq)

    async def error(self, code: str, message: str, client_id: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if client_id is not None:
            frame["id"] = client_id
        await self.send(frame)

    async def run(self) -> None:
        opened = await self._await_hello()
        if opened is None:
            return
        hello, self.conversation = opened
        after = hello["after"] if isinstance(hello.get("after"), int) else 0
        self.last_seq = max(0, after)
        topic = self.conversation.id
        queue = self.chat.hub.subscribe(topic)
        writer = asyncio.create_task(self._write_events(queue))
        try:
            history = await self.chat.history(topic, after_seq=max(0, after))
            await self.send(
                {
                    "type": "welcome",
                    "conversation": topic,
                    "state": self.conversation.state,
                    "language": self.conversation.language_choice,
                    "history": [m.as_wire() for m in history],
                }
            )
            async for raw in self.ws:
                if raw.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._handle(raw.data)
                elif raw.type == WSMsgType.ERROR:
                    break
        finally:
            writer.cancel()
            self.chat.hub.unsubscribe(topic, queue)

    async def _await_hello(self) -> tuple[dict[str, Any], ConversationInfo] | None:
        """Frames before the conversation is open count against the client address; so does a new conversation."""
        while True:
            try:
                raw = await self.ws.receive(timeout=HELLO_TIMEOUT_S)
            except asyncio.TimeoutError:
                await self.ws.close(code=4000, message=b"hello expected")
                return None
            if raw.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return None
            try:
                await self.chat.admit_frame(None, self.client)
                frame = parse_frame(_sized(raw.data))
                if frame["type"] != "hello":
                    await self.error("hello_expected", both("errors.frame.hello_expected"))
                    continue
                requested = frame.get("conversation")
                return frame, await self.chat.open(requested if isinstance(requested, str) else None, self.client)
            except ServiceError as exc:  # a bad frame, or over a limit
                await self.error(exc.code, str(exc))

    async def _write_events(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            event = await queue.get()
            try:
                if event.get("type") == RESYNC:
                    await self._catch_up()
                else:
                    await self.send(event)
            except ConnectionError:
                return
            except STORE_DOWN as exc:  # the catch-up waits for the next resync, or the client's reconnection
                log.warning("catch-up skipped: a store is unreachable (%s)", type(exc).__name__)

    async def _catch_up(self) -> None:
        """Send what was stored after the last entry this connection sent (live events were lost meanwhile); the
        widget drops entries it already has by seq."""
        assert self.conversation is not None
        missed = await self.chat.history(self.conversation.id, after_seq=self.last_seq)
        for message in missed:
            await self.send({"type": "message", **message.as_wire()})
        if missed:
            # The "stopped typing" of those turns may be among what was lost.
            await self.send({"type": "typing", "role": "bot", "active": False})

    async def _handle(self, data: Any) -> None:
        client_id = None
        assert self.conversation is not None
        try:
            await self.chat.admit_frame(self.conversation.id, self.client)
            frame = parse_frame(_sized(data))
            client_id = client_id_of(frame)
            kind = frame["type"]
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind in self._inputs:
                await self._take(self._inputs[kind](self, frame, client_id), client_id)
            elif kind == "set_language":
                await self._set_language(frame)
            elif kind == "hello":
                await self.error("already_open", both("errors.frame.already_open"), client_id)
            else:
                await self.error("unknown_type", both("errors.frame.unknown_type", kind=repr(kind[:40])), client_id)
        except ServiceError as exc:  # a bad frame (ProtocolError) or input the router refused (TextRejected)
            await self.error(exc.code, str(exc), client_id)

    async def _take(self, accepting: Awaitable[Accepted], client_id: str | None) -> None:
        """Every input frame the same way: stored by the router, acknowledged, then delivered in the background."""
        assert self.conversation is not None
        accepted = await accepting
        await self._ack(accepted.message.seq, client_id, duplicate=not accepted.is_new)
        self.chat.deliver_soon(self.conversation.id, accepted.message)

    def _message(self, frame: dict[str, Any], client_id: str | None) -> Awaitable[Accepted]:
        assert self.conversation is not None
        return self.chat.accept_text(self.conversation, frame.get("text"), client_id, self.client)

    def _button(self, frame: dict[str, Any], client_id: str | None) -> Awaitable[Accepted]:
        assert self.conversation is not None
        return self.chat.accept_button(
            self.conversation, frame.get("payload"), frame.get("title"), client_id, self.client
        )

    def _verify(self, frame: dict[str, Any], client_id: str | None) -> Awaitable[Accepted]:
        assert self.conversation is not None
        return self.chat.accept_verification(self.conversation, frame.get("passport"), client_id, self.client)

    def _handoff(self, frame: dict[str, Any], client_id: str | None) -> Awaitable[Accepted]:
        return self._control(client_id, HANDOFF_COMMAND, both("handoff.talk_to_person"), {})

    def _feedback(self, frame: dict[str, Any], client_id: str | None) -> Awaitable[Accepted]:
        """Thumbs up or down on an answer; a thumbs-down tells the bot the answer did not help (it offers a person)."""
        value, about = frame.get("value"), frame.get("seq")
        if value not in ("up", "down") or not isinstance(about, int) or isinstance(about, bool):
            raise ProtocolError("bad_feedback", both("errors.frame.bad_feedback"))
        command = "/unhelpful" if value == "down" else "/thanks"
        return self._control(client_id, command, FEEDBACK_LABELS[value], {"feedback": value, "about": about})

    def _control(self, client_id: str | None, command: str, label: str, extra: dict[str, Any]) -> Awaitable[Accepted]:
        assert self.conversation is not None
        return self.chat.accept_command(self.conversation, command, label, client_id, extra, self.client)

    # Frames that carry input for the conversation: each names how the router accepts it.
    _inputs: dict[str, Callable[[ChatConnection, dict[str, Any], str | None], Awaitable[Accepted]]] = {
        "message": _message,
        "button": _button,
        "verify": _verify,
        "handoff": _handoff,
        "feedback": _feedback,
    }

    async def _ack(self, seq: int, client_id: str | None, duplicate: bool) -> None:
        await self.send({"type": "ack", "id": client_id, "seq": seq, "duplicate": duplicate})

    async def _set_language(self, frame: dict[str, Any]) -> None:
        assert self.conversation is not None
        raw = frame.get("lang")
        language = normalize_language(raw)
        if raw is not None and language is None:
            raise ProtocolError("bad_language", both("errors.frame.bad_language"))
        await self.chat.set_language_choice(self.conversation.id, language)
        self.conversation = await self.chat.resume(self.conversation.id) or self.conversation
        await self.send({"type": "language", "lang": language})


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not origin_allowed(request.headers.get("Origin"), settings.allowed_origins):
        return web.json_response({"error": "origin_not_allowed"}, status=403)
    # No per-message deflate: frames are small, and compressing each one costs more CPU than it saves bandwidth.
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=HARD_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    address = client_address(request.remote, request.headers.get("X-Forwarded-For"), settings.trusted_proxies)
    connection = ChatConnection(ws, request.app[CHAT], Client(address))
    try:
        await connection.run()
    except ConnectionError:
        pass
    except STORE_DOWN as exc:
        log.warning("chat connection closed: a store is unreachable (%s)", type(exc).__name__)
        await connection.error("unavailable", both("conversations.store_down"))
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"store unavailable")
    return ws
