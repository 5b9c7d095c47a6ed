"""Custom actions run against trackers built from plain dicts, as rasa-demo tests them: exact messages and events."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.guide import ActionAnswerGuide, ActionFallback
from bot.guide.loader import load_guide


def tracker(
    text: str,
    ranking: list[tuple[str, float]],
    slots: dict[str, Any] | None = None,
    intent: str = "faq",
    entities: list[dict[str, Any]] | None = None,
) -> Tracker:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "response_selector": {
            "all_retrieval_intents": ["faq"],
            "faq": {"ranking": [{"intent_response_key": f"faq/{s}", "confidence": c} for s, c in ranking]},
        },
    }
    return Tracker(
        "t1", {"language": "en", "fallback_count": 0, **(slots or {})}, parse, [], False, None, {}, "action_listen"
    )


async def run(action, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


async def test_answers_a_clear_question_in_the_language_of_the_conversation() -> None:
    messages, events = await run(
        ActionAnswerGuide(), tracker("延期", [("extension", 0.9), ("fees", 0.01)], {"language": "zh"})
    )
    assert messages[0]["text"].startswith("**工作许可延期**")
    assert messages[1]["custom"]["type"] == "guide_answer" and messages[1]["custom"]["lang"] == "zh"
    assert events == [SlotSet("fallback_count", 0), SlotSet("last_section", "extension")]


async def test_asks_which_section_when_two_are_close() -> None:
    messages, events = await run(
        ActionAnswerGuide(), tracker("cancel", [("cancellation", 0.4), ("cancellation_mistakes", 0.35)])
    )
    assert messages[1]["custom"]["type"] == "clarify"
    guide = load_guide()
    titles = [guide.sections[s].title.en for s in ("cancellation", "cancellation_mistakes")]
    assert [b["title"] for b in messages[0]["buttons"]][:2] == titles
    assert events == []


async def test_says_plainly_when_the_guide_does_not_cover_it() -> None:
    messages, _ = await run(ActionAnswerGuide(), tracker("pizza?", [("fees", 0.04), ("z_visa", 0.03)]))
    assert "could not find this in the work-permit guide" in messages[0]["text"]
    assert messages[1]["custom"]["reason"] == "not_covered"


async def test_a_clarify_button_answers_the_section_it_names() -> None:
    t = tracker('/faq{"section": "fees"}', [], entities=[{"entity": "section", "value": "fees"}])
    messages, _ = await run(ActionAnswerGuide(), t)
    assert messages[1]["custom"]["section"] == "fees"


async def test_fallback_offers_choices_then_a_person() -> None:
    first, events = await run(ActionFallback(), tracker("hmm", [("fees", 0.2), ("z_visa", 0.1)]))
    assert first[1]["custom"]["type"] == "clarify" and events == [SlotSet("fallback_count", 1)]
    second, events = await run(ActionFallback(), tracker("hmm?", [("fees", 0.2)], {"fallback_count": 1}))
    assert second[1]["custom"]["reason"] == "not_covered"
    assert {"title": "Talk to a person", "payload": "/human_handoff"} in second[0]["buttons"]
