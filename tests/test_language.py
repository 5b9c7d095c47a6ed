from __future__ import annotations

import pytest

from bot.nlu.language import detect_language, normalize_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How do I renew my work permit?", "en"),
        ("工作许可怎么延期", "zh"),
        ("申请Z visa 需要什么材料?", "zh"),
        ("HR问一下work permit延期要提前多久", "zh"),
        ("my 体检 report is 7 months old, is that ok", "en"),
        ("What does 补正 mean for my application?", "en"),
        ("🙂🙂", None),
        ("12345 ???", None),
        ("", None),
        ('/faq{"section": "fees"}', None),
        ("ok", "en"),
        ("WP2026000123", None),
        ("my number is WP2026000123", "en"),
        ("编号WP2026000123", "zh"),
        ("好", "zh"),
    ],
)
def test_detects_the_language_of_a_message(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("zh-CN", "zh"), ("中文", "zh"), ("EN", "en"), ("fr", None), (3, None)]
)
def test_normalizes_language_choices(value: object, expected: str | None) -> None:
    assert normalize_language(value) == expected
