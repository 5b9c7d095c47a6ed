"""Answer feedback for guide editors: the guide sections most often rated "not helpful", with the questions that
led to those answers (user text, masked as the gateway stored it; shown to staff as text only). One rating per
answer counts: the latest one, and only from the answer's own conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa

from bot.core.payload import custom_of
from bot.db import Database
from bot.db.models import Message, utcnow
from bot.insights.csvout import to_csv
from bot.insights.inquiries import is_question

MAX_QUESTIONS = 20


@dataclass
class SectionFeedback:
    section: str
    title: str
    not_helpful: int = 0
    helpful: int = 0
    questions: list[tuple[str, datetime]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "title": self.title,
            "not_helpful": self.not_helpful,
            "helpful": self.helpful,
            "questions": [q for q, _ in self.questions[:MAX_QUESTIONS]],
        }


def unhelpful_sections(db: Database, days: int = 90, clock: Callable[[], datetime] = utcnow) -> list[SectionFeedback]:
    since = clock() - timedelta(days=days)
    with db.transaction() as session:
        ratings: dict[tuple[str, int], str] = {}
        for cid, payload in session.execute(
            sa.select(Message.conversation_id, Message.payload)
            .where(Message.role == "user", Message.created_at >= since)
            .order_by(Message.id)
        ).all():
            value, about = (payload or {}).get("feedback"), (payload or {}).get("about")
            if value in ("up", "down") and isinstance(about, int) and not isinstance(about, bool):
                ratings[(cid, about)] = value
        if not ratings:
            return []
        answers = {
            mid: (cid, custom_of(payload))
            for mid, cid, payload in session.execute(
                sa.select(Message.id, Message.conversation_id, Message.payload).where(
                    Message.id.in_([mid for _, mid in ratings]), Message.role == "bot"
                )
            ).all()
        }
        found: dict[str, SectionFeedback] = {}
        for (cid, mid), value in ratings.items():
            owner, custom = answers.get(mid, (None, {}))
            if owner != cid or custom.get("type") != "guide_answer" or not custom.get("section"):
                continue
            section = str(custom["section"])
            entry = found.setdefault(section, SectionFeedback(section, str(custom.get("title") or section)))
            if value == "up":
                entry.helpful += 1
                continue
            entry.not_helpful += 1
            for text, role, payload, at in session.execute(
                sa.select(Message.text, Message.role, Message.payload, Message.created_at)
                .where(Message.conversation_id == cid, Message.id < mid, Message.role == "user")
                .order_by(Message.id.desc())
                .limit(5)
            ).all():
                if is_question(role, payload):
                    entry.questions.append((text, at))
                    break
    ranked = [f for f in found.values() if f.not_helpful]
    return sorted(ranked, key=lambda f: (-f.not_helpful, f.helpful, f.section))


def feedback_csv(sections: list[SectionFeedback]) -> str:
    """One row per question before a "not helpful" answer; a section with no such question still gets a row."""
    rows: list[list[object]] = []
    for f in sections:
        head = [f.section, f.title, f.not_helpful, f.helpful]
        rows.extend([*head, text, at.isoformat()] for text, at in f.questions)
        if not f.questions:
            rows.append([*head, "", ""])
    return to_csv(["section", "title", "not_helpful", "helpful", "question_before", "asked_at"], rows)
