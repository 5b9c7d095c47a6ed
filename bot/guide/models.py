"""Typed view of the guide content in `knowledge/`.

Everything specific to the work-permit service is data; these classes only give it a shape that the
rest of the code can rely on (and that `validate` checks), so a second service needs content, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

LANGS: tuple[str, ...] = ("en", "zh")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)、])\s")

# Topic vocabulary from DESIGN.md; every section carries exactly one of these as `topic`.
TOPICS: tuple[str, ...] = (
    "eligibility",
    "category_points",
    "process",
    "materials",
    "degree_authentication",
    "criminal_record",
    "health_check",
    "z_visa",
    "residence_permit",
    "timeline",
    "fees",
    "online_system",
    "extension",
    "change_info",
    "change_employer",
    "cancellation",
    "replacement",
    "family",
    "legal_status",
    "office_contact",
    "status",
)

# Reliability tags used by the research dossier, plus OPERATOR for facts the bureau supplies itself.
SOURCE_TAGS: tuple[str, ...] = ("OFF", "OFF-other", "MEDIA", "UNIV", "AGENCY", "LOW", "OPERATOR")


@dataclass(frozen=True)
class Localized:
    """A text in both languages of the assistant."""

    en: str
    zh: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Source:
    """Where a fact comes from; `tag` is the dossier's reliability tag."""

    url: str
    tag: str
    note: str = ""


@dataclass(frozen=True)
class GuideSection:
    """One answerable part of the guide: a question family and its answer in both languages."""

    id: str
    topic: str
    title: Localized
    answer: Localized
    examples: dict[str, tuple[str, ...]]
    sources: tuple[Source, ...]
    reviewed: date
    official_url: str | None = None
    # Shown with the answer whenever sources conflict or a fact is unconfirmed.
    caution: Localized | None = None
    # `handoff: true` in the file: the question usually needs a person (dispute, refusal, overstay, a case with no
    # published rule): the bot answers what the guide says and offers staff first.
    handoff: bool = False
    procedure: str | None = None
    related: tuple[str, ...] = ()
    # The direct answer in one or two sentences; the reply opens with it and the answer's details follow. Optional
    # while editors write them: without it the answer's first paragraph serves (see `lead_and_details`).
    key_fact: Localized | None = None

    def lead_and_details(self, lang: str) -> tuple[str, str]:
        """What the reply opens with, and the details shown after it (under "More" in the widget)."""
        answer = self.answer.get(lang).strip()
        if self.key_fact is not None:
            return self.key_fact.get(lang), answer
        # The first paragraph: up to a blank line or the start of a list (an intro line "…these reasons:" then "- …").
        lines = answer.split("\n")
        end = next(
            (i for i, line in enumerate(lines) if i and (not line.strip() or _LIST_ITEM.match(line))),
            len(lines),
        )
        return "\n".join(lines[:end]).strip(), "\n".join(lines[end:]).strip()

    @property
    def intent(self) -> str:
        """The retrieval intent that carries this section in the Rasa model."""
        return f"faq/{self.id}"


@dataclass(frozen=True)
class Fact:
    """An office fact (address, hours, phone). Unknown facts stay `None` and are said to be unknown."""

    key: str
    value: Localized | None
    confirmed: bool
    source: Source | None = None


@dataclass(frozen=True)
class Office:
    id: str
    name: Localized
    facts: dict[str, Fact] = field(default_factory=dict)


@dataclass(frozen=True)
class Term:
    """A glossary term: names in both languages, used for the tokenizer dictionary and entity patterns."""

    id: str
    kind: str  # procedure | category | document | term | location
    en: tuple[str, ...]
    zh: tuple[str, ...]

    def name(self, lang: str) -> str:
        """The preferred (first) name in `lang`, as buttons and the "For: …" line show it."""
        return (self.zh if lang == "zh" else self.en)[0]

@dataclass(frozen=True)
class CueGroup:
    """Words applicants use for a situation where a person should be offered (knowledge/situations.yml `person`)."""

    id: str
    reason: str
    sources: tuple[Source, ...]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class OutsideTopic:
    """A subject next to the work permit that the guide never covers (knowledge/situations.yml `outside`): tax,
    pensions, a child's school… Asked about it, the bot says so by name instead of answering the nearest section."""

    id: str
    name: Localized
    reason: str
    sources: tuple[Source, ...]
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class SlotValue:
    """One answer to a situation question ("I am in China"), with the words that state it."""

    id: str
    label: Localized
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Slot:
    """A fact about the asker the guide distinguishes on (location, category…) and the one question that asks it."""

    id: str
    ask: Localized
    values: tuple[SlotValue, ...]
    # Words that weigh the values against each other ("category A or B?", "境内还是境外"): nothing is read then,
    # since naming a value in a comparison does not say it is the asker's.
    compares: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Variant:
    """What a distinction answers for one slot value: another section, or the same section with its own key fact."""

    section: str | None = None
    key_fact: Localized | None = None


@dataclass(frozen=True)
class Distinction:
    """Where the guide answers differently by a slot: the sections it applies to and the variant per value."""

    id: str
    slot: str
    sections: tuple[str, ...]
    variants: dict[str, Variant]
    # Ask the slot when the message does not state it (False: only switch when the message says).
    ask: bool = True


@dataclass(frozen=True)
class Situations:
    """All of knowledge/situations.yml."""

    person: tuple[CueGroup, ...] = ()
    slots: dict[str, Slot] = field(default_factory=dict)
    distinctions: tuple[Distinction, ...] = ()
    outside: tuple[OutsideTopic, ...] = ()
    # Words that make a sentence a permit question: `permit_words` and the glossary's names (bot/guide/loader.py).
    permit_words: re.Pattern[str] | None = None
