"""What the router says to Rasa and what it answers itself: `/lang` typed by the user, the language entity added
to payloads, and typed text kept from ever reading as an `/intent{...}` command."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.conversations.store import ConversationInfo, StoredMessage
from bot.core import payload as contract
from bot.nlu.language import normalize_language, reply_language
from bot.texts import t

_LANG_COMMAND = re.compile(r"^/(?:lang|language|语言)\s*(\S*)\s*$", re.IGNORECASE)
Reply = tuple[str, dict[str, Any] | None]


def with_language(payload: str, language: str | None) -> str:
    """`/intent{...}` with a `language` entity added (the slot follows it), unless one is there already."""
    if language not in ("en", "zh"):
        return payload
    name, brace, rest = payload.partition("{")
    entities: dict[str, Any] = {}
    if brace:
        try:
            entities = json.loads(brace + rest)
        except ValueError:
            return payload
        if not isinstance(entities, dict):
            return payload
    entities.setdefault("language", language)
    return name + json.dumps(entities, ensure_ascii=False)


def neutralize(text: str) -> str:
    """Typed text must never reach Rasa as an intent or entity injection ("/intent{...}"): Rasa treats a
    leading "/" as a command, so typed text starting with one is sent with a full-width slash instead."""
    stripped = text.lstrip()
    if stripped.startswith("/"):
        return "／" + stripped[1:]
    return text


@dataclass(frozen=True)
class Answered:
    """A command the router answers itself: its replies, and the language choice to store ("" = automatic)."""

    replies: list[Reply]
    choice: str | None = None


def language_command(conversation: ConversationInfo, message: StoredMessage) -> Answered | None:
    """`/lang zh|en|auto` typed by the user; None when the message is not a command."""
    if (message.payload or {}).get("button") or (message.payload or {}).get("command"):
        return None
    match = _LANG_COMMAND.match(message.text.strip())
    if not match:
        return None
    wanted = match.group(1).lower()
    # The command's own words ("/lang", "/语言") say nothing of the user's language (detect_language skips text
    # that starts with "/", and stored text is trimmed), so this is the choice so far, else the conversation's.
    current = reply_language(conversation.language_choice, message.text, conversation.language)
    if wanted in ("auto", "自动"):
        auto = t("conversations.language.auto", current)
        return Answered([(auto, {"custom": contract.language(None)})], choice="")
    language = normalize_language(wanted)
    if language is None:
        return Answered([(t("conversations.language.help", current), None)])
    chosen = t("conversations.language.set", language)
    return Answered([(chosen, {"custom": contract.language(language)})], language)


def outcome_command(outcome: str, token: str | None) -> str:
    """What Rasa is told about a passport check: only the outcome, never the number or the passport."""
    if outcome == "ok":
        return "/case_verified" + json.dumps({"verification": token})
    reason = outcome if outcome in ("locked", "wait") else "denied"
    return "/case_verification_failed" + json.dumps({"reason": reason})
