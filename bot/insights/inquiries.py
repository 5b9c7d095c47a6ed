"""What applicants asked and what the assistant did with it. Reads ids, roles, payloads and times only: the
text of messages is never selected."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from bot.core.payload import custom_of, turn_outcome
from bot.core.workdays import shanghai_date
from bot.db.models import Conversation, Message
from bot.insights.period import Period


def is_question(role: str, payload: dict | None) -> bool:
    """A question is text the applicant typed: not a button, a widget command or a rating."""
    return role == "user" and not payload


def outcome_of(replies: list[dict]) -> str:
    """The outcome of one question from the bot messages that followed it (the rule /metrics counts by too)."""
    return turn_outcome(replies)


@dataclass
class Inquiries:
    conversations: int = 0
    questions: int = 0
    conversations_by_day: Counter[date] = field(default_factory=Counter)
    questions_by_day: Counter[date] = field(default_factory=Counter)
    conversations_by_language: Counter[str] = field(default_factory=Counter)
    questions_by_language: Counter[str] = field(default_factory=Counter)
    questions_by_topic: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    sections: Counter[str] = field(default_factory=Counter)  # guide answers given, by section
    helpful: Counter[str] = field(default_factory=Counter)  # by section
    not_helpful: Counter[str] = field(default_factory=Counter)


def collect(session: sa.orm.Session, period: Period) -> Inquiries:
    result = Inquiries()
    conversations = session.execute(
        sa.select(Conversation.id, Conversation.created_at, Conversation.language).where(
            Conversation.created_at >= period.start, Conversation.created_at < period.end
        )
    ).all()
    languages = {}
    for cid, created, language in conversations:
        result.conversations += 1
        result.conversations_by_day[shanghai_date(created)] += 1
        result.conversations_by_language[language or "unknown"] += 1
        languages[cid] = language
    rows = session.execute(
        sa.select(Message.id, Message.conversation_id, Message.role, Message.payload, Message.created_at)
        .where(Message.created_at >= period.start, Message.created_at < period.end)
        .order_by(Message.conversation_id, Message.id)
    ).all()
    answers: dict[int, tuple[str, str]] = {}  # bot message id -> (conversation, section), for the ratings
    ratings: dict[tuple[str, int], str] = {}  # (conversation, rated message) -> last value: one rating each
    pending: tuple[str, date, list[dict]] | None = None  # the open question: conversation, day, replies

    def close() -> None:
        if pending is None:
            return
        cid, day, replies = pending
        outcome = outcome_of(replies)
        lang = next((c["lang"] for c in replies if c.get("lang") in ("en", "zh")), None)
        lang = lang or languages.get(cid) or "unknown"
        topic = next((c.get("topic") for c in replies if c.get("type") == "guide_answer"), None)
        result.questions += 1
        result.questions_by_day[day] += 1
        result.questions_by_language[lang] += 1
        result.questions_by_topic[topic or "(none)"] += 1
        result.outcomes[outcome] += 1

    for mid, cid, role, payload, created in rows:
        if pending is not None and (pending[0] != cid or role == "user"):
            close()
            pending = None
        custom = custom_of(payload)
        if role == "bot" and custom.get("type") == "guide_answer" and custom.get("section"):
            answers[mid] = (cid, str(custom["section"]))
            result.sections[answers[mid][1]] += 1
        if is_question(role, payload):
            pending = (cid, shanghai_date(created), [])
        elif role == "bot" and pending is not None:
            pending[2].append(custom)
        elif role == "user" and (payload or {}).get("feedback") in ("up", "down"):
            about = payload.get("about")
            if isinstance(about, int):
                ratings[(cid, about)] = payload["feedback"]
    close()
    rated = set(mid for _, mid in ratings) - set(answers)
    if rated:  # answers given before the period and rated in it
        for mid, cid, payload in session.execute(
            sa.select(Message.id, Message.conversation_id, Message.payload).where(
                Message.id.in_(rated), Message.role == "bot"
            )
        ).all():
            section = custom_of(payload).get("section")
            if custom_of(payload).get("type") == "guide_answer" and section:
                answers[mid] = (cid, str(section))
    for (cid, mid), value in ratings.items():
        # A rating counts only for an answer of its own conversation.
        if mid in answers and answers[mid][0] == cid:
            (result.helpful if value == "up" else result.not_helpful)[answers[mid][1]] += 1
    return result
