"""Fan-out of conversation events to every open connection of that conversation (several tabs, the staff
console), and a per-conversation lock across gateway instances.

`Hub` is in-process: enough for the embedded default, one gateway. With `REDIS_URL` set, `RedisHub` keeps the
same interface and relays every event through Redis pub/sub, so a staff reply posted on one gateway reaches an
applicant connected to another; its lock keeps two gateways from handing the same stored message to Rasa."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from typing import Any, AsyncIterator

log = logging.getLogger(__name__)

# Put into every local queue when live events may have been missed (the Redis subscription was lost and is back):
# each consumer catches up from the database, the source of truth, instead of waiting for its client to reconnect.
# Internal: consumers act on it and never forward it as it is.
RESYNC = "resync"


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

    def resync_local(self) -> None:
        """Tell every local subscriber to catch up (see RESYNC)."""
        for topic in list(self._queues):
            self.deliver_local(topic, {"type": RESYNC})

    def subscribers(self, topic: str) -> int:
        return len(self._queues.get(topic, ()))

    def topics(self) -> int:
        return len(self._queues)

    @contextlib.asynccontextmanager
    async def conversation_lock(self, conversation_id: str) -> AsyncIterator[None]:
        """One gateway: the chat service's own per-conversation lock already serialises delivery."""
        yield

    async def healthy(self) -> bool | None:
        """None: nothing outside this process to check."""
        return None

    async def start(self) -> None:
        """Nothing to connect to in-process."""

    async def close(self) -> None:
        self._queues.clear()


class RedisHub(Hub):
    """Events go to local subscribers at once and to the other gateways through one Redis channel per topic
    (one pattern subscription per gateway: a bureau's traffic is small, and it needs no per-topic bookkeeping)."""

    LOCK_TIMEOUT_S = 6.0  # renewed while held: how long a dead gateway's lock outlives it
    RECONNECT_MAX_S = 10.0

    def __init__(self, url: str, prefix: str = "etown:hub:", queue_size: int = 256) -> None:
        super().__init__(queue_size)
        from redis import asyncio as redis_asyncio

        self._origin = uuid.uuid4().hex
        # Named, so `CLIENT LIST` on the Redis server shows which gateway a connection belongs to.
        self._redis = redis_asyncio.from_url(url, client_name=f"etown-hub-{self._origin[:12]}")
        self._prefix = prefix
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Subscribe before the gateway accepts connections, so no event published after start is missed."""
        try:
            await self._redis.ping()
        except Exception as exc:
            raise RuntimeError(f"REDIS_URL is set but Redis does not answer: {exc}") from exc
        self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def healthy(self) -> bool | None:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), timeout=3))
        except Exception:  # noqa: BLE001 - any failure means "down" on /health
            return False

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.deliver_local(topic, event)
        body = json.dumps({"origin": self._origin, "event": event}, ensure_ascii=False)
        try:
            await self._redis.publish(self._prefix + topic, body)
        except Exception as exc:  # noqa: BLE001 - Redis down: the other gateways' clients re-read history
            log.warning("could not relay an event through Redis: %s", exc)

    async def _listen(self) -> None:
        delay = 0.5
        lost = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + "*")
                self._subscribed.set()
                delay = 0.5
                if lost:
                    # What other gateways published meanwhile never arrived: the connections here re-read it.
                    log.warning("Redis subscription restored; open connections catch up from the database")
                    self.resync_local()
                    lost = False
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._relay(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening through Redis restarts
                lost = True
                log.warning("Redis subscription lost (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.RECONNECT_MAX_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.close()

    def _relay(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        try:
            body = json.loads(message["data"])
        except (TypeError, ValueError, KeyError):
            log.warning("ignored a malformed hub message on %s", channel)
            return
        if not isinstance(body, dict) or body.get("origin") == self._origin or not isinstance(body.get("event"), dict):
            return
        self.deliver_local(channel[len(self._prefix) :], body["event"])

    @contextlib.asynccontextmanager
    async def conversation_lock(self, conversation_id: str) -> AsyncIterator[None]:
        """Held as long as the turn runs (renewed every third of LOCK_TIMEOUT_S), so a gateway killed mid-turn
        blocks its conversation for LOCK_TIMEOUT_S at most, not for the longest a turn may take (measured with
        a 60 s lock: the answers of a killed gateway's turns came 60 s late)."""
        lock = self._redis.lock(f"{self._prefix}lock:{conversation_id}", timeout=self.LOCK_TIMEOUT_S)
        await lock.acquire()
        renewing = asyncio.create_task(self._renew(lock))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(Exception):  # expired meanwhile: nothing left to release
                await lock.release()

    async def _renew(self, lock: Any) -> None:
        while True:
            await asyncio.sleep(self.LOCK_TIMEOUT_S / 3)
            with contextlib.suppress(Exception):  # Redis down: the lock expires, as it would for a dead gateway
                await lock.reacquire()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.close()
        await super().close()


async def start_hub(redis_url: str) -> Hub:
    """The hub this gateway needs: Redis-backed when REDIS_URL is set, in-process otherwise."""
    hub: Hub = RedisHub(redis_url) if redis_url else Hub()
    await hub.start()
    return hub
