"""Reading knowledge/checklists/ into a `Catalogue`, once per process.

Form validation, the print page and the answers all ask for checklists on every turn, so the folder is read once
and served from memory; the guide's reloader (bot/guide/reload.py) puts a freshly loaded catalogue in place when
editors change the folder and it passes the checks, like the guide itself."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bot.checklists.models import (
    CONDITION_KEYS,
    QUESTIONS,
    Catalogue,
    Checklist,
    ChecklistError,
    Item,
    Questions,
    Variant,
)
from bot.guide.loader import KNOWLEDGE_DIR, read_knowledge_yaml
from bot.guide.models import LANGS, Localized

CHECKLIST_DIR = KNOWLEDGE_DIR / "checklists"

_current: Catalogue | None = None
_lock = threading.Lock()


def localized(raw: Any, where: str) -> Localized:
    if not isinstance(raw, dict) or any(not isinstance(raw.get(lang), str) or not raw[lang].strip() for lang in LANGS):
        raise ChecklistError(f"{where}: needs text in {', '.join(LANGS)}")
    return Localized(en=raw["en"].strip(), zh=raw["zh"].strip())


def condition(raw: Any, where: str, options: dict[str, set[str]]) -> dict[str, tuple[str, ...]]:
    """A `when` mapping, its keys and values checked against the questions' options."""
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


def load_questions(directory: Path = CHECKLIST_DIR) -> Questions:
    raw = read_knowledge_yaml((directory / "_questions.yml").read_text(encoding="utf-8"))
    return Questions(
        options={
            name: {key: localized(text, f"_questions.yml {name}") for key, text in spec["options"].items()}
            for name, spec in raw.items()
        },
        prompts={name: localized(spec["prompt"], f"_questions.yml {name}") for name, spec in raw.items()},
        counts_as={key: spec["counts_as"] for key, spec in raw["category"]["options"].items() if spec.get("counts_as")},
    )


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
        when = condition(item.get("when"), at, options)
        variants = tuple(
            Variant(condition(v.get("when"), f"{at} variant", options), localized(v.get("note"), f"{at} variant"))
            for v in item.get("variants") or []
        )
        used = set(when) | {k for v in variants for k in v.when}
        needed = {"situations" if k.startswith("situations") else k for k in used}
        if needed - set(asks):
            raise ChecklistError(f"{at}: depends on {sorted(needed - set(asks))}, which `asks` does not ask")
        items.append(
            Item(
                id=item["id"],
                name=localized(item.get("name"), at),
                note=localized(item.get("note"), at),
                mistakes=tuple(localized(m, f"{at} mistake") for m in item.get("mistakes") or []),
                when=when,
                variants=variants,
            )
        )
    if not items:
        raise ChecklistError(f"{where}: no items")
    if not raw.get("sources"):
        raise ChecklistError(f"{where}: needs sources")
    instead_of = tuple(raw.get("instead_of") or ())
    when = condition(raw.get("when"), where, options)
    if bool(instead_of) != bool(when):
        raise ChecklistError(f"{where}: `instead_of` and a file-level `when` go together")
    return Checklist(
        procedure=raw["procedure"],
        title=localized(raw.get("title"), where),
        section=raw.get("section"),
        asks=asks,
        items=tuple(items),
        reviewed=str(raw.get("reviewed", "")),
        instead_of=instead_of,
        when=when,
    )


def load_catalogue(directory: Path = CHECKLIST_DIR) -> Catalogue:
    """Every checklist file of a folder and its questions; raises ChecklistError on the first broken file."""
    questions = load_questions(directory)
    options = {name: set(values) for name, values in questions.options.items()}
    loaded = {
        path.stem: load_checklist(path, options)
        for path in sorted(directory.glob("*.yml"))
        if not path.name.startswith("_")
    }
    for checklist in loaded.values():
        unknown = [p for p in checklist.instead_of if p not in loaded or loaded[p].instead_of]
        if unknown:
            where = f"checklists/{checklist.procedure}.yml"
            raise ChecklistError(f"{where}: `instead_of` names no procedure list {unknown}")
    return Catalogue(loaded, questions)


def current() -> Catalogue:
    """The served catalogue: loaded from the project's folder on first use, then kept."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = load_catalogue()
    return _current


def replace_catalogue(catalogue: Catalogue | None) -> None:
    """Serve `catalogue` from now on (None: load the project's folder again on next use)."""
    global _current
    _current = catalogue


def every_checklist() -> dict[str, Checklist]:
    """Every checklist file, the replacing lists included (the print page and guide-check read these)."""
    return current().every


def all_checklists() -> dict[str, Checklist]:
    """One checklist per procedure (lists that only replace another one are left out)."""
    return current().procedures


def question_options() -> dict[str, dict[str, Localized]]:
    return current().questions.options


def question_prompts() -> dict[str, Localized]:
    return current().questions.prompts
