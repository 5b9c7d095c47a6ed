"""The one place domain events become hub frames: the applicant's topic (its conversation id) and the staff topic.

Every change of a conversation or a ticket reaches connections through `Publisher.publish`, in the order the
service returned its events; the frames' shapes are the WebSocket protocol's (bot/gateway/ws.py)."""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

from bot.conversations.events import (
    Event,
    MessageAdded,
    Notice,
    QueueChanged,
    StateChanged,
    TicketOpened,
    Typing,
)
from bot.conversations.hub import Hub
from bot.db import Database
from bot.handoff import tickets

STAFF_TOPIC = "staff"


class Publisher:
    def __init__(self, hub: Hub, db: Database) -> None:
        self.hub = hub
        self.db = db

    async def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            await self._one(event)

    async def _one(self, event: Event) -> None:
        if isinstance(event, MessageAdded):
            wire = event.message.as_wire()
            if event.to_applicant:
                await self.hub.publish(event.conversation_id, {"type": "message", **wire})
            if event.to_staff:
                await self.hub.publish(
                    STAFF_TOPIC,
                    {
                        "type": "ticket_message",
                        "ticket": event.ticket,
                        "conversation": event.conversation_id,
                        "message": wire,
                    },
                )
        elif isinstance(event, StateChanged):
            frame: dict[str, Any] = {"type": "state", "state": event.state}
            if event.staff is not None:
                frame["staff"] = event.staff
            await self.hub.publish(event.conversation_id, frame)
        elif isinstance(event, TicketOpened):
            await self.hub.publish(STAFF_TOPIC, {"type": "ticket_new", "ticket": event.ticket})
        elif isinstance(event, QueueChanged):
            await self._queue()
        elif isinstance(event, Typing):
            frame = {"type": "typing", "role": event.role, "active": event.active}
            if event.turn is not None:
                frame["turn"] = event.turn
            await self.hub.publish(event.conversation_id, frame)
        elif isinstance(event, Notice):
            await self.hub.publish(
                event.conversation_id, {"type": "notice", "code": event.code, "text": event.text, "seq": event.seq}
            )
        else:  # pragma: no cover - a new event type must get its frame here
            raise TypeError(f"no frame for {event!r}")

    async def _queue(self) -> None:
        """Tell every waiting applicant their place and wait, and every console that the queue changed."""
        positions = await asyncio.to_thread(tickets.queue_positions, self.db)
        conversations = await asyncio.to_thread(tickets.conversations_of, self.db, [q.ticket for q in positions])
        for queue in positions:
            conversation = conversations.get(queue.ticket)
            if conversation:
                await self.hub.publish(
                    conversation,
                    {
                        "type": "queue",
                        "ticket": queue.ticket,
                        "position": queue.position,
                        "estimated_wait_s": queue.estimated_wait_s,
                    },
                )
        await self.hub.publish(STAFF_TOPIC, {"type": "queue_changed"})
