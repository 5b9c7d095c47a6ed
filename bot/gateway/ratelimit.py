"""Token bucket: a short burst is fine, a sustained flood is slowed down with a clear message."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, per_minute: int, burst: int, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.rate = per_minute / 60.0
        self.capacity = float(burst)
        self.tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> float:
        """0 when allowed; otherwise the seconds to wait before the next message is accepted."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else float("inf")
