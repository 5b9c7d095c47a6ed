"""What a checklist is: items with conditions and condition-specific wording, and the answers they depend on."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from bot.guide.models import Localized

QUESTIONS = ("category", "location", "situations")
CONDITION_KEYS = ("category", "location", "situations_any", "situations_none")


class ChecklistError(ValueError):
    pass


@dataclass(frozen=True)
class Variant:
    when: dict[str, tuple[str, ...]]
    note: Localized


@dataclass(frozen=True)
class Item:
    id: str
    name: Localized
    note: Localized
    mistakes: tuple[Localized, ...]
    when: dict[str, tuple[str, ...]]
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Checklist:
    procedure: str
    title: Localized
    section: str | None
    asks: tuple[str, ...]
    items: tuple[Item, ...]
    reviewed: str
    # Procedures whose list this one replaces when `when` holds for the answers (empty for a procedure's own list).
    instead_of: tuple[str, ...] = ()
    when: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Answers:
    """What the user told us; `None` means not asked (the procedure does not depend on it)."""

    category: str | None = None
    location: str | None = None
    situations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Questions:
    """knowledge/checklists/_questions.yml: each question's prompt and options, and which category answers count
    as another category (C_short, short-term work, counts as C)."""

    options: dict[str, dict[str, Localized]]
    prompts: dict[str, Localized]
    counts_as: dict[str, str]


@dataclass(frozen=True)
class Catalogue:
    """Every checklist file (the replacing lists included) and the questions, loaded together from one folder."""

    every: dict[str, Checklist]
    questions: Questions

    @cached_property
    def procedures(self) -> dict[str, Checklist]:
        """One checklist per procedure (lists that only replace another one are left out)."""
        return {name: checklist for name, checklist in self.every.items() if not checklist.instead_of}
