"""Follow-ups in context: conversations run through the real actions, turn by turn, with the slots each turn sets
carried to the next (as Rasa's tracker does), entities from the project's own recogniser, and a fixed clock.
The NLU side (which messages are follow-ups) is tested by the Rasa stories in tests/test_conversations.yml."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.context import ActionFollowUp, ActionResetContext
from actions.guide import ActionAnswerGuide
from bot.context import state
from bot.core.clock import FixedClock
from bot.deadlines.service import Mention
from bot.nlu.entities import EntityRecognizer

ACTIONS = {"faq": ActionAnswerGuide, "follow_up": ActionFollowUp, "reset_context": ActionResetContext}


class Conversation:
    def __init__(self, lang: str = "en") -> None:
        self.slots: dict[str, Any] = {"language": lang, "fallback_count": 0}
        self.recogniser = EntityRecognizer.from_file("data/generated/entity_patterns.jsonl")

    async def say(self, text: str, intent: str, ranking: tuple[tuple[str, float], ...] = ()) -> dict[str, Any]:
        """One turn; returns the bot's text, buttons and payload."""
        entities = [{"entity": e.label, "value": e.value} for e in self.recogniser.extract(text)]
        parse = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "entities": entities,
            "response_selector": {
                "all_retrieval_intents": ["faq"],
                "faq": {"ranking": [{"intent_response_key": f"faq/{s}", "confidence": c} for s, c in ranking]},
            },
        }
        tracker = Tracker("c1", dict(self.slots), parse, [], False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        for event in await ACTIONS[intent]().run(dispatcher, tracker, {}):
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        texts = [m for m in dispatcher.messages if m.get("text")]
        custom = next(m["custom"] for m in dispatcher.messages if m.get("custom"))
        return {"text": texts[0]["text"], "buttons": [b["title"] for b in texts[0].get("buttons") or []], **custom}

    @property
    def context(self) -> state.Context:
        return state.from_slots(self.slots.get)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 Sep 2026, noon in Beijing: before the Mid-Autumn and National Day holidays.
    monkeypatch.setattr(common, "CLOCK", FixedClock(datetime(2026, 9, 20, 4, tzinfo=timezone.utc)))


async def test_english_conversation_of_ten_turns_that_changes_topic_twice() -> None:
    chat = Conversation("en")
    first = await chat.say(
        "our engineer's permit runs out on 15 March 2027 — what is the last day to file?", "faq", (("extension", 0.8),)
    )
    assert first["section"] == "extension"
    assert first["text"].startswith("Your dates, counted (today is Sun 20 Sep 2026):")
    assert [(d["rule"], d["date"]) for d in first["deadlines"]] == [
        ("extension_earliest", "2026-12-15"),
        ("extension_latest", "2027-02-13"),
    ]
    query = "lang=en&d=extension_earliest%3A2026-12-15&d=extension_latest%3A2027-02-13"
    assert first["ics_url"].endswith("/deadlines.ics?" + query)
    assert "For: extension" in first["text"] and "Change" in first["buttons"]

    papers = await chat.say("which papers for that one?", "follow_up")
    assert (papers["type"], papers["procedure"], papers["category"]) == ("checklist", "extension", None)
    category_a = await chat.say("what about category A?", "follow_up")
    assert (category_a["type"], category_a["procedure"], category_a["category"]) == ("checklist", "extension", "A")
    assert "For: extension · category A" in category_a["text"]
    # category A has no age limit: the item about grounds for relaxing it is gone from A's list
    assert len(category_a["items"]) < len(papers["items"])

    expired = await chat.say("and if it already expired?", "follow_up")
    assert expired["section"] == "extension_mistakes" and "Talk to a person" in expired["buttons"]
    assert "already expired" in expired["text"]

    # first change of topic: a cancellation with a date just before National Day
    cancel = await chat.say("he resigned on 28 September, when must we cancel?", "faq", (("cancellation", 0.7),))
    assert cancel["section"] == "cancellation"
    (deadline,) = cancel["deadlines"]
    assert (deadline["rule"], deadline["date"]) == ("cancellation_after_end", "2026-10-16")
    assert deadline["unit"] == "working_days"
    assert chat.context.procedure == "cancellation" and chat.context.situations == ()  # "expired" no longer applies
    assert chat.context.category == "A"  # a fact about the person stays

    employer = await chat.say("and if he changes employer?", "follow_up")
    assert employer["section"] == "change_employer"
    # the date heard before, relevant again for the new procedure
    assert [d["rule"] for d in employer["deadlines"]] == ["cancellation_after_end"]
    wife = await chat.say("what about my wife?", "follow_up")
    assert wife["section"] == "family_visas" and "family members" in wife["text"]

    # second change of topic: fees have no procedure, the case stays; the date's deadlines are not repeated
    fees = await chat.say("how much does the residence permit cost?", "faq", (("fees", 0.8),))
    assert fees["section"] == "fees" and "deadlines" not in fees
    assert chat.context.procedure == "change_employer" and chat.context.situations == ()

    reset = await chat.say("/reset_context", "reset_context")
    assert reset["reason"] == "context_reset" and "change of employer" in reset["text"]
    assert chat.context == state.Context()
    again = await chat.say('/follow_up{"procedure": "extension"}', "follow_up")
    assert again["section"] == "extension"


async def test_chinese_follow_ups_keep_the_procedure_and_situation() -> None:
    chat = Conversation("zh")
    first = await chat.say("工作许可2026年11月3日到期，最晚什么时候申请延期？", "faq", (("extension", 0.8),))
    latest = next(d for d in first["deadlines"] if d["rule"] == "extension_latest")
    # 30 days before 3 Nov 2026 is Sun 4 Oct, inside the National Day holiday: file by Wed 30 Sep
    assert (latest["date"], latest["working_day_before"]) == ("2026-10-04", "2026-09-30")
    assert "2026年9月30日（周三）" in first["text"]

    cancellation = await chat.say("如果是注销呢？", "follow_up")
    assert cancellation["section"] == "cancellation" and "针对：注销" in cancellation["text"]
    employer = await chat.say("换单位的话呢？", "follow_up")
    assert employer["section"] == "change_employer"
    wife = await chat.say("我太太呢？", "follow_up")
    assert wife["section"] == "family_visas" and "家属" in wife["text"]
    papers = await chat.say("那个要什么材料？", "follow_up")
    assert (papers["type"], papers["procedure"]) == ("checklist", "change_employer")


async def test_a_follow_up_with_nothing_to_follow_is_an_ordinary_guide_question() -> None:
    chat = Conversation("en")
    reply = await chat.say("and that one?", "follow_up", (("fees", 0.8),))
    assert reply["section"] == "fees"


async def test_a_bare_date_in_a_follow_up_is_read_for_the_conversations_procedure() -> None:
    chat = Conversation("en")
    await chat.say("how do we cancel a work permit?", "faq", (("cancellation", 0.8),))
    # Wed 30 Sep, then the National Day holiday; Sat 10 Oct is an adjusted working day: the 10th is Tue 20 Oct
    reply = await chat.say("the last working day was 30 September", "follow_up")
    assert [(d["rule"], d["event"], d["date"]) for d in reply["deadlines"]] == [
        ("cancellation_after_end", "resignation", "2026-10-20")
    ]
    bare = await chat.say("and if it is 20 January 2027?", "follow_up")
    assert [(d["event"], d["date"], d["estimate"]) for d in bare["deadlines"]] == [("contract_end", "2027-02-03", True)]
    assert "Estimate" in bare["text"]


def test_context_rules_new_topic_resets_situation_and_aspect() -> None:
    expiry = Mention("permit_expiry", date(2027, 3, 15))
    context = state.Context("extension", "B", "inside", ("expired",), (expiry,), "materials")
    heard = state.Heard(procedure="cancellation")
    after = state.after_answer(context, heard, "cancellation")
    assert after == state.Context("cancellation", "B", "inside", (), (expiry,), None)
    followed = state.follow(context, state.Heard(situations=("employer_change",)))
    assert followed.procedure == "change_employer" and followed.situations == ()
    assert state.from_slots(state.to_slots(context).get) == context


def test_content_files_name_real_sections_and_procedures() -> None:
    from bot.deadlines.rules import default_rules
    from bot.guide.loader import default_guide

    guide = default_guide()
    procedures = {s.procedure for s in guide.sections.values() if s.procedure}
    for situation in state.followup_content().situations.values():
        assert situation.get("section") is None or situation["section"] in guide.sections
        assert all(s in guide.sections for s in (situation.get("sections") or {}).values())
        assert situation.get("procedure") is None or situation["procedure"] in procedures
    rules = default_rules()
    for item in [*rules.rules.values(), *rules.events.values()]:
        assert set(item.procedures) <= procedures, item.id


async def test_what_the_nlu_did_not_place_the_context_can() -> None:
    from actions.guide import ActionFallback

    chat = Conversation("zh")
    ACTIONS["nlu_fallback"] = ActionFallback
    try:
        await chat.say("工作许可怎么延期", "faq", (("extension", 0.8),))
        bare = await chat.say("2027年1月20日", "nlu_fallback")
        assert [d["rule"] for d in bare["deadlines"]] == ["extension_earliest", "extension_latest"]
        # without a context, a bare category is still not understood
        fresh = Conversation("zh")
        assert (await fresh.say("B类", "nlu_fallback"))["type"] == "clarify"
    finally:
        del ACTIONS["nlu_fallback"]


def test_a_past_expiry_in_words_is_heard_as_past() -> None:
    heard = state.hear("工作许可9月30日已经过期了", [], date(2026, 12, 1), "extension")
    assert heard.situations == ("expired",)
    assert heard.dates == (Mention("permit_expiry", date(2026, 9, 30), "9月30日"),)
    assert state.hear("工作许可下个月到期了", [], date(2026, 12, 1)).situations == ()


async def test_a_dated_question_the_ranker_cannot_place_is_answered_from_its_event() -> None:
    chat = Conversation("en")
    reply = await chat.say("he entered China on 15 September, what comes next?", "faq", (("fees", 0.05),))
    assert reply["section"] == "work_permit_after_entry"
    assert [d["rule"] for d in reply["deadlines"]] == ["card_after_entry", "residence_permit_after_entry"]
    papers = await chat.say("which papers for that one?", "faq", (("materials_general_rules", 0.2), ("fees", 0.15)))
    assert (papers["type"], papers["procedure"]) == ("checklist", "work_permit_after_entry")
    # nothing to place: the ranker's "not covered" stands
    plain = await Conversation("en").say("best hotpot in Yizhuang?", "faq", (("fees", 0.05),))
    assert plain["reason"] == "not_covered"


async def test_a_first_dated_question_gets_a_section_and_a_passport_expiry_is_no_permit_expiry() -> None:
    chat = Conversation("en")
    text = "One of our foreign employees resigns next Friday. What do we need to do with his work permit?"
    reply = await chat.say(text, "faq", (("cancellation", 0.3), ("cancellation_mistakes", 0.25)))
    assert reply["section"] == "cancellation" and reply["deadlines"][0]["rule"] == "cancellation_after_end"
    passport = await Conversation("en").say(
        "My passport expires in 8 months. Should I renew it first?",
        "faq",
        (("passport_consistency", 0.3), ("extension", 0.25)),
    )
    assert passport["type"] == "clarify"


def test_a_date_of_another_procedures_event_changes_the_topic() -> None:
    context = state.Context("extension", situations=("expired",))
    entry = state.Heard(dates=(Mention("entry", date(2026, 11, 20)),))
    assert state.follow(context, entry).procedure == "work_permit_after_entry"
    assert state.follow(context, entry).situations == ()
    expiry = state.Heard(dates=(Mention("permit_expiry", date(2027, 3, 15)),))
    assert state.follow(context, expiry).procedure == "extension"
