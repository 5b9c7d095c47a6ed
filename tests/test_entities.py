"""Rule-based extraction with the project's own blank spaCy pipeline, in both languages and mixed."""

from __future__ import annotations

import pytest

from bot.nlu.entities import EntityRecognizer
from bot.rasa.generate import GENERATED_DIR


@pytest.fixture(scope="module")
def recognizer() -> EntityRecognizer:
    return EntityRecognizer.from_file(GENERATED_DIR / "entity_patterns.jsonl")


def found(recognizer: EntityRecognizer, text: str) -> set[tuple[str, str]]:
    return {(e.label, e.value) for e in recognizer.extract(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("申请Z visa 需要什么材料?", {("document", "z_visa")}),
        ("how do I renew my Category-B permit", {("procedure", "extension"), ("permit_category", "B")}),
        ("我是B类人才，想换工作", {("permit_category", "B"), ("procedure", "change_employer")}),
        ("工作许可证丢了怎么补办", {("procedure", "work_permit_after_entry"), ("procedure", "replacement")}),
        (
            "do I need an apostille for my degree certificate",
            {("term", "apostille"), ("document", "degree_certificate")},
        ),
        ("the weather is nice", set()),
    ],
)
def test_finds_terms_in_english_chinese_and_mixed_text(recognizer, text, expected) -> None:  # type: ignore[no-untyped-def]
    assert found(recognizer, text) == expected


@pytest.mark.parametrize(
    "text",
    ["查询WP2026000123的进度", "status of wp2026000123?", "ＷＰ２０２６０００１２３", "WP 2026 000 123 please"],
)
def test_finds_application_numbers_in_lookalike_forms(recognizer, text: str) -> None:  # type: ignore[no-untyped-def]
    numbers = [e for e in recognizer.extract(text) if e.label == "application_number"]
    assert [e.value for e in numbers] == ["WP2026000123"]
    assert text[numbers[0].start : numbers[0].end].replace(" ", "") != ""


def test_does_not_take_longer_digit_runs_for_application_numbers(recognizer) -> None:  # type: ignore[no-untyped-def]
    assert not [e for e in recognizer.extract("WP20260001234567") if e.label == "application_number"]
