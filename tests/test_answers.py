"""From a ranking of sections to what the user sees, with the payload DESIGN.md specifies."""

from __future__ import annotations

import pytest

from bot.guide import answers
from bot.guide.loader import load_guide


@pytest.fixture(scope="module")
def guide():  # type: ignore[no-untyped-def]
    return load_guide()


@pytest.mark.parametrize(
    ("ranking", "kind", "sections"),
    [
        ([("extension", 0.82), ("extension_mistakes", 0.1)], "answer", ("extension",)),
        ([("extension", 0.40), ("extension_mistakes", 0.18)], "answer", ("extension",)),
        (
            [("extension", 0.40), ("extension_mistakes", 0.30), ("fees", 0.02)],
            "clarify",
            ("extension", "extension_mistakes"),
        ),
        ([("extension", 0.2), ("fees", 0.04), ("z_visa", 0.03)], "clarify", ("extension",)),
        ([("extension", 0.06), ("fees", 0.05)], "not_covered", ()),
        ([], "not_covered", ()),
    ],
)
def test_decide(ranking, kind, sections) -> None:  # type: ignore[no-untyped-def]
    assert answers.decide(ranking) == answers.Decision(kind, sections)


def test_decide_ignores_sections_the_guide_no_longer_has() -> None:
    assert answers.decide([("retired_section", 0.9), ("fees", 0.5)], known={"fees"}).sections == ("fees",)


def test_answer_payload_has_the_contract_fields(guide) -> None:
    reply = answers.answer(guide, guide.sections["extension"], "zh")
    custom = reply.custom
    assert custom["type"] == "guide_answer"
    assert {"section", "topic", "lang", "title", "source_url", "reviewed"} <= set(custom)
    assert custom["section"] == "extension" and custom["topic"] == "extension" and custom["lang"] == "zh"
    assert custom["title"] == "工作许可延期" and custom["reviewed"] == "2026-11-28"
    assert custom["source_url"].startswith("http")
    assert "出处" in reply.text and "\n\n" not in reply.text


def test_caution_and_staff_offer_are_part_of_the_answer(guide) -> None:
    cautious = next(s for s in guide.sections.values() if s.caution is not None)
    assert "⚠" in answers.answer(guide, cautious, "en").text
    needs_staff = next(s for s in guide.sections.values() if s.needs_staff)
    reply = answers.answer(guide, needs_staff, "en")
    assert {"title": "Talk to a person", "payload": "/human_handoff"} in reply.buttons


def test_clarify_offers_buttons_that_name_their_section(guide) -> None:
    reply = answers.clarify(guide, ("cancellation", "cancellation_mistakes"), "en")
    payloads = [b["payload"] for b in reply.buttons]
    assert payloads[:2] == ['/faq{"section": "cancellation"}', '/faq{"section": "cancellation_mistakes"}']
    assert reply.custom["type"] == "clarify" and reply.custom["options"] == reply.buttons


def test_an_answer_about_a_procedure_offers_its_checklist(guide) -> None:
    reply = answers.answer(guide, guide.sections["extension_mistakes"], "zh")
    assert reply.buttons[0] == {"title": "生成我的材料清单", "payload": '/request_checklist{"procedure": "extension"}'}
    general = answers.answer(guide, guide.sections["fees"], "en")
    assert not any(b["payload"].startswith("/request_checklist") for b in general.buttons)
