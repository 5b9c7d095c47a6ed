"""A Python client that speaks the widget's WebSocket protocol (bot/gateway/static/widget.js, bot/gateway/ws.py),
for the fault tests and the soak: it keeps every frame until the gateway acknowledges it, reconnects with a
backoff when the connection breaks (0.5 s doubling; the widget caps at 15 s, this client at `max_backoff_s`) and,
after each welcome, resends what is unacknowledged with the same ids, so a message is stored once whichever
gateway HAProxy sends the new connection to.

It also records what a measurement needs: when each turn was sent, acknowledged and first answered, and which
gateway served each connection (HAProxy's `X-Etown-Gateway` response header, see deploy/haproxy.cfg)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

GATEWAY_HEADER = "X-Etown-Gateway"
_ids = itertools.count(1)


@dataclass
class Turn:
    """One frame the user sent (a message or a handoff request) and what became of it."""

    client_id: str
    frame: dict[str, Any]
    sent_at: float
    seq: int | None = None  # the stored message's seq, from its ack
    acked_at: float | None = None
    answered_at: float | None = None  # the first bot message stored after it arrived

    @property
    def latency_s(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.sent_at


@dataclass(eq=False)  # one client is one browser: compared and hashed by identity
class WidgetClient:
    url: str  # ws://host:port/ws (through HAProxy)
    session: aiohttp.ClientSession
    name: str = "client"
    max_backoff_s: float = 4.0
    conversation: str | None = None
    last_seq: int = 0
    turns: dict[str, Turn] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    bot_seen: dict[int, float] = field(default_factory=dict)  # bot message seq -> when it first arrived
    gateways: list[str] = field(default_factory=list)  # the gateway of each connection, in order
    notices: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.ws is not None:
            await self.ws.close()

    @property
    def gateway(self) -> str | None:
        return self.gateways[-1] if self.ws is not None and self.gateways else None

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self.session.ws_connect(self.url, heartbeat=None) as ws:
                    await ws.send_json({"type": "hello", "conversation": self.conversation, "after": self.last_seq})
                    self.gateways.append(ws._response.headers.get(GATEWAY_HEADER, "?"))
                    async for raw in ws:
                        if raw.type != aiohttp.WSMsgType.TEXT:
                            break
                        await self._frame(ws, json.loads(raw.data))
                        if self.ws is ws:
                            delay = 0.5
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
                pass
            self.ws = None
            self._wake()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)

    async def _frame(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            self.conversation = frame["conversation"]
            for message in frame["history"]:
                self._saw(message)
            self.ws = ws
            self.connections += 1
            for pending in list(self.pending.values()):
                await ws.send_json(pending)
        elif kind == "ack":
            self.pending.pop(str(frame.get("id")), None)
            turn = self.turns.get(str(frame.get("id")))
            if turn is not None and turn.seq is None:
                turn.seq, turn.acked_at = frame["seq"], time.monotonic()
        elif kind == "message":
            self._saw(frame)
        elif kind == "notice":
            self.notices.append(frame)
        elif kind == "error":
            self.errors.append(frame)
            # As the widget does: a refused frame is dropped (it would be refused again).
            self.pending.pop(str(frame.get("id")), None)
        self._wake()

    def _saw(self, message: dict[str, Any]) -> None:
        self.last_seq = max(self.last_seq, message["seq"])
        if message["role"] == "bot":
            now = time.monotonic()
            self.bot_seen.setdefault(message["seq"], now)
            for turn in self.turns.values():
                if turn.answered_at is None and turn.seq is not None and message["seq"] > turn.seq:
                    turn.answered_at = now

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def _send(self, frame: dict[str, Any]) -> Turn:
        client_id = frame["id"]
        turn = self.turns[client_id] = Turn(client_id, frame, time.monotonic())
        self.pending[client_id] = frame
        if self.ws is not None and not self.ws.closed:
            try:
                await self.ws.send_json(frame)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                pass  # resent after the reconnection
        return turn

    async def say(self, text: str) -> Turn:
        return await self._send({"type": "message", "id": f"{self.name}-{next(_ids)}", "text": text})

    async def ask_for_person(self) -> Turn:
        return await self._send({"type": "handoff", "id": f"{self.name}-{next(_ids)}"})

    def idle(self) -> bool:
        """Connected, and every turn acknowledged and answered (the next one may go)."""
        return self.ws is not None and all(t.answered_at is not None for t in self.turns.values())

    async def until(self, condition: Any, timeout_s: float, what: str) -> None:
        """Wait for `condition()` (checked after every frame and connection change), at most `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: {what} not within {timeout_s:.0f} s")
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
            except asyncio.TimeoutError:
                pass

    async def answered(self, turn: Turn, timeout_s: float) -> None:
        await self.until(lambda: turn.answered_at is not None, timeout_s, f"an answer to {turn.client_id}")
