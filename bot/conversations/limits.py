"""Counting limits shared by every transport and every gateway: fixed windows per (rule, key).

One gateway keeps the counters in process; with REDIS_URL they live in Redis (INCR + EXPIRE), so a client that
spreads its frames over several connections, transports or gateways still meets the same limit. The rules
themselves, and what is keyed by conversation or by client address, belong to the chat service."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from bot.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window_s: int


class Limiter:
    """In-process fixed windows. `hit` returns 0 when allowed, else the seconds until the window ends."""

    MAX_KEYS = 100_000

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # (rule, key, window number) -> [count, when the window ends]
        self._counts: dict[tuple[str, str, int], list[float]] = {}

    async def hit(self, rule: Rule, key: str) -> float:
        now = self._clock()
        window = int(now // rule.window_s)
        end = (window + 1) * rule.window_s
        slot = self._counts.setdefault((rule.name, key, window), [0, end])
        slot[0] += 1
        if len(self._counts) > self.MAX_KEYS:
            self._forget(now)
        return 0.0 if slot[0] <= rule.limit else end - now

    def _forget(self, now: float) -> None:
        """Drop the windows that have ended."""
        self._counts = {k: v for k, v in self._counts.items() if v[1] > now}

    async def close(self) -> None:
        self._counts.clear()


class RedisLimiter(Limiter):
    """The same windows in Redis. If Redis fails, the check falls back to this process's counters (logged),
    so an outage slows nobody down more than one gateway would."""

    def __init__(self, url: str, prefix: str = "etown:limit:", clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        from redis import asyncio as redis_asyncio

        self._redis = redis_asyncio.from_url(url)
        self._prefix = prefix

    async def hit(self, rule: Rule, key: str) -> float:
        now = self._clock()
        window = int(now // rule.window_s)
        name = f"{self._prefix}{rule.name}:{key}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, rule.window_s + 5)
                count, _ = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - Redis down: keep limiting locally
            log.warning("rate limit falls back to this gateway's counters: %s", exc)
            return await super().hit(rule, key)
        return 0.0 if int(count) <= rule.limit else (window + 1) * rule.window_s - now

    async def close(self) -> None:
        await self._redis.close()
        await super().close()


def make_limiter(redis_url: str) -> Limiter:
    return RedisLimiter(redis_url) if redis_url else Limiter()


@dataclass(frozen=True)
class Rules:
    """Every limit of the chat service: keyed by conversation, or by client address (`*_per_address`)."""

    messages: Rule
    messages_per_address: Rule
    frames: Rule
    frames_per_address: Rule
    new_conversations: Rule
    handoffs: Rule
    handoffs_per_address: Rule
    lookups_per_address: Rule

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            messages=Rule("messages", settings.messages_per_minute, 60),
            messages_per_address=Rule("messages-address", settings.address_messages_per_minute, 60),
            frames=Rule("frames", settings.frames_per_minute, 60),
            frames_per_address=Rule("frames-address", 4 * settings.frames_per_minute, 60),
            new_conversations=Rule("conversations-address", settings.new_conversations_per_hour, 3600),
            handoffs=Rule("handoffs", 3, 600),
            handoffs_per_address=Rule("handoffs-address", settings.handoffs_per_hour, 3600),
            lookups_per_address=Rule("lookups-address", settings.lookups_per_hour, 3600),
        )


def client_address(remote: str | None, forwarded_for: str | None, trusted_proxies: tuple[str, ...]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the last address it forwarded
    (the one it saw; earlier entries are the client's own claims)."""
    peer = remote or "unknown"
    if forwarded_for and peer in trusted_proxies:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        untrusted = [hop for hop in hops if hop not in trusted_proxies]
        if untrusted:
            return untrusted[-1][:64]
    return peer[:64]
