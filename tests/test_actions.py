"""Custom actions run against trackers built from plain dicts, as rasa-demo tests them: exact messages and events."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.guide import ActionAnswerGuide, ActionFallback, ActionOutOfScope
from bot.core.clock import FixedClock
from bot.guide.loader import load_guide


def tracker(
    text: str,
    ranking: list[tuple[str, float]],
    slots: dict[str, Any] | None = None,
    intent: str = "faq",
    entities: list[dict[str, Any]] | None = None,
    none: float = 0.0,
) -> Tracker:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "response_selector": {
            "all_retrieval_intents": ["faq"],
            "faq": {
                "ranking": [{"intent_response_key": f"faq/{s}", "confidence": c} for s, c in ranking],
                "none_of_the_sections": none,
            },
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
    assert events[:2] == [SlotSet("fallback_count", 0), SlotSet("last_section", "extension")]
    # then the conversation's context (actions/context.py): the procedure of the section answered
    assert SlotSet("context_procedure", "extension") in events[2:]


async def test_asks_which_section_when_two_are_close() -> None:
    messages, events = await run(
        ActionAnswerGuide(), tracker("cancel", [("cancellation", 0.4), ("job_ends_stay", 0.35)])
    )
    assert messages[1]["custom"]["type"] == "clarify"
    guide = load_guide()
    # (Two sections of one procedure, say cancellation and its mistakes, are answered instead: test_answers.py.)
    titles = [guide.sections[s].title.en for s in ("cancellation", "job_ends_stay")]
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
    from rasa_sdk.events import FollowupAction

    first, events = await run(ActionFallback(), tracker("hmm", [("fees", 0.2), ("z_visa", 0.1)]))
    assert first[1]["custom"]["type"] == "clarify" and events == [SlotSet("fallback_count", 1)]
    second, events = await run(ActionFallback(), tracker("hmm?", [("fees", 0.2)], {"fallback_count": 1}))
    assert second == []
    handoff = [SlotSet("fallback_count", 0), SlotSet("handoff_reason", "fallback"), FollowupAction("action_handoff")]
    assert events == handoff


async def test_a_question_about_none_of_the_sections_is_declined_with_the_closest_and_no_failure_counted() -> None:
    """Whether the intent classifier was sure (faq) or not (nlu_fallback)."""
    ranking = [("who_is_exempt", 0.3), ("family_visas", 0.1)]
    text = "does category A make it easier to get permanent residence"
    category = [{"entity": "permit_category", "value": "A"}]
    for action, intent in ((ActionAnswerGuide(), "faq"), (ActionFallback(), "nlu_fallback")):
        messages, events = await run(action, tracker(text, ranking, intent=intent, entities=category, none=0.6))
        assert messages[1]["custom"]["reason"] == "not_covered", action
        assert [b["payload"] for b in messages[0]["buttons"]] == [
            "/human_handoff",
            '/faq{"section": "who_is_exempt"}',
            '/faq{"section": "family_visas"}',
        ]
        assert events == []
        # In a conversation about a procedure, the context places the same words first: a bare follow-up ("and for
        # category A?") can look like none of the sections to the ranker.
        in_a_procedure = {"context_procedure": "extension", "last_section": "extension"}
        t = tracker(text, ranking, in_a_procedure, intent=intent, entities=category, none=0.6)
        messages, _ = await run(action, t)
        assert all(m.get("custom", {}).get("reason") != "not_covered" for m in messages), action


def handoff_tracker(sender: str, slots: dict[str, Any] | None = None, intent: str = "human_handoff") -> Tracker:
    parse = {"text": "person please", "intent": {"name": intent, "confidence": 1.0}, "entities": []}
    return Tracker(sender, {"language": "en", **(slots or {})}, parse, [], False, None, {}, "action_listen")


# Office hours as configured by default (Beijing time), and two moments the action tests run at.
OFFICE_HOURS = "workdays 09:00-12:00,13:30-17:00"
TUESDAY_10_BEIJING = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
SUNDAY_10_BEIJING = datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc)


def action_database(tmp_path, monkeypatch, at: datetime = TUESDAY_10_BEIJING):  # type: ignore[no-untyped-def]
    """The action server's database and settings, pointed at a throwaway SQLite file, and its clock fixed."""
    from actions import common
    from bot.db import Database
    from bot.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'actions.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("OFFICE_HOURS", OFFICE_HOURS)
    monkeypatch.setattr(common, "CLOCK", FixedClock(at))
    common.settings.cache_clear()
    common.database.cache_clear()
    return Database(url)


async def test_out_of_scope_names_the_subject_or_the_closest_sections_else_says_what_the_bot_covers() -> None:
    """Rasa's out_of_scope intent (its classifier's, or the ranker's "none of the sections")."""
    messages, events = await run(
        ActionOutOfScope(), tracker("Can I bring my dog to Beijing?", [("family_visas", 0.18)], intent="out_of_scope")
    )
    assert "bringing or keeping pets" in messages[0]["text"] and events == []
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/human_handoff", '/faq{"section": "family_visas"}']
    assert messages[1]["custom"]["reason"] == "not_covered"
    # Near some sections, no named subject: "not in the guide" with them.
    near = tracker("how do we register our marriage here", [("arrival_duties", 0.3)], intent="out_of_scope", none=0.4)
    messages, _ = await run(ActionOutOfScope(), near)
    assert "could not find this in the work-permit guide" in messages[0]["text"]
    # Nothing near (the weather), or the "none of these" button: the stock response, which says what it covers.
    for far in (
        tracker("what will the weather be like on Sunday", [("arrival_duties", 0.03)], intent="out_of_scope"),
        tracker("/out_of_scope", [], intent="out_of_scope"),
    ):
        messages, _ = await run(ActionOutOfScope(), far)
        assert messages == [{**messages[0], "response": "utter_out_of_scope"}]


async def test_handoff_in_office_hours_opens_a_ticket_and_pauses(tmp_path, monkeypatch) -> None:
    from rasa_sdk.events import ConversationPaused

    from actions.handoff import ActionHandoff
    from bot.conversations import store
    from bot.handoff import tickets

    db = action_database(tmp_path, monkeypatch, TUESDAY_10_BEIJING)
    conversation = store.open_conversation(db, None)
    messages, events = await run(ActionHandoff(), handoff_tracker(conversation.id))
    handoff = messages[1]["custom"]
    assert handoff["type"] == "handoff" and handoff["office_open"] and handoff["queue_position"] == 1
    assert {"ticket", "queue_position", "estimated_wait_s", "office_open", "next_open"} <= set(handoff)
    assert ConversationPaused() in events
    assert store.get_conversation(db, conversation.id).state == "queued"
    (view,) = tickets.list_tickets(db, clock=FixedClock(TUESDAY_10_BEIJING))
    assert view.office_open and view.waiting_s == 0  # opened at the action server's (fixed) now


async def test_out_of_hours_the_bot_takes_a_message_and_a_valid_contact(tmp_path, monkeypatch) -> None:
    from rasa_sdk.events import FollowupAction

    from actions.handoff import ActionHandoff, ActionOfflineSubmit, ValidateOfflineContactForm
    from bot.conversations import store
    from bot.handoff import tickets

    db = action_database(tmp_path, monkeypatch, SUNDAY_10_BEIJING)
    conversation = store.open_conversation(db, None)
    messages, events = await run(ActionHandoff(), handoff_tracker(conversation.id))
    assert "not in right now" in messages[0]["text"] and FollowupAction("offline_contact_form") in events
    validator = ValidateOfflineContactForm()
    dispatcher = CollectingDispatcher()
    tracker_ = handoff_tracker(conversation.id)
    assert await validator.validate_contact("not a contact", dispatcher, tracker_, {}) == {"contact": None}
    assert "email address or a phone number" in dispatcher.messages[0]["text"]
    assert await validator.validate_contact("li@example.com", dispatcher, tracker_, {}) == {"contact": "li@example.com"}
    assert await validator.validate_contact("+86 138 0013 8000", dispatcher, tracker_, {}) == {
        "contact": "+86 138 0013 8000"
    }
    slots = {"offline_question": "Can my spouse work?", "contact": "li@example.com", "handoff_reason": "asked"}
    messages, _ = await run(ActionOfflineSubmit(), handoff_tracker(conversation.id, slots))
    assert messages[1]["custom"]["office_open"] is False
    assert messages[1]["custom"]["next_open"] == "2026-12-07T09:00:00+08:00"  # Monday morning, Beijing time
    (view,) = tickets.list_tickets(db)
    assert view.contact == "li@example.com" and "Can my spouse work?" in view.summary and not view.office_open


async def test_asking_for_the_number_offers_other_ways_to_check_in_the_users_language() -> None:
    from actions.cases import ActionAskApplicationNumber

    for lang, title in (("en", "No number? Other ways to check"), ("zh", "没有编号？其他查询方式")):
        messages, events = await run(ActionAskApplicationNumber(), tracker("status", [], {"language": lang}))
        assert messages[0]["buttons"] == [{"title": title, "payload": '/faq{"section": "check_status"}'}]
        assert messages[1]["custom"] == {
            "type": "form_question",
            "form": "case_status",
            "slot": "application_number",
            "lang": lang,
        }
        assert events == []


def case_tracker(sender: str, slots: dict[str, Any] | None = None) -> Tracker:
    parse = {"text": "", "intent": {"name": "inform", "confidence": 1.0}, "entities": []}
    return Tracker(sender, {"language": "en", **(slots or {})}, parse, [], False, None, {}, "action_listen")


async def test_the_case_form_keeps_only_the_gateways_reference_to_the_number(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A number spotted in a sentence is swapped for a reference; the passport request names the case masked
    and carries the reference, never the number (it may have been a passport typed in the wrong field)."""
    from actions.cases import ActionRequestVerification, ValidateCaseStatusForm, keyer
    from bot.cases.checks import entry
    from bot.conversations import store

    db = action_database(tmp_path, monkeypatch)
    keyer.cache_clear()
    conversation = store.open_conversation(db, None).id
    validator = ValidateCaseStatusForm()
    dispatcher = CollectingDispatcher()
    slots = await validator.validate_application_number("WP2026000104", dispatcher, case_tracker(conversation), {})
    ref = slots["application_number"]
    assert ref.startswith("ref-") and "2026" not in ref and dispatcher.messages == []
    assert entry(db, conversation, ref).number_key == keyer().key("WP2026000104")
    messages, events = await run(ActionRequestVerification(), case_tracker(conversation, {"application_number": ref}))
    request = messages[1]["custom"]
    assert request == {
        "type": "verify_request",
        "case": "••••••••••04",
        "ref": ref,
        "fields": ["passport"],
        "lang": "en",
    }
    assert events == [SlotSet("application_number", None)]

    bad = await validator.validate_application_number("no idea", dispatcher, case_tracker(conversation), {})
    assert bad["application_number"] is None
    assert "does not look like an application number" in dispatcher.messages[-1]["text"]
    assert "WP" not in dispatcher.messages[-1]["text"]  # no invented format is described
    other = store.open_conversation(db, None).id  # a reference of another conversation is worth nothing
    stolen = await validator.validate_application_number(ref, dispatcher, case_tracker(other), {})
    assert stolen["application_number"] is None


def test_the_action_server_reads_its_settings_once(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from actions import common

    action_database(tmp_path, monkeypatch)
    first = common.settings()
    monkeypatch.setenv("PUBLIC_URL", "https://elsewhere.example")
    assert common.settings() is first and first.public_url != "https://elsewhere.example"
    assert common.now() == TUESDAY_10_BEIJING and str(common.today()) == "2026-12-01"
