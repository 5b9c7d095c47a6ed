"""The payload contract of DESIGN.md: what the services really build passes the validator, what breaks it does not,
and a turn's outcome is read from its payloads by one rule."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot import checklists
from bot.checklists import Answers
from bot.core import payload
from bot.guide import answers
from bot.guide.loader import load_guide
from bot.handoff.texts import handoff_payload


@pytest.fixture(scope="module")
def guide():  # type: ignore[no-untyped-def]
    return load_guide()


def test_what_the_services_build_passes_the_contract(guide) -> None:  # type: ignore[no-untyped-def]
    built = [
        answers.answer(guide, guide.sections["extension"], "zh").custom,
        answers.clarify(guide, ("extension", "fees"), "en").custom,
        answers.not_covered("en").custom,
        answers.rephrase("zh").custom,
        checklists.build("extension", Answers(category="B"), "en", "https://bot.example"),
        handoff_payload(7, 1, 60, True, None, "en"),
        handoff_payload(8, None, None, False, datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc), "zh"),
        payload.form_question("case_status", "application_number", "en"),
        payload.verify_locked("2026-12-01T10:00:00+00:00", "en"),
    ]
    assert [payload.validate(custom) for custom in built] == [[]] * len(built)
    assert [payload.kind(c) for c in built[:5]] == ["guide_answer", "clarify", "clarify", "clarify", "checklist"]


def test_the_validator_names_what_is_missing() -> None:
    assert payload.validate({}) == ["no type"]
    assert payload.validate({"type": "handoff", "ticket": 1}) == [
        "handoff: missing queue_position",
        "handoff: missing estimated_wait_s",
        "handoff: missing office_open",
        "handoff: missing next_open",
    ]
    broken = {"type": "checklist", "procedure": "x", "category": None, "lang": "en", "print_url": "/", "items": [{}]}
    assert "checklist: item 0 missing common_mistakes" in payload.validate(broken)
    assert payload.validate(payload.clarify("en", [{"title": "only a title"}])) == [
        "clarify: option 0 needs title and payload"
    ]


@pytest.mark.parametrize(
    ("customs", "outcome"),
    [
        ([{"type": "guide_answer"}], "answered"),
        ([{"type": "clarify", "options": [{"title": "a", "payload": "/a"}]}], "choice"),
        ([payload.clarify("en", [], reason="not_covered")], "not_covered"),
        ([payload.clarify("en", [], reason="rephrase")], "not_covered"),
        ([{"type": "guide_answer"}, {"type": "handoff"}], "handoff"),  # a handoff wins
        ([payload.clarify("en", []), {"type": "guide_answer"}], "choice"),  # else the first one decides
        ([{"type": "checklist"}], "other"),
        ([], "other"),
    ],
)
def test_turn_outcome(customs, outcome: str) -> None:  # type: ignore[no-untyped-def]
    assert payload.turn_outcome(customs) == outcome
