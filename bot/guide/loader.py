"""Load `knowledge/` into typed objects and check it: every problem is reported, not just the first."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bot.guide.models import (
    LANGS,
    SOURCE_TAGS,
    TOPICS,
    CueGroup,
    Distinction,
    Fact,
    GuideSection,
    Localized,
    Office,
    OutsideTopic,
    Situations,
    Slot,
    SlotValue,
    Source,
    Term,
    Variant,
)

# KNOWLEDGE_DIR in the environment points a process at another copy of the folder (tests of the editors' loop).
KNOWLEDGE_DIR = Path(os.environ.get("KNOWLEDGE_DIR") or Path(__file__).resolve().parents[2] / "knowledge")

SECTION_ID = re.compile(r"^[a-z][a-z0-9_]{2,60}$")
FACT_REF = re.compile(r"\{fact:([a-z0-9_]+)\.([a-z0-9_]+)\}")
CJK = re.compile(r"[\u4e00-\u9fff]")
MIN_EXAMPLES = 10
TERM_KINDS = ("procedure", "category", "document", "term", "location")
MAX_ANSWER_CHARS = {"en": 1400, "zh": 700}
MAX_KEY_FACT_CHARS = {"en": 320, "zh": 160}


class GuideError(ValueError):
    """The knowledge folder does not load; `problems` lists everything that is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("knowledge/ has problems:\n- " + "\n- ".join(problems))
        self.problems = problems


@dataclass
class Guide:
    """All guide content, indexed for lookups by id."""

    sections: dict[str, GuideSection]
    offices: dict[str, Office]
    terms: dict[str, Term]
    service: dict[str, Any] = field(default_factory=dict)
    situations: Situations = field(default_factory=Situations)

    @cached_property
    def procedures(self) -> dict[str, str]:
        """Section id -> the procedure it belongs to, for sections that name one: the answer policy asks this
        every turn, and the guide does not change while loaded (a reload builds a new Guide)."""
        return {sid: s.procedure for sid, s in self.sections.items() if s.procedure}

    def section(self, section_id: str) -> GuideSection | None:
        return self.sections.get(section_id)

    def fact(self, office_id: str, key: str) -> Fact | None:
        office = self.offices.get(office_id)
        return office.facts.get(key) if office else None


def _localized(raw: Any, where: str, problems: list[str], required: bool = True) -> Localized | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, dict) or any(not isinstance(raw.get(lang), str) or not raw[lang].strip() for lang in LANGS):
        problems.append(f"{where}: needs non-empty text for each of {', '.join(LANGS)}")
        return None
    return Localized(en=raw["en"].strip(), zh=raw["zh"].strip())


def _source(raw: Any, where: str, problems: list[str]) -> Source | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("url"), str) or raw.get("tag") not in SOURCE_TAGS:
        problems.append(f"{where}: a source needs `url` and a `tag` in {SOURCE_TAGS}")
        return None
    if raw["tag"] != "OPERATOR" and not raw["url"].startswith(("http://", "https://")):
        problems.append(f"{where}: source url must be http(s): {raw['url']}")
    return Source(url=raw["url"], tag=raw["tag"], note=str(raw.get("note", "")))


class _KnowledgeLoader(yaml.SafeLoader):
    """YAML 1.1 reads `OFF`, `on`, `yes` as booleans; in content files only true/false are booleans."""


_KnowledgeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_KnowledgeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_knowledge_yaml(text: str) -> Any:
    """Parse a knowledge file (also used by the generator and tests)."""
    return yaml.load(text, Loader=_KnowledgeLoader)  # noqa: S506 - SafeLoader subclass


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return read_knowledge_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"{path.name}: cannot read YAML ({exc})")
        return None


def _parse_section(path: Path, raw: Any, problems: list[str]) -> GuideSection | None:
    where = f"sections/{path.name}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: not a mapping")
        return None
    before = len(problems)
    section_id = raw.get("id")
    if not isinstance(section_id, str) or not SECTION_ID.match(section_id):
        problems.append(f"{where}: bad id {section_id!r}")
    elif path.stem != section_id:
        problems.append(f"{where}: file name must equal the id {section_id!r}")
    if raw.get("topic") not in TOPICS:
        problems.append(f"{where}: topic {raw.get('topic')!r} is not in the topic vocabulary")
    title = _localized(raw.get("title"), f"{where} title", problems)
    answer = _localized(raw.get("answer"), f"{where} answer", problems)
    caution = _localized(raw.get("caution"), f"{where} caution", problems, required=False)
    key_fact = _localized(raw.get("key_fact"), f"{where} key_fact", problems, required=False)
    if key_fact:
        for lang in LANGS:
            if len(key_fact.get(lang)) > MAX_KEY_FACT_CHARS[lang]:
                problems.append(f"{where}: key_fact.{lang} is over {MAX_KEY_FACT_CHARS[lang]} chars")
    examples: dict[str, tuple[str, ...]] = {}
    raw_examples = raw.get("examples") or {}
    for lang in LANGS:
        items = raw_examples.get(lang) if isinstance(raw_examples, dict) else None
        if not isinstance(items, list) or len(items) < MIN_EXAMPLES:
            problems.append(f"{where}: needs at least {MIN_EXAMPLES} `examples.{lang}`")
            items = []
        if any(not isinstance(item, str) for item in items):
            problems.append(f"{where}: every `examples.{lang}` entry must be a string (quote lines containing ': ')")
        cleaned = tuple(item.strip() for item in items if isinstance(item, str) and item.strip())
        if len(set(cleaned)) != len(cleaned):
            problems.append(f"{where}: duplicate examples in {lang}")
        examples[lang] = cleaned
    if answer:
        for lang in LANGS:
            text = answer.get(lang)
            if len(text) > MAX_ANSWER_CHARS[lang]:
                problems.append(f"{where}: answer.{lang} is {len(text)} chars; keep it under {MAX_ANSWER_CHARS[lang]}")
        if not CJK.search(answer.zh):
            problems.append(f"{where}: answer.zh has no Chinese text")
        if len(CJK.findall(answer.en)) > 20:
            problems.append(f"{where}: answer.en is mostly Chinese")
    sources = tuple(
        s for i, item in enumerate(raw.get("sources") or []) if (s := _source(item, f"{where} source {i}", problems))
    )
    if not sources:
        problems.append(f"{where}: needs at least one source")
    reviewed = raw.get("reviewed")
    if not isinstance(reviewed, date):
        problems.append(f"{where}: `reviewed` must be a date (YYYY-MM-DD)")
    if "needs_staff" in raw:
        problems.append(f"{where}: `needs_staff` is now called `handoff`")
    if raw.get("handoff") not in (None, True, False):
        problems.append(f"{where}: `handoff` must be true or false")
    official_url = raw.get("official_url")
    if official_url is not None and official_url not in {s.url for s in sources}:
        problems.append(f"{where}: official_url must be one of the section's sources")
    if len(problems) > before:
        return None
    assert isinstance(section_id, str) and title and answer and isinstance(reviewed, date)  # no problem: all valid
    return GuideSection(
        id=section_id,
        topic=raw["topic"],
        title=title,
        answer=answer,
        examples=examples,
        sources=sources,
        reviewed=reviewed,
        official_url=official_url,
        caution=caution,
        key_fact=key_fact,
        handoff=raw.get("handoff") is True,
        procedure=raw.get("procedure"),
        related=tuple(raw.get("related") or ()),
    )


def _parse_offices(raw: Any, problems: list[str]) -> dict[str, Office]:
    offices: dict[str, Office] = {}
    for item in (raw or {}).get("offices", []):
        where = f"office.yml {item.get('id')!r}"
        name = _localized(item.get("name"), f"{where} name", problems)
        facts: dict[str, Fact] = {}
        for key, fact in (item.get("facts") or {}).items():
            value = _localized(fact.get("value"), f"{where} {key}", problems, required=False)
            source = _source(fact["source"], f"{where} {key}", problems) if fact.get("source") else None
            if value is not None and source is None:
                problems.append(f"{where} {key}: a known value needs a source")
            facts[key] = Fact(key=key, value=value, confirmed=bool(fact.get("confirmed", False)), source=source)
        if name:
            offices[item["id"]] = Office(id=item["id"], name=name, facts=facts)
    return offices


def _parse_terms(raw: Any, problems: list[str]) -> dict[str, Term]:
    terms: dict[str, Term] = {}
    for item in (raw or {}).get("terms", []):
        term_id = item.get("id")
        en, zh = tuple(item.get("en") or ()), tuple(item.get("zh") or ())
        if not term_id or not en or not zh or item.get("kind") not in TERM_KINDS:
            problems.append(f"glossary.yml: term {term_id!r} needs id, kind, en and zh names")
            continue
        if term_id in terms:
            problems.append(f"glossary.yml: duplicate term {term_id!r}")
        terms[term_id] = Term(id=term_id, kind=item["kind"], en=en, zh=zh)
    return terms


CUE_LANGS = ("en", "zh", "mixed")


def _cues(raw: Any, where: str, problems: list[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern from a `cues` mapping (en, zh, mixed lists of regular expressions)."""
    if not isinstance(raw, dict) or set(raw) - set(CUE_LANGS) or not any(raw.get(k) for k in CUE_LANGS):
        problems.append(f"{where}: `cues` needs lists under {', '.join(CUE_LANGS)}")
        return None
    alternatives = []
    for lang in CUE_LANGS:
        for cue in raw.get(lang) or ():
            try:
                re.compile(str(cue))
            except re.error as exc:
                problems.append(f"{where}: cue {cue!r} is not a valid pattern ({exc})")
                continue
            alternatives.append(f"(?:{cue})")
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def _sourced(item: dict[str, Any], where: str, problems: list[str]) -> tuple[tuple[Source, ...], str]:
    """A cue group's sources and reason; both are required (the reason says why the group exists)."""
    sources = tuple(s for i, x in enumerate(item.get("sources") or []) if (s := _source(x, f"{where} {i}", problems)))
    reason = str(item.get("reason") or "").strip()
    if not sources or not reason:
        problems.append(f"{where}: needs a `reason` and at least one source")
    return sources, reason


def _parse_outside(raw: Any, problems: list[str]) -> tuple[OutsideTopic, ...]:
    """situations.yml `outside`: the subjects next to the work permit that the guide does not cover."""
    topics = []
    for item in raw or []:
        where = f"situations.yml outside {item.get('id')!r}"
        sources, reason = _sourced(item, where, problems)
        name = _localized(item.get("name"), f"{where} name", problems)
        pattern = _cues(item.get("cues"), where, problems)
        if pattern is not None and name is not None and item.get("id"):
            topics.append(OutsideTopic(str(item["id"]), name, reason, sources, pattern))
    return tuple(topics)


_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _permit_words(raw: Any, terms: dict[str, Term], problems: list[str]) -> re.Pattern[str] | None:
    """situations.yml `permit_words` and every glossary name (the permit's own vocabulary), in one pattern: a
    sentence with any of them asks about the permit. Built once here, not per message."""
    cues = _cues(raw, "situations.yml permit_words", problems)
    if cues is None:
        return None
    names = sorted({name for term in terms.values() for name in (*term.en, *term.zh) if name.strip()})
    # Chinese names match anywhere; others as whole words, so "FEC" does not match inside a longer word.
    glossary = [re.escape(n) if _CHINESE.search(n) else rf"\b{re.escape(n)}\b" for n in names]
    return re.compile("|".join([cues.pattern, *glossary]), re.IGNORECASE)



def _parse_situations(raw: Any, problems: list[str], terms: dict[str, Term]) -> Situations:
    """knowledge/situations.yml: person cue groups, the slots read from a message, the distinctions, and the
    subjects the guide does not cover."""
    if raw is None:
        return Situations()
    if not isinstance(raw, dict):
        problems.append("situations.yml: not a mapping")
        return Situations()
    person = []
    for item in raw.get("person") or []:
        where = f"situations.yml person {item.get('id')!r}"
        sources, reason = _sourced(item, where, problems)
        pattern = _cues(item.get("cues"), where, problems)
        if pattern is not None and item.get("id"):
            person.append(CueGroup(str(item["id"]), reason, sources, pattern))
    slots: dict[str, Slot] = {}
    for slot_id, item in (raw.get("slots") or {}).items():
        where = f"situations.yml slot {slot_id!r}"
        ask = _localized((item or {}).get("ask"), f"{where} ask", problems)
        values = []
        for value_id, value in ((item or {}).get("values") or {}).items():
            label = _localized((value or {}).get("label"), f"{where} {value_id} label", problems)
            pattern = _cues((value or {}).get("cues"), f"{where} {value_id}", problems)
            if label and pattern:
                values.append(SlotValue(str(value_id), label, pattern))
        compares = None
        if (item or {}).get("compares") is not None:
            compares = _cues(item["compares"], f"{where} compares", problems)
        if ask and len(values) >= 2:
            slots[str(slot_id)] = Slot(str(slot_id), ask, tuple(values), compares)
        else:
            problems.append(f"{where}: needs `ask` and at least two values")
    distinctions = []
    for item in raw.get("distinctions") or []:
        where = f"situations.yml distinction {item.get('id')!r}"
        slot = slots.get(str(item.get("slot")))
        if slot is None:
            problems.append(f"{where}: unknown slot {item.get('slot')!r}")
            continue
        variants: dict[str, Variant] = {}
        for value_id, variant in (item.get("variants") or {}).items():
            if value_id not in {v.id for v in slot.values}:
                problems.append(f"{where}: {value_id!r} is not a value of slot {slot.id!r}")
            key_fact = _localized((variant or {}).get("key_fact"), f"{where} {value_id} key_fact", problems, False)
            section = (variant or {}).get("section")
            if (section is None) == (key_fact is None):
                problems.append(f"{where} {value_id}: give either `section` or `key_fact`")
            variants[str(value_id)] = Variant(section=section, key_fact=key_fact)
        sections = tuple(item.get("sections") or ())
        if not sections or not variants:
            problems.append(f"{where}: needs `sections` and `variants`")
        asks_back = item.get("ask", True) is True
        distinctions.append(Distinction(str(item.get("id")), slot.id, sections, variants, asks_back))
    outside = _parse_outside(raw.get("outside"), problems)
    permit_words = _permit_words(raw.get("permit_words"), terms, problems) if outside else None
    return Situations(tuple(person), slots, tuple(distinctions), outside, permit_words)


def _cross_check(guide: Guide, problems: list[str], partial: bool) -> None:
    seen: dict[str, str] = {}
    for section in guide.sections.values():
        for related in section.related:
            if related not in guide.sections and not partial:
                problems.append(f"sections/{section.id}: related section {related!r} does not exist")
        for lang in LANGS:
            for text in section.examples[lang]:
                key = normalize_question(text)
                if key in seen and seen[key] != section.id:
                    problems.append(f"example {text!r} appears in both {seen[key]} and {section.id}")
                seen[key] = section.id
        for text in (section.answer.en, section.answer.zh):
            for office_id, key in FACT_REF.findall(text):
                if guide.fact(office_id, key) is None:
                    problems.append(f"sections/{section.id}: unknown fact {{fact:{office_id}.{key}}}")
        if section.procedure and section.procedure not in guide.terms:
            problems.append(f"sections/{section.id}: procedure {section.procedure!r} is not a glossary term")
    for distinction in guide.situations.distinctions:
        named = [*distinction.sections, *(v.section for v in distinction.variants.values() if v.section)]
        for section_id in named:
            if section_id not in guide.sections and not partial:
                problems.append(f"situations.yml distinction {distinction.id!r}: unknown section {section_id!r}")
    used_topics = {s.topic for s in guide.sections.values()}
    missing = [t for t in TOPICS if t not in used_topics]
    if guide.sections and missing and not partial:
        problems.append(f"no section covers topic(s): {', '.join(missing)}")


def normalize_question(text: str) -> str:
    """Comparable form of a question: case, width and punctuation do not make two questions different."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\W_]+", "", text)


def load_guide(root: Path | str = KNOWLEDGE_DIR, partial: bool = False) -> Guide:
    """Read and validate the whole knowledge folder; raise GuideError listing every problem.

    `partial` skips the checks that need every section to exist (for editors writing a few at a time).
    """
    root = Path(root)
    problems: list[str] = []
    sections: dict[str, GuideSection] = {}
    for path in sorted((root / "sections").glob("*.yml")):
        section = _parse_section(path, _read_yaml(path, problems), problems)
        if section:
            sections[section.id] = section
    offices = _parse_offices(_read_yaml(root / "office.yml", problems), problems)
    terms = _parse_terms(_read_yaml(root / "glossary.yml", problems), problems)
    service = _read_yaml(root / "service.yml", problems) or {}
    situations_file = root / "situations.yml"
    raw_situations = _read_yaml(situations_file, problems) if situations_file.exists() else None
    situations = _parse_situations(raw_situations, problems, terms)
    guide = Guide(sections=sections, offices=offices, terms=terms, service=service, situations=situations)
    _cross_check(guide, problems, partial)
    if problems:
        raise GuideError(problems)
    return guide


_current: Guide | None = None
_current_lock = threading.Lock()


def default_guide() -> Guide:
    """The project's guide, loaded once per process; `bot.guide.reload` swaps in a checked new version when an
    editor changes knowledge/ (one reference assignment, so a reader sees the old guide or the new one whole)."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                _current = load_guide()
    return _current


def replace_guide(guide: Guide | None) -> None:
    """Serve `guide` from now on (None: load the project's again on next use)."""
    global _current
    _current = guide
