"""A few counters for operators, exposed at /metrics in the Prometheus text format."""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()

    def inc(self, name: str, value: int = 1) -> None:
        self.counters[name] += value

    def render(self, gauges: dict[str, float]) -> str:
        lines = []
        for name, value in sorted({**self.counters, **gauges}.items()):
            lines.append(f"# TYPE etown_{name} {'gauge' if name in gauges else 'counter'}")
            lines.append(f"etown_{name} {value}")
        return "\n".join(lines) + "\n"
