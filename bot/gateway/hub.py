"""Fan-out of conversation events to every open connection of that conversation (several tabs, the staff
console). In-process here; a Redis-backed hub with the same interface serves several gateway instances."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any


class Hub:
    def __init__(self, queue_size: int = 256) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._queue_size = queue_size

    def subscribe(self, topic: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._queues[topic].add(queue)
        return queue

    def unsubscribe(self, topic: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        subscribers = self._queues.get(topic)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._queues[topic]

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.deliver_local(topic, event)

    def deliver_local(self, topic: str, event: dict[str, Any]) -> None:
        for queue in list(self._queues.get(topic, ())):
            if queue.full():
                # A stalled client loses live events, never data: it re-reads history on reconnect.
                queue.get_nowait()
            queue.put_nowait(event)

    def subscribers(self, topic: str) -> int:
        return len(self._queues.get(topic, ()))

    async def close(self) -> None:
        self._queues.clear()
