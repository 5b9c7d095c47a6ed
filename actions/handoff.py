"""Handing the conversation to staff, leaving a message when they are out, and the rating afterwards."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.common import database, language_of, now, settings
from bot.guide.loader import default_guide
from bot.handoff import texts, tickets, webhook
from bot.handoff.office_hours import OfficeHours

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{6,18}[0-9]$")
REASONS = {"human_handoff": "asked", "unhelpful": "unhelpful"}


def _reason(tracker: Tracker) -> str:
    preset = tracker.get_slot("handoff_reason")
    if preset:
        return str(preset)
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    section = default_guide().section(tracker.get_slot("last_section") or "")
    if intent == "human_handoff" and section is not None and section.handoff:
        return "needs_staff"
    return REASONS.get(intent or "", "asked")


def _topic(tracker: Tracker) -> str | None:
    section = default_guide().section(tracker.get_slot("last_section") or "")
    return section.id if section else None


def _open(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, office_open: bool
) -> tickets.TicketView | None:
    lang = language_of(tracker)
    db = database()
    try:
        ticket, created = tickets.open_ticket(
            db, tracker.sender_id, reason, lang, _topic(tracker), office_open, clock=common.CLOCK
        )
    except tickets.TicketError:
        # Only conversations that came through the gateway (website widget) can be handed over.
        dispatcher.utter_message(text=texts.no_channel(lang))
        return None
    if created and settings().staff_webhook_url:
        webhook.enqueue(db, ticket, settings().public_url)
    return ticket


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        moment = now()
        hours = OfficeHours.parse(settings().office_hours)
        if not hours.is_open(moment):
            next_open = hours.next_open(moment)
            dispatcher.utter_message(text=texts.closed(lang, next_open))
            return [SlotSet("handoff_reason", _reason(tracker)), FollowupAction("offline_contact_form")]
        ticket = _open(dispatcher, tracker, _reason(tracker), office_open=True)
        if ticket is None:
            return [SlotSet("handoff_reason", None)]
        queue = tickets.queue_info(database(), ticket.id)
        position = queue.position if queue else 1
        wait = queue.estimated_wait_s if queue else tickets.DEFAULT_HANDLING_S
        dispatcher.utter_message(text=texts.queued(lang, position, wait))
        dispatcher.utter_message(json_message=texts.handoff_payload(ticket.id, position, wait, True, None, lang))
        return [SlotSet("handoff_reason", None), SlotSet("fallback_count", 0), ConversationPaused()]


class ValidateOfflineContactForm(FormValidationAction):
    def name(self) -> str:
        return "validate_offline_contact_form"

    async def validate_offline_question(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if not 2 <= len(text) <= 2000:
            dispatcher.utter_message(text=texts.question_needed(language_of(tracker)))
            return {"offline_question": None}
        return {"offline_question": text}

    async def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if EMAIL.match(text) or PHONE.match(text):
            return {"contact": text}
        dispatcher.utter_message(text=texts.bad_contact(language_of(tracker)))
        return {"contact": None}


class ActionOfflineSubmit(Action):
    """Out of hours: the ticket waits for staff with the question and how to reach the applicant."""

    def name(self) -> str:
        return "action_offline_submit"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        reset = [SlotSet("offline_question", None), SlotSet("contact", None), SlotSet("handoff_reason", None)]
        moment = now()
        ticket = _open(dispatcher, tracker, _reason(tracker), office_open=False)
        if ticket is None:
            return reset
        tickets.set_contact(
            database(), ticket.id, tracker.get_slot("contact") or "", tracker.get_slot("offline_question")
        )
        next_open: datetime = OfficeHours.parse(settings().office_hours).next_open(moment)
        dispatcher.utter_message(text=texts.message_left(lang, next_open))
        dispatcher.utter_message(json_message=texts.handoff_payload(ticket.id, None, None, False, next_open, lang))
        return [*reset, ConversationPaused()]


class ActionAskSatisfaction(Action):
    def name(self) -> str:
        return "action_ask_satisfaction"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        dispatcher.utter_message(text=texts.ask_rating(lang), buttons=texts.rating_buttons(lang))
        return []


class ActionRecordSatisfaction(Action):
    def name(self) -> str:
        return "action_record_satisfaction"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        raw = next(tracker.get_latest_entity_values("rating"), None)
        try:
            rating = int(raw) if raw is not None else 0
        except (TypeError, ValueError):
            rating = 0
        stored = tickets.record_satisfaction(database(), tracker.sender_id, rating)
        dispatcher.utter_message(text=texts.thanks_for_rating(lang) if stored else texts.rating_not_needed(lang))
        return []
