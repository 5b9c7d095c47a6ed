"""Material checklists for exactly the applicant's case, from knowledge/checklists/ (one source of truth).

A checklist file lists items with optional conditions (`when`) and condition-specific wording (`variants`); the
questions a procedure needs (`asks`) are the only ones the assistant puts to the user. A file with `instead_of`
is not a procedure of its own: it replaces those procedures' lists when its file-level `when` holds (the short
list for short-term work). The same builder serves the bot's `checklist` payload and the print page, so both
always show the same list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bot.core import payload
from bot.guide.loader import KNOWLEDGE_DIR, read_knowledge_yaml
from bot.guide.models import LANGS, Localized

CHECKLIST_DIR = KNOWLEDGE_DIR / "checklists"
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


def _holds(when: dict[str, tuple[str, ...]], answers: Answers) -> bool:
    if "category" in when and not _category_matches(answers.category or "unknown", when["category"]):
        return False
    if "location" in when and answers.location not in when["location"]:
        return False
    if "situations_any" in when and not set(when["situations_any"]) & set(answers.situations):
        return False
    return not ("situations_none" in when and set(when["situations_none"]) & set(answers.situations))


def _loc(raw: Any, where: str) -> Localized:
    if not isinstance(raw, dict) or any(not isinstance(raw.get(lang), str) or not raw[lang].strip() for lang in LANGS):
        raise ChecklistError(f"{where}: needs text in {', '.join(LANGS)}")
    return Localized(en=raw["en"].strip(), zh=raw["zh"].strip())


def _when(raw: Any, where: str, options: dict[str, set[str]]) -> dict[str, tuple[str, ...]]:
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict) or set(raw) - set(CONDITION_KEYS):
        raise ChecklistError(f"{where}: `when` keys must be among {CONDITION_KEYS}")
    result = {}
    for key, values in raw.items():
        allowed = options["situations" if key.startswith("situations") else key]
        values = tuple(values if isinstance(values, list) else [values])
        if set(values) - allowed:
            raise ChecklistError(f"{where}: unknown value(s) {sorted(set(values) - allowed)} for {key}")
        result[key] = values
    return result


def _category_matches(category: str, wanted: tuple[str, ...]) -> bool:
    """An answer such as C_short (short-term work) also counts as the category it belongs to (C)."""
    return category in wanted or _counts_as().get(category) in wanted


@lru_cache(maxsize=1)
def _counts_as() -> dict[str, str]:
    raw = read_knowledge_yaml((CHECKLIST_DIR / "_questions.yml").read_text(encoding="utf-8"))
    return {key: spec["counts_as"] for key, spec in raw["category"]["options"].items() if spec.get("counts_as")}


def question_options() -> dict[str, dict[str, Localized]]:
    raw = read_knowledge_yaml((CHECKLIST_DIR / "_questions.yml").read_text(encoding="utf-8"))
    return {
        name: {key: _loc(text, f"_questions.yml {name}") for key, text in spec["options"].items()}
        for name, spec in raw.items()
    }


def question_prompts() -> dict[str, Localized]:
    raw = read_knowledge_yaml((CHECKLIST_DIR / "_questions.yml").read_text(encoding="utf-8"))
    return {name: _loc(spec["prompt"], f"_questions.yml {name}") for name, spec in raw.items()}


def load_checklist(path: Path, options: dict[str, set[str]]) -> Checklist:
    raw = read_knowledge_yaml(path.read_text(encoding="utf-8"))
    where = f"checklists/{path.name}"
    if not isinstance(raw, dict) or raw.get("procedure") != path.stem:
        raise ChecklistError(f"{where}: `procedure` must equal the file name")
    asks = tuple(raw.get("asks") or ())
    if set(asks) - set(QUESTIONS):
        raise ChecklistError(f"{where}: `asks` must be among {QUESTIONS}")
    items, ids = [], set()
    for index, item in enumerate(raw.get("items") or []):
        at = f"{where} item {index}"
        if not isinstance(item, dict) or not item.get("id") or item["id"] in ids:
            raise ChecklistError(f"{at}: needs a unique `id`")
        ids.add(item["id"])
        when = _when(item.get("when"), at, options)
        variants = tuple(
            Variant(_when(v.get("when"), f"{at} variant", options), _loc(v.get("note"), f"{at} variant"))
            for v in item.get("variants") or []
        )
        used = set(when) | {k for v in variants for k in v.when}
        needed = {"situations" if k.startswith("situations") else k for k in used}
        if needed - set(asks):
            raise ChecklistError(f"{at}: depends on {sorted(needed - set(asks))}, which `asks` does not ask")
        items.append(
            Item(
                id=item["id"],
                name=_loc(item.get("name"), at),
                note=_loc(item.get("note"), at),
                mistakes=tuple(_loc(m, f"{at} mistake") for m in item.get("mistakes") or []),
                when=when,
                variants=variants,
            )
        )
    if not items:
        raise ChecklistError(f"{where}: no items")
    if not raw.get("sources"):
        raise ChecklistError(f"{where}: needs sources")
    instead_of = tuple(raw.get("instead_of") or ())
    when = _when(raw.get("when"), where, options)
    if bool(instead_of) != bool(when):
        raise ChecklistError(f"{where}: `instead_of` and a file-level `when` go together")
    return Checklist(
        procedure=raw["procedure"],
        title=_loc(raw.get("title"), where),
        section=raw.get("section"),
        asks=asks,
        items=tuple(items),
        reviewed=str(raw.get("reviewed", "")),
        instead_of=instead_of,
        when=when,
    )


@lru_cache(maxsize=1)
def every_checklist() -> dict[str, Checklist]:
    """Every checklist file, the replacing lists included (the print page and guide-check read these)."""
    options = {name: set(values) for name, values in question_options().items()}
    loaded = {
        path.stem: load_checklist(path, options)
        for path in sorted(CHECKLIST_DIR.glob("*.yml"))
        if not path.name.startswith("_")
    }
    for checklist in loaded.values():
        unknown = [p for p in checklist.instead_of if p not in loaded or loaded[p].instead_of]
        if unknown:
            where = f"checklists/{checklist.procedure}.yml"
            raise ChecklistError(f"{where}: `instead_of` names no procedure list {unknown}")
    return loaded


@lru_cache(maxsize=1)
def all_checklists() -> dict[str, Checklist]:
    """One checklist per procedure (lists that only replace another one are left out)."""
    return {name: checklist for name, checklist in every_checklist().items() if not checklist.instead_of}


def _chosen(procedure: str, answers: Answers) -> Checklist:
    """The procedure's list, or the list that replaces it for these answers."""
    checklists = every_checklist()
    for other in checklists.values():
        if procedure in other.instead_of and _holds(other.when, answers):
            return other
    return checklists[procedure]


def build(procedure: str, answers: Answers, lang: str, public_url: str = "") -> dict[str, Any]:
    """The `checklist` payload of DESIGN.md for one case."""
    if procedure not in every_checklist():
        raise ChecklistError(f"no checklist for {procedure!r}")
    checklist = _chosen(procedure, answers)
    items = []
    for item in checklist.items:
        if not _holds(item.when, answers):
            continue
        note = next((v.note for v in item.variants if _holds(v.when, answers)), item.note)
        items.append(
            {
                "id": item.id,
                "name": item.name.get(lang),
                "note": note.get(lang),
                "common_mistakes": [m.get(lang) for m in item.mistakes],
            }
        )
    return {
        "type": payload.CHECKLIST,
        "procedure": checklist.procedure,
        "title": checklist.title.get(lang),
        "category": answers.category,
        "location": answers.location,
        "situations": list(answers.situations),
        "items": items,
        "lang": lang,
        "reviewed": checklist.reviewed,
        "section": checklist.section,
        # The print page rebuilds the list from the same procedure and answers, so it shows this list too.
        "print_url": print_url(procedure, answers, lang, public_url),
    }


def print_url(procedure: str, answers: Answers, lang: str, public_url: str = "") -> str:
    query = {"lang": lang}
    if answers.category:
        query["category"] = answers.category
    if answers.location:
        query["location"] = answers.location
    if answers.situations:
        query["situations"] = ",".join(answers.situations)
    return f"{public_url.rstrip('/')}/checklist/{procedure}?{urlencode(query)}"


def parse_answers(query: dict[str, str]) -> Answers:
    """Answers from a print-page query string; unknown values are refused rather than ignored."""
    options = question_options()
    category = query.get("category") or None
    location = query.get("location") or None
    situations = tuple(s for s in (query.get("situations") or "").split(",") if s)
    if category is not None and category not in options["category"]:
        raise ChecklistError(f"unknown category {category!r}")
    if location is not None and location not in options["location"]:
        raise ChecklistError(f"unknown location {location!r}")
    if set(situations) - set(options["situations"]):
        raise ChecklistError("unknown situation")
    return Answers(category, location, situations)


def as_text(payload: dict[str, Any]) -> str:
    """Plain-text rendering for channels without the widget (one message: no blank lines)."""
    zh = payload["lang"] == "zh"
    lines = [f"**{payload['title']}**"]
    for number, item in enumerate(payload["items"], start=1):
        lines.append(f"{number}. {item['name']}: {item['note']}")
        for mistake in item["common_mistakes"]:
            lines.append(("   常见问题：" if zh else "   Often sent back: ") + mistake)
    lines.append(("打印版：" if zh else "Print version: ") + payload["print_url"])
    return "\n".join(lines)


# A first application depends on where the applicant is: from abroad it is the notification letter (then the
# card after entry), from inside China the in-country application.
FIRST_APPLICATION = "first_application"
FIRST_APPLICATION_BY_LOCATION = {"outside": "notification_letter", "inside": "apply_inside_china"}


def resolve_procedure(procedure: str | None, location: str | None) -> str | None:
    if procedure == FIRST_APPLICATION:
        return FIRST_APPLICATION_BY_LOCATION.get(location or "")
    return procedure if procedure in all_checklists() else None


def questions_for(procedure: str | None, location: str | None) -> list[str]:
    """The questions still needed for this procedure, in the order the assistant asks them."""
    if procedure is None:
        return []
    if procedure == FIRST_APPLICATION and location is None:
        return ["location"]
    resolved = resolve_procedure(procedure, location)
    if resolved is None:
        return []
    asks = list(all_checklists()[resolved].asks)
    return [q for q in ("category", "location", "situations") if q in asks]


def request_payload(procedure: str) -> str:
    """A button payload that starts the checklist form with the procedure already chosen."""
    return "/request_checklist" + json.dumps({"procedure": procedure})


def procedure_choices() -> list[str]:
    """Procedures offered as buttons: a first application, then every other checklist."""
    others = [p for p in all_checklists() if p not in FIRST_APPLICATION_BY_LOCATION.values()]
    return [FIRST_APPLICATION, *others]
