"""What operators watch, exposed at /metrics in the Prometheus text format (prometheus_client).

Each gateway app owns its own `CollectorRegistry`, never the process-global one: two apps in one process (the
tests start many) keep separate counts, and nothing else that imports prometheus_client leaks into our page.
Turn outcomes are read from the payloads the bot sent (bot/core/payload.py), so the gateway counts what the bot
said it did without interpreting the conversation itself.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.core import payload
from bot.rasa.client import ActionsUnavailable

# Rasa turns take ~40 ms fresh and ~0.5 s late in a long conversation (DESIGN.md); a slow action can take seconds.
TURN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The gateway's counters, one registry per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "etown_turns",
            "Bot turns by outcome (answered, choice, not_covered, handoff, other)",
            ["outcome"],
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "etown_turn_seconds",
            "Time Rasa took to answer one user message",
            buckets=TURN_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "etown_bot_errors",
            "Turns that failed: Rasa unreachable (rasa) or the action server (actions)",
            ["kind"],
            registry=self.registry,
        )
        self.case_lookups = Counter(
            "etown_case_lookups",
            "Passport checks of a case by outcome (ok, denied, locked, wait, bad_format)",
            ["outcome"],
            registry=self.registry,
        )
        self.lookup_locks = Counter(
            "etown_case_lookup_locks", "Conversations locked by a failed passport check", registry=self.registry
        )
        self.queue_length = Gauge("etown_queue_length", "Tickets waiting for staff", registry=self.registry)
        # Gateway state read at scrape time (open topics, pending deliveries, refusals per limit): names vary
        # with the configured limits, so each gauge is made the first time its name is seen.
        self._gauges: dict[str, Gauge] = {}
        for outcome in payload.OUTCOMES:  # every series exists from the start, so a rate over zero is defined
            self.turns.labels(outcome)
        for kind in ("rasa", "actions"):
            self.errors.labels(kind)

    def turn(self, items: Iterable[tuple[str, Mapping[str, Any] | None]], seconds: float) -> str:
        """Count one answered turn from its transcript entries; returns the outcome it was counted as."""
        outcome = payload.turn_outcome(payload.custom_of(item) for _, item in items)
        self.turns.labels(outcome).inc()
        self.turn_seconds.observe(seconds)
        return outcome

    def bot_error(self, exc: Exception) -> None:
        self.errors.labels("actions" if isinstance(exc, ActionsUnavailable) else "rasa").inc()

    def case_lookup(self, outcome: str, locked_now: bool) -> None:
        """`locked_now`: this very check locked the conversation (not one refused because it already was)."""
        self.case_lookups.labels(outcome).inc()
        if locked_now and outcome == "locked":
            self.lookup_locks.inc()

    def render(self, gauges: Mapping[str, float], queue_length: int) -> bytes:
        self.queue_length.set(queue_length)
        for name, value in gauges.items():
            gauge = self._gauges.get(name)
            if gauge is None:
                gauge = self._gauges[name] = Gauge(f"etown_{name}", name.replace("_", " "), registry=self.registry)
            gauge.set(value)
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST
