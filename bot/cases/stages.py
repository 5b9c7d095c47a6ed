"""Stage flows and promised time limits, read from knowledge/procedures.yml (content, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.core.workdays import WorkCalendar, shanghai_date
from bot.guide.loader import KNOWLEDGE_DIR, read_knowledge_yaml
from bot.guide.models import Localized


class InvalidTransition(ValueError):
    """A stage change the procedure's flow does not allow; the message says which moves are allowed."""


@dataclass(frozen=True)
class Promise:
    due_working_days: int
    next: Localized
    anchor: str | None  # count from the latest entry into this stage instead of the current one
    # Which rule the due date follows, said with the date; unconfirmed until the bureau confirms it.
    rule: Localized | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class Due:
    day: date
    estimated: bool
    next: Localized
    rule: Localized | None = None


@dataclass(frozen=True)
class Procedures:
    stage_labels: dict[str, Localized]
    next_steps: dict[str, Localized]
    promises: dict[str, Promise]
    flows: dict[str, dict[str, tuple[str, ...]]]
    flow_of: dict[str, str]

    def allowed_next(self, procedure: str, stage: str) -> tuple[str, ...]:
        return self.flows[self.flow_of[procedure]].get(stage, ())

    def check_transition(self, procedure: str, current: str, wanted: str) -> None:
        if procedure not in self.flow_of:
            raise InvalidTransition(f"unknown procedure {procedure!r}")
        if wanted not in self.stage_labels:
            raise InvalidTransition(f"unknown stage {wanted!r}; stages: {', '.join(self.stage_labels)}")
        allowed = self.allowed_next(procedure, current)
        if wanted not in allowed:
            choices = ", ".join(allowed) if allowed else "none (final stage)"
            raise InvalidTransition(f"{procedure}: cannot move from {current} to {wanted}; allowed: {choices}")

    def stages_of(self, procedure: str) -> tuple[str, ...]:
        flow = self.flows[self.flow_of[procedure]]
        return tuple(dict.fromkeys([*flow, *(s for nexts in flow.values() for s in nexts)]))

    def progress(self, procedure: str) -> tuple[str, ...]:
        """The stages a case of this procedure normally passes, first to last: the longest way through its flow
        without going back (a correction request and a refusal are detours, not steps). The widget draws it."""
        flow = self.flows[self.flow_of[procedure]]
        entered = {s for nexts in flow.values() for s in nexts}
        starts = [s for s in flow if s not in entered] or list(flow)[:1]

        def longest(stage: str, seen: tuple[str, ...]) -> tuple[str, ...]:
            ways = [longest(n, (*seen, n)) for n in flow.get(stage, ()) if n not in seen]
            return max(ways, key=len, default=seen)

        return max((longest(s, (s,)) for s in starts), key=len)

    def progress_step(self, procedure: str, stage: str) -> int | None:
        """Where `stage` sits on the progress path: its own place, else the place of the stage it leads back to
        (a correction request returns to the preliminary review); None when it is off the path (a refusal)."""
        path = self.progress(procedure)
        if stage in path:
            return path.index(stage)
        back = [n for n in self.allowed_next(procedure, stage) if n in path]
        return path.index(back[0]) if back else None

    def due(
        self, stage: str, stage_since: datetime, history: list[tuple[str, datetime]], calendar: WorkCalendar
    ) -> Due | None:
        """The promised date of the bureau's next step, or None when the next move is the applicant's (or final).

        `history` lists (stage entered, when) oldest first. A promise anchored on an earlier stage (the decision
        within 3 working days of acceptance) counts from that stage's latest entry, unless a correction request
        came after it, in which case it counts from the current stage."""
        promise = self.promises.get(stage)
        if promise is None:
            return None
        start = stage_since
        if promise.anchor:
            entered = [at for name, at in history if name == promise.anchor]
            corrections = [at for name, at in history if name == "materials_requested"]
            if entered and (not corrections or entered[-1] > corrections[-1]):
                start = entered[-1]
        result = calendar.working_days_after(shanghai_date(start), promise.due_working_days)
        return Due(result.day, result.estimated, promise.next, promise.rule)


def _localized(raw: dict[str, str]) -> Localized:
    return Localized(en=raw["en"], zh=raw["zh"])


def load_procedures(path: Path = KNOWLEDGE_DIR / "procedures.yml") -> Procedures:
    raw: dict[str, Any] = read_knowledge_yaml(path.read_text(encoding="utf-8"))
    labels = {key: _localized(value) for key, value in raw["stages"].items()}
    flows = {
        name: {stage: tuple(nexts) for stage, nexts in flow["transitions"].items()}
        for name, flow in raw["flows"].items()
    }
    for name, flow in flows.items():
        unknown = {s for s in flow} | {s for nexts in flow.values() for s in nexts}
        if unknown - set(labels):
            raise ValueError(f"procedures.yml: flow {name} uses unknown stages {sorted(unknown - set(labels))}")
    promises = {
        stage: Promise(
            int(p["due_working_days"]),
            _localized(p["next"]),
            p.get("from"),
            _localized(p["rule"]) if p.get("rule") else None,
            p.get("confirmed") is True,
        )
        for stage, p in (raw.get("promises") or {}).items()
    }
    return Procedures(
        stage_labels=labels,
        next_steps={key: _localized(value) for key, value in raw["next_steps"].items()},
        promises=promises,
        flows=flows,
        flow_of={name: spec["flow"] for name, spec in raw["procedures"].items()},
    )


@lru_cache(maxsize=1)
def default_procedures() -> Procedures:
    return load_procedures()
