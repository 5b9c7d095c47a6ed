"""Content checks on knowledge/ that keep the guide honest and the two languages in step.

`load_guide` checks the shape of the guide; these checks read its meaning:
- the numbers, days, amounts and dates of a text are the same set in English and Chinese;
- every section and checklist item cites a source the research dossiers name (or names the public source);
- a fact backed only by agency or low-reliability sources is not stated without a caution;
- a fact the bureau has not confirmed (office facts, the promised time limits) says "unconfirmed" where it is shown;
- the Chinese wording of recurring notes stays one wording.
Every problem is reported, with the file and the place, so an editor can fix them in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.guide.answers import fill_facts
from bot.guide.loader import FACT_REF, KNOWLEDGE_DIR, Guide, load_guide, read_knowledge_yaml
from bot.guide.models import LANGS
from bot.guide.wording import (
    HEDGE,
    UNCONFIRMED,
    ZH_STYLE,
    canonical_number,
    numbers_in,
    paragraphs,
    statements,
)

# Tags of sources that may not carry a fact alone without a caution (dossier: agency, low reliability).
WEAK_TAGS = frozenset({"AGENCY", "LOW"})

# ---------------------------------------------------------------------------------------------------------------
# Reading knowledge/ as raw data (the checks need fields the typed model does not keep, such as item sources)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


def find_research_dir(start: Path = KNOWLEDGE_DIR) -> Path | None:
    """The dossiers live in shared/research beside the project (or beside the folder holding its worktrees)."""
    for folder in Path(start).resolve().parents:
        candidate = folder / "shared" / "research"
        if candidate.is_dir() and any(candidate.glob("*.md")):
            return candidate
    return None


def _read(path: Path) -> Any:
    return read_knowledge_yaml(path.read_text(encoding="utf-8"))


def _pair(raw: Any) -> dict[str, str] | None:
    if isinstance(raw, dict) and all(isinstance(raw.get(lang), str) for lang in LANGS):
        return {lang: raw[lang] for lang in LANGS}
    return None


@dataclass
class TextPair:
    """One bilingual text and where it lives (for messages)."""

    where: str
    text: dict[str, str]


def _checklist_pairs(name: str, raw: dict[str, Any]) -> Iterator[TextPair]:
    where = f"checklists/{name}"
    if pair := _pair(raw.get("title")):
        yield TextPair(f"{where} title", pair)
    for item in raw.get("items") or []:
        at = f"{where} item {item.get('id')}"
        for key in ("name", "note"):
            if pair := _pair(item.get(key)):
                yield TextPair(f"{at} {key}", pair)
        for index, mistake in enumerate(item.get("mistakes") or []):
            if pair := _pair(mistake):
                yield TextPair(f"{at} mistake {index + 1}", pair)
        for index, variant in enumerate(item.get("variants") or []):
            if pair := _pair(variant.get("note")):
                yield TextPair(f"{at} variant {index + 1}", pair)


def _item_pairs(item: dict[str, Any]) -> list[dict[str, str]]:
    pairs = [_pair(item.get("name")), _pair(item.get("note"))]
    pairs += [_pair(m) for m in item.get("mistakes") or []]
    pairs += [_pair(v.get("note")) for v in item.get("variants") or []]
    return [p for p in pairs if p]


@dataclass
class Knowledge:
    """knowledge/ as raw YAML, beside the typed guide."""

    root: Path
    guide: Guide
    sections: dict[str, dict[str, Any]]
    checklists: dict[str, dict[str, Any]]
    questions: dict[str, Any]
    procedures: dict[str, Any]
    offices: dict[str, Any]

    @classmethod
    def read(cls, root: Path, guide: Guide) -> Knowledge:
        sections = {p.stem: _read(p) for p in sorted((root / "sections").glob("*.yml"))}
        checklists = {
            p.stem: _read(p) for p in sorted((root / "checklists").glob("*.yml")) if not p.name.startswith("_")
        }
        questions_path = root / "checklists" / "_questions.yml"
        procedures_path = root / "procedures.yml"
        return cls(
            root=root,
            guide=guide,
            sections=sections,
            checklists=checklists,
            questions=_read(questions_path) if questions_path.exists() else {},
            procedures=_read(procedures_path) if procedures_path.exists() else {},
            offices=_read(root / "office.yml") or {},
        )

    def text_pairs(self) -> Iterator[TextPair]:
        """Every bilingual text the assistant can show, from every file this check owns."""
        for name, raw in self.sections.items():
            for key in ("title", "key_fact", "answer", "caution"):
                if pair := _pair(raw.get(key)):
                    yield TextPair(f"sections/{name} {key}", pair)
        for name, raw in self.checklists.items():
            yield from _checklist_pairs(name, raw)
        for question, spec in self.questions.items():
            if pair := _pair(spec.get("prompt")):
                yield TextPair(f"checklists/_questions {question} prompt", pair)
            for key, option in (spec.get("options") or {}).items():
                if pair := _pair(option):
                    yield TextPair(f"checklists/_questions {question} option {key}", pair)
        for office in self.offices.get("offices", []):
            for key, fact in (office.get("facts") or {}).items():
                if pair := _pair(fact.get("value")):
                    yield TextPair(f"office.yml {office.get('id')}.{key}", pair)
        for group in ("stages", "next_steps"):
            for key, value in (self.procedures.get(group) or {}).items():
                if pair := _pair(value):
                    yield TextPair(f"procedures.yml {group}.{key}", pair)
        for key, promise in (self.procedures.get("promises") or {}).items():
            for part in ("next", "rule"):
                if pair := _pair(promise.get(part)):
                    yield TextPair(f"procedures.yml promises.{key}.{part}", pair)


# ---------------------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------------------


def check_numbers(knowledge: Knowledge, report: Report) -> None:
    """The same numbers in both languages: a figure missing or different in one language is a mistranslation."""
    for pair in knowledge.text_pairs():
        en, zh = numbers_in(pair.text["en"], "en"), numbers_in(pair.text["zh"], "zh")
        if en != zh:
            detail = []
            if en - zh:
                detail.append(f"only in English: {', '.join(sorted(en - zh, key=float))}")
            if zh - en:
                detail.append(f"only in Chinese: {', '.join(sorted(zh - en, key=float))}")
            report.add(pair.where, "numbers differ between languages (" + "; ".join(detail) + ")")


def _in_dossier(url: str, dossier: str | None) -> bool:
    return dossier is not None and url.rstrip("/") in dossier


def _source_named(source: dict[str, Any]) -> bool:
    """A source outside the dossiers counts when the item names the public source it is (`public_source`)."""
    return isinstance(source.get("public_source"), str) and bool(source["public_source"].strip())


def check_sources(knowledge: Knowledge, report: Report, dossier: str | None) -> None:
    """Every section and checklist item cites at least one source the dossiers give (or names a public one)."""
    for name, raw in knowledge.sections.items():
        sources = [s for s in raw.get("sources") or [] if isinstance(s, dict)]
        if not sources:
            report.add(f"sections/{name}", "cites no source")
        elif dossier is not None and not any(
            _in_dossier(str(s.get("url", "")), dossier) or _source_named(s) or s.get("tag") == "OPERATOR"
            for s in sources
        ):
            report.add(f"sections/{name}", "none of its sources appears in the research dossiers")
    for name, raw in knowledge.checklists.items():
        listed = {str(s.get("url")): s for s in raw.get("sources") or [] if isinstance(s, dict)}
        for item in raw.get("items") or []:
            at = f"checklists/{name} item {item.get('id')}"
            cited = [str(url) for url in item.get("sources") or []]
            if not cited:
                report.add(at, "cites no source (add `sources:` with URLs from the checklist's sources)")
                continue
            for url in cited:
                if url not in listed:
                    report.add(at, f"cites {url}, which is not in the checklist's `sources` (where its tag is)")
            if dossier is not None and not any(
                _in_dossier(url, dossier) or _source_named(listed.get(url, {})) for url in cited
            ):
                report.add(at, "none of its sources appears in the research dossiers")


def _weak_numbers(sources: Iterable[dict[str, Any]]) -> set[str]:
    """Figures that only agency or low-reliability sources give (read from each source's `note`)."""
    weak: set[str] = set()
    strong: set[str] = set()
    for source in sources:
        figures = numbers_in(str(source.get("note", "")), "en")
        (weak if source.get("tag") in WEAK_TAGS else strong).update(figures)
    return weak - strong


def check_cautions(knowledge: Knowledge, report: Report) -> None:
    """A fact only agencies or low-reliability pages give is attributed or cautioned, never stated as a rule."""
    for name, raw in knowledge.sections.items():
        where = f"sections/{name}"
        sources = [s for s in raw.get("sources") or [] if isinstance(s, dict)]
        answer, caution = _pair(raw.get("answer")), _pair(raw.get("caution"))
        if not answer:
            continue
        # The key fact opens the reply: it is held to the same rule as the answer it summarises.
        stated = [("answer", answer)] + [("key_fact", kf) for kf in [_pair(raw.get("key_fact"))] if kf]
        if sources and all(s.get("tag") in WEAK_TAGS for s in sources) and not caution:
            report.add(where, "all its sources are agency or low-reliability, so it needs a caution")
        for figure in sorted(_weak_numbers(sources), key=float):
            for lang in LANGS:
                cautioned = caution is not None and figure in numbers_in(caution[lang], lang)
                if cautioned:
                    continue
                for part, text in stated:
                    for paragraph in paragraphs(text[lang]):
                        # The attribution may sit in the sentence itself, in its bullet, or in the line that
                        # introduces the list the bullet belongs to.
                        first_line = paragraph.strip().splitlines()[0]
                        for sentence in statements(paragraph, lang):
                            hedged = HEDGE[lang].search(sentence) or (
                                sentence.lstrip().startswith("-") and HEDGE[lang].search(first_line)
                            )
                            if figure in numbers_in(sentence, lang) and not hedged:
                                report.add(
                                    where,
                                    f"{part}.{lang} states {figure}, which only agency or low-reliability sources "
                                    f"give, without saying so: {sentence.strip()[:90]!r}",
                                )
    for name, raw in knowledge.checklists.items():
        tags = {str(s.get("url")): s.get("tag") for s in raw.get("sources") or [] if isinstance(s, dict)}
        for item in raw.get("items") or []:
            cited = [str(url) for url in item.get("sources") or []]
            if not cited or not all(tags.get(url) in WEAK_TAGS for url in cited):
                continue
            for lang in LANGS:
                if not any(HEDGE[lang].search(pair[lang]) for pair in _item_pairs(item)):
                    report.add(
                        f"checklists/{name} item {item.get('id')}",
                        f"rests only on agency or low-reliability sources but its {lang} text does not say so",
                    )


def _fact_values(knowledge: Knowledge) -> Iterator[tuple[str, str, bool, str]]:
    for office in knowledge.offices.get("offices", []):
        for key, fact in (office.get("facts") or {}).items():
            value = _pair(fact.get("value"))
            if value:
                for lang in LANGS:
                    yield f"{office['id']}.{key}", lang, fact.get("confirmed") is True, value[lang].strip()


def check_unconfirmed(knowledge: Knowledge, report: Report) -> None:
    """Operator-supplied facts say they are unconfirmed wherever they are shown, until `confirmed: true`."""
    guide = knowledge.guide
    shown = [
        p
        for p in knowledge.text_pairs()
        if p.where.startswith(("sections/", "checklists/")) and " title" not in p.where
    ]
    for fact_key, lang, _confirmed, value in _fact_values(knowledge):
        # Typed into a text, a fact escapes the placeholder that says whether it is confirmed.
        for pair in shown:
            if value in pair.text[lang]:
                report.add(pair.where, f"types the office fact {fact_key} instead of {{fact:{fact_key}}}")
    for pair in shown:
        for lang in LANGS:
            for office_id, key in FACT_REF.findall(pair.text[lang]):
                fact = guide.fact(office_id, key)
                if fact is None or fact.confirmed:
                    continue
                rendered = fill_facts(f"{{fact:{office_id}.{key}}}", guide, lang)
                if not UNCONFIRMED[lang].search(rendered):
                    report.add(pair.where, f"shows {office_id}.{key} ({lang}) without saying it is unconfirmed")
    promises = knowledge.procedures.get("promises") or {}
    unconfirmed_days = set()
    for stage, promise in promises.items():
        where = f"procedures.yml promises.{stage}"
        if promise.get("confirmed") is True:
            continue
        unconfirmed_days.add(canonical_number(float(promise.get("due_working_days", 0))))
        rule = _pair(promise.get("rule"))
        if not rule:
            report.add(where, "an unconfirmed promise needs a `rule` (en, zh) saying which rule its due date uses")
            continue
        for lang in LANGS:
            if not UNCONFIRMED[lang].search(rule[lang]):
                report.add(where, f"rule.{lang} must say the promise is not confirmed yet")
    promise_words = {"en": re.compile(r"promise|working day", re.I), "zh": re.compile(r"承诺|工作日")}
    for stage, text in (knowledge.procedures.get("next_steps") or {}).items():
        step = _pair(text)
        if not step or not unconfirmed_days:
            continue
        for lang in LANGS:
            states_promise = promise_words[lang].search(step[lang]) and numbers_in(step[lang], lang) & unconfirmed_days
            if states_promise and not UNCONFIRMED[lang].search(step[lang]):
                report.add(
                    f"procedures.yml next_steps.{stage}",
                    f"{lang} states the bureau's time limit, which is unconfirmed, without saying so",
                )


def check_checklist_shape(knowledge: Knowledge, report: Report) -> None:
    """The checklist loader's own rules (conditions, asks, replacing lists), applied to this folder's files."""
    from bot.checklists import ChecklistError, load_checklist

    options = {name: set((spec or {}).get("options") or {}) for name, spec in knowledge.questions.items()}
    for name in knowledge.checklists:
        try:
            checklist = load_checklist(knowledge.root / "checklists" / f"{name}.yml", options)
        except (ChecklistError, KeyError) as exc:
            report.add(f"checklists/{name}", str(exc))
            continue
        for replaced in checklist.instead_of:
            if replaced not in knowledge.checklists:
                report.add(f"checklists/{name}", f"`instead_of` names {replaced!r}, which has no checklist")


def check_style(knowledge: Knowledge, report: Report) -> None:
    for pair in knowledge.text_pairs():
        for wrong, right in ZH_STYLE:
            if wrong in pair.text["zh"]:
                report.add(pair.where, f"zh uses “{wrong}”; use {right}")


def run_checks(root: Path | str = KNOWLEDGE_DIR, research: Path | str | None = None, partial: bool = False) -> Report:
    """All content checks on a knowledge folder. `research` defaults to the dossiers beside the project; when
    none are found the dossier part is skipped (and said to be), as in a clone without ../shared."""
    root = Path(root)
    guide = load_guide(root, partial=partial)  # GuideError first: the shape must be right before the meaning
    knowledge = Knowledge.read(root, guide)
    report = Report()
    research_dir = Path(research) if research else find_research_dir(root)
    dossier = None
    if research_dir is not None and research_dir.is_dir() and any(research_dir.glob("*.md")):
        dossier = "".join(p.read_text(encoding="utf-8") for p in sorted(research_dir.glob("*.md")))
    else:
        report.skipped.append(
            "sources against the research dossiers: no shared/research/*.md found beside the project "
            "(pass --research DIR); every item is still required to cite a source"
        )
    check_checklist_shape(knowledge, report)
    check_numbers(knowledge, report)
    check_sources(knowledge, report, dossier)
    check_cautions(knowledge, report)
    check_unconfirmed(knowledge, report)
    check_style(knowledge, report)
    return report
