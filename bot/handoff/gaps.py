"""Guide-gaps report for guide editors: questions the guide did not answer (the bot said it could not, or the
conversation went to staff), grouped by similarity, with counts and the answers staff gave. Raw material for the
next revision of knowledge/."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

import numpy as np
import sqlalchemy as sa
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.core import payload
from bot.db import Database
from bot.db.models import Message, Ticket, utcnow

SIMILAR = 0.35
NOT_ANSWERED = payload.NOT_ANSWERED_REASONS


@dataclass
class GapQuestion:
    text: str
    source: str  # fallback | handoff | marked (staff ticked "gap in the guide")
    conversation_id: str
    at: datetime
    staff_answers: list[str] = field(default_factory=list)


@dataclass
class GapGroup:
    label: str
    questions: list[GapQuestion]

    @property
    def count(self) -> int:
        return len(self.questions)

    def as_json(self) -> dict[str, Any]:
        sources: dict[str, int] = {}
        for question in self.questions:
            sources[question.source] = sources.get(question.source, 0) + 1
        answers = [a for q in self.questions for a in q.staff_answers]
        return {
            "label": self.label,
            "count": self.count,
            "sources": sources,
            "questions": [q.text for q in self.questions[:20]],
            "staff_answers": answers[:10],
        }


def collect(db: Database, days: int = 90, clock: Callable[[], datetime] = utcnow) -> list[GapQuestion]:
    since = clock() - timedelta(days=days)
    found: list[GapQuestion] = []
    with db.transaction() as session:
        rows = session.execute(
            sa.select(Message).where(Message.created_at >= since).order_by(Message.conversation_id, Message.id)
        ).scalars()
        last_user: dict[str, Message] = {}
        for message in rows:
            if message.role == "user" and not (message.payload or {}).get("button"):
                last_user[message.conversation_id] = message
            elif message.role == "bot":
                custom = (message.payload or {}).get("custom") or {}
                user = last_user.pop(message.conversation_id, None)
                if user is not None and custom.get("type") == payload.CLARIFY and custom.get("reason") in NOT_ANSWERED:
                    found.append(GapQuestion(user.text, "fallback", user.conversation_id, user.created_at))
        tickets = session.execute(sa.select(Ticket).where(Ticket.created_at >= since)).scalars().all()
        for ticket in tickets:
            question = session.execute(
                sa.select(Message)
                .where(
                    Message.conversation_id == ticket.conversation_id,
                    Message.role == "user",
                    Message.created_at <= ticket.created_at,
                    Message.payload.is_(None),
                )
                .order_by(Message.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if question is None:
                continue
            answers = session.execute(
                sa.select(Message.text)
                .where(
                    Message.conversation_id == ticket.conversation_id,
                    Message.role == "staff",
                    Message.created_at >= ticket.created_at,
                )
                .order_by(Message.id)
            ).scalars()
            source = "marked" if ticket.guide_gap else "handoff"
            found.append(GapQuestion(question.text, source, ticket.conversation_id, question.created_at, list(answers)))
    return found


def group(questions: list[GapQuestion]) -> list[GapGroup]:
    """Greedy grouping on character n-gram TF-IDF similarity (works for Chinese, English and mixed)."""
    if not questions:
        return []
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit_transform(
        [q.text.lower() for q in questions]
    )
    groups: list[list[int]] = []
    centroids: list[np.ndarray] = []
    for index in range(len(questions)):
        vector = vectors[index].toarray().ravel()
        scores = [float(vector @ c / (np.linalg.norm(c) or 1.0)) for c in centroids]
        best = int(np.argmax(scores)) if scores else -1
        if best >= 0 and scores[best] >= SIMILAR:
            groups[best].append(index)
            centroids[best] = centroids[best] + vector
        else:
            groups.append([index])
            centroids.append(vector.copy())
    result = []
    for members, centroid in zip(groups, centroids, strict=True):
        scores = [float(vectors[i].toarray().ravel() @ centroid) for i in members]
        label = questions[members[int(np.argmax(scores))]].text
        result.append(GapGroup(label=label, questions=[questions[i] for i in members]))
    return sorted(result, key=lambda g: (-g.count, g.label))


def report(db: Database, days: int = 90) -> list[GapGroup]:
    return group(collect(db, days))


def to_csv(groups: list[GapGroup]) -> str:
    """Every cell quoted (a spreadsheet cannot split one at a comma or a semicolon of the applicant's text) and
    every text cell neutralised against formulas."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["group", "group_size", "question", "source", "asked_at", "staff_answers"])
    for number, gap in enumerate(groups, start=1):
        for question in gap.questions:
            writer.writerow(
                [
                    number,
                    gap.count,
                    _safe(question.text),
                    _safe(question.source),
                    question.at.isoformat(),
                    _safe(" | ".join(question.staff_answers)),
                ]
            )
    return out.getvalue()


# A formula starts with = + - @ (or a tab or carriage return before one); a spreadsheet set to split at ';' sees a
# new cell after each semicolon, so the same holds there.
_FORMULA_START = re.compile(r"(^|;)([ ]*)(?=[=+\-@\t\r])")


def _safe(text: str) -> str:
    """Such cells, and such parts after a semicolon, get a leading apostrophe: shown as text, never run."""
    return _FORMULA_START.sub(lambda m: m.group(1) + m.group(2) + "'", text)
