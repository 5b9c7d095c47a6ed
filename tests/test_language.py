from __future__ import annotations

import pytest

from bot.nlu.language import detect_language, normalize_language, reply_language, stated_language


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


@pytest.mark.parametrize(
    ("explicit", "message", "conversation", "expected"),
    [
        ("zh", "How do I renew my work permit?", "en", "zh"),  # an explicit choice beats the message
        ("zh-CN", None, None, "zh"),
        (None, "工作许可怎么延期", "en", "zh"),  # the message beats the conversation
        (None, "How do I renew?", "zh", "en"),
        (None, "WP2026000123", "zh", "zh"),  # a message without language keeps the conversation's
        (None, "🙂", None, "en"),  # nothing at all: the default
        ("fr", "12345", "中文", "zh"),  # an unusable choice is skipped, not obeyed
        (None, "", "", "en"),
    ],
)
def test_one_precedence_for_the_reply_language(
    explicit: object, message: str | None, conversation: object, expected: str
) -> None:
    assert reply_language(explicit=explicit, message=message, conversation=conversation) == expected


def test_the_nlu_states_only_what_the_turn_says() -> None:
    """The component leaves the slot (the conversation's language) alone when the turn says nothing."""
    assert stated_language(explicit=None, message="12345") is None
    assert stated_language(explicit="en", message="工作许可怎么延期") == "en"
    assert stated_language(explicit=None, message="工作许可怎么延期") == "zh"
