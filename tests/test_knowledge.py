"""The guide in knowledge/: complete, sourced, honest about conflicts and unknown office facts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.db.models import PROCEDURES
from bot.guide.answers import answer, fill_facts
from bot.guide.check import find_research_dir
from bot.guide.loader import KNOWLEDGE_DIR, GuideError, load_guide
from bot.guide.models import TOPICS
from bot.texts import t

# The dossiers sit in shared/research beside the project (or beside the folder of its worktrees); absent in CI.
RESEARCH = find_research_dir() or Path(__file__).resolve().parents[2] / "shared" / "research"


@pytest.fixture(scope="module")
def guide():  # type: ignore[no-untyped-def]
    return load_guide()


def test_every_topic_is_covered(guide) -> None:
    assert {s.topic for s in guide.sections.values()} == set(TOPICS)


def test_every_procedure_has_a_section_and_a_mistakes_section(guide) -> None:
    for procedure in PROCEDURES:
        assert any(s.procedure == procedure for s in guide.sections.values()), procedure
    mistakes = {s.procedure for s in guide.sections.values() if s.id.endswith("_mistakes")}
    assert mistakes >= {
        "notification_letter",
        "work_permit_after_entry",
        "change_employer",
        "extension",
        "change_info",
        "cancellation",
        "replacement",
    }


def test_sections_carry_sources_and_review_date(guide) -> None:
    for section in guide.sections.values():
        assert section.sources and section.reviewed.year >= 2026
        assert len(section.examples["en"]) >= 10 and len(section.examples["zh"]) >= 10


@pytest.mark.skipif(not RESEARCH.exists(), reason="../shared/research is not beside the project")
def test_every_source_comes_from_the_research_dossier(guide) -> None:
    dossier = "".join(p.read_text(encoding="utf-8") for p in RESEARCH.glob("*.md"))
    missing = sorted(
        {
            f"{s.id}: {src.url}"
            for s in guide.sections.values()
            for src in s.sources
            if src.url.rstrip("/") not in dossier
        }
    )
    # The online system's own entrance is named by the dossier as the system address (not as a source line).
    assert [m for m in missing if "fuwu.most.gov.cn/lhgzweb" not in m] == []


def test_conflicting_deadlines_are_flagged(guide) -> None:
    after_entry = guide.sections["work_permit_after_entry"]
    assert after_entry.caution is not None
    assert "10" in after_entry.caution.en and "15" in after_entry.caution.en
    for section_id in ("change_info", "cancellation"):
        caution = guide.sections[section_id].caution
        assert caution is not None and "working day" in caution.en.lower()


def test_unknown_etown_office_facts_are_said_to_be_unconfirmed(guide) -> None:
    for key in ("address", "hours", "phone"):
        fact = guide.fact("etown_bureau", key)
        assert fact is not None and fact.value is None and not fact.confirmed
    reply = answer(guide, guide.sections["etown_office"], "en")
    assert reply.text.count(t("guide.unconfirmed", "en")) == 3
    assert "尚未确认" in answer(guide, guide.sections["etown_office"], "zh").text
    # The one known E-Town fact (a 2022 article) is shown, but as unconfirmed.
    assert "2022" in reply.text and t("guide.public_note", "en") in reply.text


def test_no_address_hour_or_phone_is_typed_into_an_answer(guide) -> None:
    phone = re.compile(r"\b\d{3,4}[- ]?\d{7,8}\b|\b8915084\d\b")
    for section in guide.sections.values():
        for text in (section.answer.en, section.answer.zh):
            assert not phone.search(text), section.id
            assert "Andingmen" not in text and "Xisanhuan" not in text, section.id


def test_office_facts_fill_in_when_the_operator_supplies_them(guide) -> None:
    text = fill_facts("{fact:botc.phone}", guide, "en")
    assert "89150841" in text


def test_broken_knowledge_reports_every_problem(tmp_path: Path) -> None:
    shutil.copytree(KNOWLEDGE_DIR, tmp_path / "knowledge")
    section = tmp_path / "knowledge" / "sections" / "fees.yml"
    text = section.read_text(encoding="utf-8")
    text = text.replace("topic: fees", "topic: money").replace("reviewed: 2026-11-28", "reviewed: soon")
    section.write_text(text, encoding="utf-8")
    (tmp_path / "knowledge" / "sections" / "bad.yml").write_text("id: bad\n  - : [", encoding="utf-8")
    with pytest.raises(GuideError) as caught:
        load_guide(tmp_path / "knowledge")
    problems = "\n".join(caught.value.problems)
    assert "money" in problems and "reviewed" in problems and "bad.yml" in problems
