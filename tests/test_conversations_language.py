"""The router's own answers (`/lang`, the restart notice, the hidden passport) come from the text catalogue, in
the language reply_language() picks; the payload sent to Rasa claims a language only when one is known."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.conversations.commands import language_command, with_language
from bot.conversations.router import passport_hidden
from bot.conversations.store import ConversationInfo, StoredMessage
from bot.texts import t


def conversation(choice: str | None = None, language: str | None = None) -> ConversationInfo:
    return ConversationInfo("c" * 32, "bot", choice, language, False)


def typed(text: str) -> StoredMessage:
    return StoredMessage(1, "user", text, None, datetime.now(timezone.utc), None, None)


@pytest.mark.parametrize(
    ("choice", "language", "expected"),
    [("zh", "en", "zh"), (None, "zh", "zh"), ("en", "zh", "en"), (None, None, "en")],
)
def test_lang_auto_and_help_answer_in_the_choice_else_the_conversations_language(
    choice: str | None, language: str | None, expected: str
) -> None:
    auto = language_command(conversation(choice, language), typed("/语言 自动"))
    assert auto is not None and auto.choice == ""
    cleared = {"custom": {"type": "language", "lang": None}}
    assert auto.replies == [(t("conversations.language.auto", expected), cleared)]
    helped = language_command(conversation(choice, language), typed("/lang fr"))
    assert helped is not None and helped.choice is None
    assert helped.replies == [(t("conversations.language.help", expected), None)]


def test_lang_sets_the_choice_and_answers_in_the_chosen_language() -> None:
    answered = language_command(conversation("en", "en"), typed("/lang 中文"))
    assert answered is not None and answered.choice == "zh"
    assert answered.replies[0][0] == "好的，接下来我会用中文回答。"
    assert language_command(conversation(), typed("lang zh")) is None  # not a command: goes to Rasa


def test_a_payload_claims_a_language_only_when_one_is_known() -> None:
    assert with_language("/faq", None) == "/faq"
    assert with_language('/faq{"section": "fees"}', "zh") == '/faq{"section": "fees", "language": "zh"}'
    assert with_language('/faq{"language": "en"}', "zh") == '/faq{"language": "en"}'


def test_the_hidden_passport_reads_the_same_in_both_languages() -> None:
    assert passport_hidden() == "🔒 Passport number provided (hidden) · 已提供护照号码（已隐藏）"
