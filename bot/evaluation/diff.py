"""`make eval` against the last run, question by question: which questions got better, worse or stayed the same,
so an editor sees what a change to the examples does before it ships. Each run's verdicts are kept in
results/eval/verdicts.json; the next run compares with them and then replaces them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# Higher is better. Covered questions and questions the guide does not cover have their own scales.
RANK = {
    "correct": 4,
    "incomplete": 3,
    "clarify_right": 2,
    "no_answer": 1,
    "clarify_wrong": 1,
    "wrong": 0,
    "declined": 2,
    "clarified": 1,
    "answered_anyway": 0,
}
Verdicts = dict[str, dict[str, str]]  # set -> "lang | question" -> verdict


def key(lang: str, text: str) -> str:
    return f"{lang} | {text}"


@dataclass
class Change:
    set_name: str
    question: str
    before: str
    after: str


@dataclass
class Diff:
    better: list[Change] = field(default_factory=list)
    worse: list[Change] = field(default_factory=list)
    same: int = 0
    new: int = 0  # not asked last time
    gone: int = 0  # asked last time, not now

    def render(self, limit: int = 40) -> str:
        lines = [
            f"against the last run: better {len(self.better)}, worse {len(self.worse)}, same {self.same}, "
            f"new {self.new}, no longer asked {self.gone}"
        ]
        for label, changes in (("worse", self.worse), ("better", self.better)):
            for change in changes[:limit]:
                lines.append(f"  {label:<6} [{change.set_name}] {change.question}: {change.before} → {change.after}")
            if len(changes) > limit:
                lines.append(f"  … and {len(changes) - limit} more {label}")
        return "\n".join(lines)


def compare(before: Verdicts, after: Verdicts) -> Diff:
    diff = Diff()
    for set_name, now in after.items():
        then = before.get(set_name, {})
        for question, verdict in now.items():
            old = then.get(question)
            if old is None:
                diff.new += 1
            elif RANK.get(verdict, 0) > RANK.get(old, 0):
                diff.better.append(Change(set_name, question, old, verdict))
            elif RANK.get(verdict, 0) < RANK.get(old, 0):
                diff.worse.append(Change(set_name, question, old, verdict))
            else:
                diff.same += 1  # includes a change between two verdicts of the same rank
        diff.gone += len(set(then) - set(now))
    return diff


def load(path: Path) -> Verdicts | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def compare_and_save(path: Path, current: Verdicts) -> Diff | None:
    """The difference against the verdicts saved by the last run (None on the first run); then save these."""
    previous = load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    return compare(previous, current) if previous is not None else None
