"""Test helpers for the gateway: a scriptable Rasa REST endpoint and a WebSocket client that speaks the protocol.

The scripted Rasa only stands in where a test is about the gateway's own behaviour (ordering, storage,
validation, retries); the real Rasa server is exercised by tests/test_e2e.py."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web


@dataclass
class ScriptedRasa:
    """Answers every message with `reply(text)`; can be switched off to simulate a restart."""

    received: list[dict[str, Any]] = field(default_factory=list)
    up: bool = True
    delay_s: float = 0.0
    reply: Callable[[str], list[dict[str, Any]]] = lambda text: [{"text": f"echo: {text}"}]

    tracker_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    channel_tokens: list[str | None] = field(default_factory=list)  # what each message carried (bot/rasa/channel.py)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", self._events)
        app.router.add_get("/", self._root)
        return app

    async def _events(self, request: web.Request) -> web.Response:
        if not self.up:
            return web.Response(status=503)
        if not request.query.get("token"):
            return web.Response(status=401)
        self.tracker_events.append((request.match_info["sender"], await request.json()))
        return web.json_response({})

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa", status=200 if self.up else 503)

    async def _webhook(self, request: web.Request) -> web.Response:
        if not self.up:
            return web.Response(status=503)
        body = await request.json()
        self.received.append(body)
        self.channel_tokens.append(request.headers.get("X-Etown-Channel-Token"))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.json_response(
            [{"recipient_id": body["sender"], **message} for message in self.reply(body["message"])]
        )


class ChatClient:
    """Thin protocol client over an aiohttp test WebSocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def hello(self, conversation: str | None = None, after: int = 0) -> dict[str, Any]:
        await self.ws.send_json({"type": "hello", "conversation": conversation, "after": after})
        return await self.next("welcome")

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)

    async def next(self, kind: str | None = None, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        """The next frame of `kind` (and matching fields), skipping others (they are kept in `frames`)."""

        async def read() -> dict[str, Any]:
            while True:
                message = await self.ws.receive()
                frame = json.loads(message.data)
                self.frames.append(frame)
                if (kind is None or frame.get("type") == kind) and all(frame.get(k) == v for k, v in match.items()):
                    return frame

        return await asyncio.wait_for(read(), timeout)

    async def bot_reply(self, timeout: float = 30.0) -> dict[str, Any]:
        return await self.next("message", timeout=timeout, role="bot")


async def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "the condition") -> None:
    """Wait until `check()` holds (polled; it may read the database), instead of sleeping and hoping."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout:.0f} s")
        await asyncio.sleep(0.05)
