"""Material checklists: ask only what the chosen procedure depends on, then send the list and its print link."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import language_of, settings
from bot import checklists
from bot.guide import answers
from bot.guide.loader import default_guide
from bot.texts import t

SLOTS = {"category": "checklist_category", "location": "checklist_location", "situations": "checklist_situations_done"}
DONE = "none"


def _button(title: str, entity: str, value: str) -> dict[str, str]:
    return {"title": title, "payload": "/inform" + json.dumps({entity: value})}


def _procedure_title(procedure: str, lang: str) -> str:
    if procedure == checklists.FIRST_APPLICATION:
        return t("checklists.first_application", lang)
    term = default_guide().terms.get(procedure)
    if term is None:
        return checklists.all_checklists()[procedure].title.get(lang)
    name = term.name(lang)
    return name[:1].upper() + name[1:]


class ActionAskChecklistProcedure(Action):
    def name(self) -> str:
        return "action_ask_checklist_procedure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        text = t("checklists.ask_procedure", lang)
        buttons = [_button(_procedure_title(p, lang), "procedure", p) for p in checklists.procedure_choices()]
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class _AskQuestion:
    """Mixin (not an Action itself, so rasa_sdk does not register it): asks one checklist question with buttons."""

    question = ""
    entity = ""

    def name(self) -> str:
        return f"action_ask_{SLOTS[self.question]}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        options = checklists.question_options()[self.question]
        chosen = set(tracker.get_slot("checklist_situations") or []) if self.question == "situations" else set()
        buttons = [_button(label.get(lang), self.entity, key) for key, label in options.items() if key not in chosen]
        if self.question == "situations":
            buttons.append(_button(t("checklists.none_done", lang), "situation", DONE))
        dispatcher.utter_message(text=checklists.question_prompts()[self.question].get(lang), buttons=buttons)
        return []


class ActionAskChecklistCategory(_AskQuestion, Action):
    question, entity = "category", "permit_category"


class ActionAskChecklistLocation(_AskQuestion, Action):
    question, entity = "location", "location"


class ActionAskChecklistSituations(_AskQuestion, Action):
    question, entity = "situations", "situation"


class ValidateChecklistForm(FormValidationAction):
    def name(self) -> str:
        return "validate_checklist_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        procedure = tracker.get_slot("checklist_procedure")
        questions = checklists.questions_for(procedure, tracker.get_slot("checklist_location"))
        return ["checklist_procedure", *(SLOTS[q] for q in questions)]

    async def validate_checklist_procedure(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value in checklists.procedure_choices():
            return {"checklist_procedure": value}
        lang = language_of(tracker)
        dispatcher.utter_message(text=t("checklists.pick_procedure", lang))
        return {"checklist_procedure": None}

    async def validate_checklist_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"checklist_category": value if value in checklists.question_options()["category"] else None}

    async def validate_checklist_location(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"checklist_location": value if value in checklists.question_options()["location"] else None}

    async def validate_checklist_situations_done(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        chosen = list(tracker.get_slot("checklist_situations") or [])
        options = checklists.question_options()["situations"]
        if value == DONE:
            return {"checklist_situations_done": DONE}
        if value in options and value not in chosen:
            chosen.append(value)
        finished = len(chosen) == len(options)
        return {"checklist_situations": chosen, "checklist_situations_done": DONE if finished else None}


class ActionSendChecklist(Action):
    def name(self) -> str:
        return "action_send_checklist"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        location = tracker.get_slot("checklist_location")
        procedure = checklists.resolve_procedure(tracker.get_slot("checklist_procedure"), location)
        reset = [
            SlotSet(slot, None)
            for slot in (
                "checklist_procedure",
                "checklist_category",
                "checklist_location",
                "checklist_situations",
                "checklist_situations_done",
            )
        ]
        if procedure is None:
            return reset
        given = checklists.Answers(
            category=tracker.get_slot("checklist_category"),
            location=location,
            situations=tuple(tracker.get_slot("checklist_situations") or ()),
        )
        payload = checklists.build(procedure, given, lang, settings().public_url)
        dispatcher.utter_message(text=checklists.as_text(payload))
        dispatcher.utter_message(json_message=payload)
        section = default_guide().section(payload.get("section") or "")
        if section is not None:
            more = t("checklists.details_in_guide", lang, title=section.title.get(lang))
            dispatcher.utter_message(
                text=more,
                buttons=[answers.section_button(section, lang)],
            )
        return reset
