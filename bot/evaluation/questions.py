"""The evaluation questions (tests/eval/*.yml) and what the bot did with each.

Two sets share one format. The real-voice set (tests/eval/real_voice.yml) is modelled on public posts and FAQ
entries: each question carries its `source`, whether a person is the right outcome (`needs_person`) and the
`facts` a direct answer must contain, and for a post asking several things its `parts`. The synthetic set
(tests/eval/questions.yml) has only `q`, `lang`, `expect`.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.core import payload as contract
from bot.nlu.language import reply_language

NONE = "none"
LANGS = ("en", "zh", "mixed")
# A conversation the bot starts instead of describing it, and the guide section it stands for.
FORM_SECTIONS = {contract.CASE_STATUS: "check_status"}
HANDOFF_PAYLOAD = "/human_handoff"


@dataclass(frozen=True)
class Question:
    text: str
    lang: str  # en | zh | mixed
    expect: tuple[str, ...]  # section ids, or ("none",) when the guide does not cover it
    source: str | None = None
    needs_person: bool = False
    # Each fact is a tuple of alternatives ("60", "六十"); a reply must contain one alternative of every fact.
    facts: tuple[tuple[str, ...], ...] = ()
    # A post asking several things: each part lists the sections that answer it, and a complete reply answers
    # one section of every part (a reply may answer up to three sections).
    parts: tuple[tuple[str, ...], ...] = ()

    @property
    def covered(self) -> bool:
        return self.expect != (NONE,)

    @property
    def answer_language(self) -> str:
        """The language the answer must be in: the question's own (mixed questions by their dominant language)."""
        return reply_language(message=self.text)

    def missing_facts(self, reply_text: str) -> list[str]:
        """The facts (as written in the set, alternatives joined by |) that the reply text does not contain."""
        text = _comparable(reply_text)
        return ["|".join(fact) for fact in self.facts if not any(_comparable(alt) in text for alt in fact)]

    def missing_parts(self, answered: tuple[str, ...]) -> list[str]:
        """The parts of a multi-part post (as "a|b") that none of the answered sections covers."""
        return ["|".join(part) for part in self.parts if not set(part) & set(answered)]


def _comparable(text: str) -> str:
    """Width, case and thousands separators do not decide whether a fact is present ("CNY 2,000" = "2000")."""
    text = unicodedata.normalize("NFKC", text).lower()
    return text.replace(",", "").replace("\u00a0", " ")


def load_questions(path: Path | str) -> list[Question]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    questions = []
    for item in raw["questions"]:
        facts = tuple(
            tuple(alt.strip() for alt in str(fact).split("|") if alt.strip()) for fact in item.get("facts") or ()
        )
        questions.append(
            Question(
                text=str(item["q"]),
                lang=str(item["lang"]),
                expect=tuple(item["expect"]),
                source=item.get("source"),
                needs_person=bool(item.get("needs_person", False)),
                facts=facts,
                parts=tuple(tuple(part) for part in item.get("parts") or ()),
            )
        )
    return questions


@dataclass
class Outcome:
    """What the user got in one turn.

    kind: `answer` (at least one guide section answered), `clarify` (a choice of sections), or `none` (the
    guide does not cover it, "please rephrase", or nothing usable). `answered` lists the sections answered in
    order (a reply may answer several parts of a post); `offered` the sections behind buttons (a choice, or
    "Related" links under an answer). `person` says whether a person was offered or called: a handoff button,
    or the handoff itself.
    """

    kind: str
    answered: tuple[str, ...] = ()
    offered: tuple[str, ...] = ()
    lang: str | None = None
    person: bool = False
    text: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sections(self) -> tuple[str, ...]:
        """Every section the reply reaches: answered, then offered."""
        return self.answered + tuple(s for s in self.offered if s not in self.answered)

    @property
    def primary(self) -> str | None:
        return self.answered[0] if self.answered else None

    @classmethod
    def from_rasa(cls, messages: list[dict[str, Any]]) -> Outcome:
        answered: list[str] = []
        offered: list[str] = []
        lang: str | None = None
        person = False
        clarified = False
        texts = []
        for message in messages:
            if message.get("text"):
                texts.append(str(message["text"]))
                person = person or _is_handoff_text(str(message["text"]))
            for button in message.get("buttons") or []:
                payload = str(button.get("payload") or "")
                person = person or payload.startswith(HANDOFF_PAYLOAD)
                section = _section_of(payload)
                if section and section not in offered:
                    offered.append(section)
            custom = message.get("custom") or {}
            kind = custom.get("type")
            lang = lang or custom.get("lang")
            if kind == contract.GUIDE_ANSWER and (custom.get("sections") or custom.get("section")):
                # One reply may answer several parts of a post: `sections` in order, else the one `section`.
                for section in custom.get("sections") or [custom["section"]]:
                    if str(section) not in answered:
                        answered.append(str(section))
            elif kind == contract.FORM_QUESTION and custom.get("form") in FORM_SECTIONS:
                # "Where is my application?" starts the lookup itself: the section that explains it is served.
                answered.append(FORM_SECTIONS[custom["form"]])
            elif kind == contract.CLARIFY:
                # "Not in the guide" with the closest sections is a decline, as /metrics and insights count it
                # (payload.turn_outcome); its sections still count as reached.
                declined = custom.get("reason") in contract.NOT_ANSWERED_REASONS
                for option in custom.get("options") or []:
                    payload = str(option.get("payload") or "")
                    person = person or payload.startswith(HANDOFF_PAYLOAD)
                    section = _section_of(payload)
                    if section:
                        clarified = clarified or not declined
                        if section not in offered:
                            offered.append(section)
            elif kind == contract.HANDOFF:
                person = True
            for related in custom.get("related") or []:
                # "Related" links: section ids, or buttons (title + payload) like the ones above.
                if isinstance(related, dict):
                    section = related.get("section") or _section_of(str(related.get("payload") or ""))
                else:
                    section = str(related)
                if section and section not in offered:
                    offered.append(section)
        if answered:
            kind = "answer"
        elif clarified:
            kind = "clarify"
        else:
            kind = "none"
        return cls(kind, tuple(answered), tuple(offered), lang, person, "\n".join(texts), messages)


def _section_of(payload: str) -> str | None:
    if payload.startswith("/faq{"):
        try:
            return json.loads(payload[4:]).get("section")
        except ValueError:
            return None
    return None


@lru_cache(maxsize=1)
def _handoff_texts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the bot says when it hands over (exact texts, and the fixed openings of texts with a time in them),
    taken from the handoff catalogue so a change of wording there does not break the measurement."""
    from bot.handoff import texts

    exact = tuple(texts.no_channel(lang) for lang in ("en", "zh"))
    one = datetime(2030, 3, 5, 9, 0, tzinfo=timezone.utc)
    other = datetime(2031, 11, 20, 2, 30, tzinfo=timezone.utc)
    prefixes = []
    for lang in ("en", "zh"):
        prefixes.append(os.path.commonprefix([texts.closed(lang, one), texts.closed(lang, other)]))
        prefixes.append(os.path.commonprefix([texts.queued(lang, 1, 60), texts.queued(lang, 9, 900)]))
    # Cut back to the last space: the first differing word may share a letter by chance ("Tuesday", "Thursday").
    prefixes = [p[: p.rfind(" ") + 1] for p in prefixes]
    return exact, tuple(p for p in prefixes if len(p) >= 6)


def _is_handoff_text(text: str) -> bool:
    exact, prefixes = _handoff_texts()
    return text in exact or any(text.startswith(p) for p in prefixes)
