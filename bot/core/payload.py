"""The bot-turn payload contract (DESIGN.md, "Bot turn payloads") in one place.

Actions send one machine-readable custom payload per turn that carries a result; the widget renders it, the gateway
acts on it (a passport check to expect, a handoff to announce, a turn outcome to count), tests and the bench assert
on it. The type names and required fields live here so no module spells them as loose string literals.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

# -- types of the contract (DESIGN.md table) ----------------------------------------------------------------------
GUIDE_ANSWER = "guide_answer"
CHECKLIST = "checklist"
CASE_STATUS = "case_status"
HANDOFF = "handoff"
CLARIFY = "clarify"

# -- steps of the case-status form, which the gateway follows to mask identifiers -------------------------------------
FORM_QUESTION = "form_question"
VERIFY_REQUEST = "verify_request"
VERIFY_LOCKED = "verify_locked"

# -- payloads the gateway itself adds to the transcript ---------------------------------------------------------------
LANGUAGE = "language"
STAFF_JOINED = "staff_joined"
RESOLVED = "resolved"
# Our Rasa server sends this instead of a half-done turn when the action server stays unreachable.
ACTIONS_UNAVAILABLE = "actions_unavailable"

# Why a `clarify` is not a choice between readings of the question: the guide does not cover it (a person, and
# perhaps the closest sections to open), the bot did not understand, or the context was reset.
REASON_NOT_COVERED = "not_covered"
REASON_REPHRASE = "rephrase"
REASON_CONTEXT_RESET = "context_reset"

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    GUIDE_ANSWER: ("section", "topic", "lang", "title", "source_url", "reviewed"),
    CHECKLIST: ("procedure", "category", "items", "lang", "print_url"),
    CASE_STATUS: ("case", "stage", "stage_since", "due", "on_time", "missing"),
    HANDOFF: ("ticket", "queue_position", "estimated_wait_s", "office_open", "next_open"),
    CLARIFY: ("options",),
    FORM_QUESTION: ("form", "slot", "lang"),
    VERIFY_REQUEST: ("ref", "lang"),
    VERIFY_LOCKED: ("until", "lang"),
}
CHECKLIST_ITEM_FIELDS = ("id", "name", "note", "common_mistakes")

# -- turn outcomes: /metrics and the insights report count turns by the same rule -------------------------------------
ANSWERED = "answered"
CHOICE = "choice"
NOT_COVERED = "not_covered"
OTHER = "other"  # small talk, a greeting, a form step, a checklist or case status: no guide answer or choice
OUTCOMES = (ANSWERED, CHOICE, NOT_COVERED, HANDOFF, OTHER)
NOT_ANSWERED_REASONS = (REASON_NOT_COVERED, REASON_REPHRASE)


def kind(custom: object) -> str | None:
    """The `type` of a custom payload, or None when it is not one."""
    if isinstance(custom, Mapping) and isinstance(custom.get("type"), str):
        return str(custom["type"])
    return None


def custom_of(item_payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The custom payload inside a transcript entry's payload ({"custom": …, "buttons": …}); {} when absent."""
    custom = (item_payload or {}).get("custom")
    return dict(custom) if isinstance(custom, Mapping) else {}


def validate(custom: Mapping[str, Any]) -> list[str]:
    """What is wrong with a payload against the contract (an empty list when nothing is); unknown types pass."""
    name = kind(custom)
    if name is None:
        return ["no type"]
    problems = [f"{name}: missing {field}" for field in REQUIRED_FIELDS.get(name, ()) if field not in custom]
    if name == CHECKLIST:
        for index, item in enumerate(custom.get("items") or []):
            missing = [f for f in CHECKLIST_ITEM_FIELDS if not isinstance(item, Mapping) or f not in item]
            problems += [f"checklist: item {index} missing {field}" for field in missing]
    if name == CLARIFY:
        for index, option in enumerate(custom.get("options") or []):
            if not isinstance(option, Mapping) or "title" not in option or "payload" not in option:
                problems.append(f"clarify: option {index} needs title and payload")
    return problems


def turn_outcome(customs: Iterable[Mapping[str, Any]]) -> str:
    """What one bot turn amounted to, read from the custom payloads the bot sent (the gateway interprets no text):
    a handoff wins; otherwise the first guide answer or choice decides ("not covered" is a clarify whose options
    are a person and at most the closest sections, none of them an answer); anything else is "other"."""
    customs = list(customs)
    if any(kind(c) == HANDOFF for c in customs):
        return HANDOFF
    for custom in customs:
        if kind(custom) == GUIDE_ANSWER:
            return ANSWERED
        if kind(custom) == CLARIFY:
            return NOT_COVERED if custom.get("reason") in NOT_ANSWERED_REASONS else CHOICE
    return OTHER


# -- builders ---------------------------------------------------------------------------------------------------------


def clarify(lang: str, options: list[dict[str, Any]], reason: str | None = None) -> dict[str, Any]:
    """A choice of options (title + payload); `reason` says why when there is no section to choose."""
    custom: dict[str, Any] = {"type": CLARIFY, "lang": lang, "options": options}
    if reason is not None:
        custom["reason"] = reason
    return custom


def form_question(form: str, slot: str, lang: str) -> dict[str, Any]:
    return {"type": FORM_QUESTION, "form": form, "slot": slot, "lang": lang}


def verify_locked(until: str, lang: str) -> dict[str, Any]:
    return {"type": VERIFY_LOCKED, "until": until, "lang": lang}


def language(lang: str | None) -> dict[str, Any]:
    return {"type": LANGUAGE, "lang": lang}
