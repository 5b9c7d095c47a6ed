"""The held-out evaluation questions (tests/eval/questions.yml) and what the bot did with each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.language import detect_language

NONE = "none"
# A conversation the bot starts instead of describing it, and the guide section it stands for.
FORM_SECTIONS = {"case_status": "check_status"}


@dataclass(frozen=True)
class Question:
    text: str
    lang: str  # en | zh | mixed
    expect: tuple[str, ...]  # section ids, or ("none",) when the guide does not cover it

    @property
    def covered(self) -> bool:
        return self.expect != (NONE,)

    @property
    def answer_language(self) -> str:
        """The language the answer must be in: the question's own (mixed questions by their dominant language)."""
        return detect_language(self.text) or "en"


def load_questions(path: Path | str) -> list[Question]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return [Question(str(item["q"]), str(item["lang"]), tuple(item["expect"])) for item in raw["questions"]]


@dataclass
class Outcome:
    """What the bot did: answered a section, offered a choice of sections, or neither."""

    kind: str  # answer | clarify | none
    sections: tuple[str, ...] = ()
    lang: str | None = None

    @classmethod
    def from_rasa(cls, messages: list[dict[str, Any]]) -> Outcome:
        for message in messages:
            custom = message.get("custom") or {}
            if custom.get("type") == "guide_answer":
                return cls("answer", (custom["section"],), custom.get("lang"))
            if custom.get("type") == "form_question" and custom.get("form") in FORM_SECTIONS:
                # "Where is my application?" starts the lookup itself: the section that explains it is served.
                return cls("answer", (FORM_SECTIONS[custom["form"]],), custom.get("lang"))
        for message in messages:
            custom = message.get("custom") or {}
            if custom.get("type") == "clarify":
                options = tuple(
                    _section_of(option["payload"])
                    for option in custom.get("options", [])
                    if _section_of(option["payload"])
                )
                if options:
                    return cls("clarify", options, custom.get("lang"))
                return cls("none", (), custom.get("lang"))
        return cls("none")


def _section_of(payload: str) -> str | None:
    import json

    if payload.startswith("/faq{"):
        try:
            return json.loads(payload[4:]).get("section")
        except ValueError:
            return None
    return None
