"""Answers from the service guide."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import language_of, send
from actions.context import ActionFollowUp, after_guide_answer, context_can_answer, follows_a_procedure
from bot.core.settings import load_settings
from bot.db.models import utcnow
from bot.guide import answers
from bot.guide.loader import default_guide
from bot.guide.offer import StaffAvailability, parse_situation
from bot.guide.situation import needs_person
from bot.handoff.office_hours import OfficeHours


def staff_availability() -> StaffAvailability:
    """Whether staff answer live now (OFFICE_HOURS), so a person offered out of hours says when they reply."""
    now = utcnow()
    hours = OfficeHours.parse(load_settings().office_hours)
    return StaffAvailability(open=hours.is_open(now), next_open=hours.next_open(now))


class ActionAnswerGuide(Action):
    """Answer the section the user asked about, ask which one when two are close, or say it is not covered."""

    def name(self) -> str:
        return "action_answer_guide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return await answer_guide_question(dispatcher, tracker, domain)


async def answer_guide_question(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
) -> list[EventType]:
    """The guide's answer policy (bot.guide.answers.respond) on the latest message: answer, ask, or not covered;
    the conversation's dates and context (actions/context.py) go around it."""
    guide = default_guide()
    lang = language_of(tracker)
    chosen = next(tracker.get_latest_entity_values("section"), None)
    latest = tracker.latest_message or {}
    # A situation button ("I am in China") names its case; the message's own words say the rest.
    stated = parse_situation(next(tracker.get_latest_entity_values("situation"), None))
    decision, reply = answers.respond(guide, latest, lang, chosen, staff_availability(), stated)
    # In a conversation about a procedure, a follow-up the context can place wins over an answer the ranking is not
    # sure of (a first message has no context to follow: the ranking's answer stands).
    defer = (
        chosen is None and follows_a_procedure(tracker) and not answers.is_sure(latest) and context_can_answer(tracker)
    )
    if decision.kind == "answer" and not defer:
        section = guide.sections[decision.sections[0]]
        # Hook: deadlines from the question's dates, and the conversation's context now follows this section.
        reply, context_events = after_guide_answer(tracker, section, reply, lang)
        send(dispatcher, reply)
        return [SlotSet("fallback_count", 0), SlotSet("last_section", section.id), *context_events]
    # Hook: a date or follow-up the context can place (before "not in the guide": a bare "and for category A?" may
    # look like none of the sections to the ranker).
    if defer or context_can_answer(tracker):
        return await ActionFollowUp().run(dispatcher, tracker, domain)
    send(dispatcher, reply)
    return []


class ActionOutOfScope(Action):
    """Outside the guide: say so, naming the subject or offering the sections near it when there are some."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        reply = answers.decline(default_guide(), tracker.latest_message or {}, language_of(tracker))
        if reply is None:
            dispatcher.utter_message(response="utter_out_of_scope")
        else:
            send(dispatcher, reply)
        return []


class ActionFallback(Action):
    """The bot did not understand: first offer the closest guide sections, the second time in a row offer a person."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if context_can_answer(tracker):  # hook (actions/context.py): the conversation's context can place it
            return await ActionFollowUp().run(dispatcher, tracker, domain)
        guide = default_guide()
        lang = language_of(tracker)
        failures = int(tracker.get_slot("fallback_count") or 0) + 1
        latest = tracker.latest_message or {}
        ranking = [(sid, conf) for sid, conf in answers.ranking_from_parse(latest) if sid in guide.sections]
        outside = answers.outside_guide(ranking, answers.none_score(latest))
        if outside or (ranking and ranking[0][1] >= answers.FALLBACK_ANSWER_CONFIDENCE):
            # The intent classifier was unsure, but the guide ranking is sure enough, of a section or of none of
            # them: the guide's own policy answers (a question outside the guide is understood, not a failure).
            return await answer_guide_question(dispatcher, tracker, domain)
        options = answers.clarify_options(ranking) if ranking and ranking[0][1] >= answers.CLARIFY_CONFIDENCE else ()
        if failures >= 2:
            # The second misunderstanding in a row: a person takes over (or, out of hours, takes a message).
            return [
                SlotSet("fallback_count", 0),
                SlotSet("handoff_reason", "fallback"),
                FollowupAction("action_handoff"),
            ]
        elif options:
            person = needs_person(str(latest.get("text") or ""), guide.situations)
            send(dispatcher, answers.clarify(guide, options, lang, offer_person=person))
        else:
            send(dispatcher, answers.rephrase(lang))
        return [SlotSet("fallback_count", failures)]


class ActionInformOutsideForm(Action):
    """A bare answer ("WP2026000123", "B类") when no question is pending: an application number starts the case
    lookup; anything else is treated as not understood."""

    def name(self) -> str:
        return "action_inform_outside_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if next(tracker.get_latest_entity_values("application_number"), None):
            return [FollowupAction("case_status_form")]
        return await ActionFallback().run(dispatcher, tracker, domain)
