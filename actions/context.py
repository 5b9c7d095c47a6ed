"""Follow-ups in context and deadlines from dates: thin actions over bot/context and bot/deadlines.

`after_guide_answer` is the hook action_answer_guide calls after choosing a section: it adds the deadlines of the
message's dates and returns the context slots. `action_follow_up` answers a short follow-up for the procedure and
situation the conversation is about; `action_reset_context` forgets those assumptions when the user says they are
wrong."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import language_of, send, settings, today
from bot.context import answer, state
from bot.deadlines.rules import default_rules
from bot.guide.answers import Reply
from bot.guide.loader import default_guide
from bot.guide.models import GuideSection


def _slot_events(context: state.Context) -> list[EventType]:
    return [SlotSet(name, value) for name, value in state.to_slots(context).items()]


def _heard(tracker: Tracker, hint: str | None) -> state.Heard:
    latest = tracker.latest_message or {}
    return state.hear(latest.get("text") or "", latest.get("entities") or [], today(), hint)


def after_guide_answer(
    tracker: Tracker, section: GuideSection, reply: Reply, lang: str
) -> tuple[Reply, list[EventType]]:
    """Deadlines of the question's dates first, then the answer; the context now follows this section."""
    before = state.from_slots(tracker.get_slot)
    heard = _heard(tracker, section.procedure or before.procedure)
    context = state.after_answer(before, heard, section.procedure)
    carried = context.procedure != before.procedure
    reply = answer.with_deadlines(reply, heard, context, today(), lang, settings().public_url, carried)
    if "deadlines" in reply.custom:
        reply = answer.with_assumptions(reply, default_guide(), context, lang)
    return reply, _slot_events(context)


def follows_a_procedure(tracker: Tracker) -> bool:
    """The conversation already has a procedure in context, so a vague message may be a follow-up to it."""
    return state.from_slots(tracker.get_slot).procedure is not None


def context_can_answer(tracker: Tracker) -> bool:
    """A message the NLU did not place that the context can: a bare "B类" or "15 March 2027" after an answer about
    a procedure, or a date whose words say what it is."""
    before = state.from_slots(tracker.get_slot)
    heard = _heard(tracker, before.procedure)
    named = heard.category or heard.procedure or heard.situations or heard.aspect or heard.location
    events = default_rules().events
    dated = any(m.event and events[m.event].procedures for m in heard.dates)  # a date that names a procedure
    placed = dated or bool(before.procedure and named)
    # Only when the follow-up has something to answer with (so action_follow_up never hands it back).
    goal = answer.target(default_guide(), state.follow(before, heard), heard, before.procedure is not None)
    return placed and goal is not None


class ActionFollowUp(Action):
    """ "which papers for that one?", "what about category A?", "我太太呢？": answered for the conversation's case."""

    def name(self) -> str:
        return "action_follow_up"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        guide = default_guide()
        lang = language_of(tracker)
        before = state.from_slots(tracker.get_slot)
        heard = _heard(tracker, before.procedure)
        context = state.follow(before, heard)
        goal = answer.target(guide, context, heard, before.procedure is not None)
        if goal is None:
            # Nothing to follow up on: an ordinary guide question after all.
            from actions.guide import ActionAnswerGuide

            return await ActionAnswerGuide().run(dispatcher, tracker, domain)
        # The aspect carries over only while the answers are lists of materials ("what about category A?" then
        # gets category A's list); a section answer ends it.
        context = state.replace(context, aspect="materials" if goal.checklist else None)
        reply = answer.render(guide, context, goal, lang, settings().public_url)
        carried = context.procedure != before.procedure
        reply = answer.with_deadlines(reply, heard, context, today(), lang, settings().public_url, carried)
        send(dispatcher, answer.with_assumptions(reply, guide, context, lang))
        last = [SlotSet("last_section", goal.section)] if goal.section else []
        return [SlotSet("fallback_count", 0), *last, *_slot_events(context)]


class ActionResetContext(Action):
    """The user says the assumptions are wrong: forget them and ask which procedure is meant."""

    def name(self) -> str:
        return "action_reset_context"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        before = state.from_slots(tracker.get_slot)
        send(dispatcher, answer.reset(default_guide(), before, lang))
        return _slot_events(state.Context())
