"""What every action uses: the conversation language, sending a `Reply` from `bot/`, and the action server's
process-wide resources (settings and database, made once) and its clock (real time; tests set a fixed one)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.core.clock import Clock, beijing_today, system_clock
from bot.core.settings import Settings, load_settings
from bot.db import Database
from bot.guide.answers import Reply
from bot.nlu.language import reply_language


def language_of(tracker: Tracker) -> str:
    """The reply language: the slot already follows each message's choice or language (bot/nlu/components.py
    sets it), so here it is the conversation's language, by the one rule of reply_language."""
    return reply_language(conversation=tracker.get_slot("language"))


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """Text (with buttons) for every channel, then the machine-readable payload for the widget and tests."""
    text, data = reply.messages()
    dispatcher.utter_message(text=text["text"], buttons=text["buttons"])
    dispatcher.utter_message(json_message=data["custom"])


# The action server's clock: actions are made by rasa_sdk without arguments, so it is set here (tests: FixedClock).
CLOCK: Clock = system_clock


def now() -> datetime:
    return CLOCK()


def today() -> date:
    """The applicant's today (a Beijing date) by the action server's clock."""
    return beijing_today(CLOCK)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Read the environment once per action-server process (reading it may create the secret-key file)."""
    return load_settings()


@lru_cache(maxsize=1)
def database() -> Database:
    """One engine per action-server process, from settings."""
    return Database(settings().database_url)
