"""Case status: the application-number form, the request for the passport check, and the status itself.

The passport number never reaches these actions: the gateway checks it and tells the assistant only the outcome
(`/case_verified{"verification": token}` or `/case_verification_failed{"reason": …}`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.common import database, language_of, settings
from bot.cases import checks, texts
from bot.cases.identifiers import NumberKeyer, candidate_number
from bot.cases.lookup import active_verification, lock_state, status_for_token
from bot.core import payload
from bot.guide import answers
from bot.guide.loader import default_guide

MAX_FORMAT_FAILURES = 3


class ActionAskApplicationNumber(Action):
    def name(self) -> str:
        return "action_ask_application_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        other_ways = default_guide().section("check_status")
        buttons = [answers.section_button(other_ways, lang, texts.other_ways_title(lang))] if other_ways else []
        dispatcher.utter_message(text=texts.ask_number(lang), buttons=buttons)
        dispatcher.utter_message(json_message=payload.form_question("case_status", "application_number", lang))
        return []


@lru_cache(maxsize=1)
def keyer() -> NumberKeyer:
    """Keys numbers as the gateway does (the same SECRET_KEY), so both sides match the same form row."""
    return NumberKeyer(settings().secret_key)


class ValidateCaseStatusForm(FormValidationAction):
    """The slot only ever holds the gateway's reference to the number (`ref-…`): a number typed at the prompt
    reaches Rasa as that reference, and one found in a sentence is swapped for one here."""

    def name(self) -> str:
        return "validate_case_status_form"

    async def validate_application_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        lang = language_of(tracker)
        db = database()
        ref = value if checks.is_ref(value) else None
        if ref is None and isinstance(value, str) and (number := candidate_number(value)):
            ref = checks.enter_number(db, keyer(), tracker.sender_id, number)
        entry = checks.entry(db, tracker.sender_id, ref) if ref else None
        if entry is None or not entry.valid:
            failures = int(tracker.get_slot("number_failures") or 0) + 1
            if failures >= MAX_FORMAT_FAILURES:
                dispatcher.utter_message(text=texts.give_up_number(lang), buttons=[texts.handoff_button(lang)])
                return {"application_number": None, "number_failures": 0, "requested_slot": None}
            dispatcher.utter_message(text=texts.bad_number(lang))
            return {"application_number": None, "number_failures": failures}
        return {"application_number": entry.ref, "number_failures": 0}


class ActionRequestVerification(Action):
    """Ask for the second factor through the secure form the gateway handles (or a typed reply it masks)."""

    def name(self) -> str:
        return "action_request_verification"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        ref = tracker.get_slot("application_number")
        db = database()
        entry = checks.entry(db, tracker.sender_id, ref) if checks.is_ref(ref) else None
        if entry is None or not entry.valid:
            return [SlotSet("application_number", None)]
        token = active_verification(db, entry, clock=common.CLOCK)
        if token:
            return await ActionCaseStatus().show(dispatcher, tracker, token)
        locked = lock_state(db, entry, clock=common.CLOCK)
        if locked is not None:
            dispatcher.utter_message(text=texts.locked(lang, locked), buttons=[texts.handoff_button(lang)])
            dispatcher.utter_message(json_message=payload.verify_locked(locked.isoformat(), lang))
            return [SlotSet("application_number", None)]
        dispatcher.utter_message(text=texts.ask_passport(lang))
        dispatcher.utter_message(json_message=texts.verify_request(entry, lang))
        # the gateway holds the check from here; a new request for the status starts the form afresh
        return [SlotSet("application_number", None)]


class ActionCaseStatus(Action):
    def name(self) -> str:
        return "action_case_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        token = next(tracker.get_latest_entity_values("verification"), None)
        return await self.show(dispatcher, tracker, token)

    async def show(self, dispatcher: CollectingDispatcher, tracker: Tracker, token: str | None) -> list[EventType]:
        lang = language_of(tracker)
        status = status_for_token(database(), token or "", tracker.sender_id, clock=common.CLOCK)
        if status is None:
            dispatcher.utter_message(text=texts.expired(lang))
            return [SlotSet("application_number", None)]
        dispatcher.utter_message(text=texts.status_text(status, lang))
        dispatcher.utter_message(json_message=status.payload(lang))
        return [SlotSet("application_number", None), ActiveLoop(None)]


class ActionVerificationFailed(Action):
    """Wrong passport and unknown number get the same words; a lock offers a person."""

    def name(self) -> str:
        return "action_verification_failed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        reason = next(tracker.get_latest_entity_values("reason"), "denied")
        if reason == "locked":
            dispatcher.utter_message(text=texts.locked(lang, None), buttons=[texts.handoff_button(lang)])
            return [SlotSet("application_number", None)]
        if reason == "wait":
            dispatcher.utter_message(
                text=texts.slow_down(lang), buttons=[texts.retry_button(lang), texts.handoff_button(lang)]
            )
            return [SlotSet("application_number", None)]
        dispatcher.utter_message(
            text=texts.denied(lang), buttons=[texts.retry_button(lang), texts.handoff_button(lang)]
        )
        return [SlotSet("application_number", None)]
