"""Helpers every action uses: the conversation language and sending a `Reply` from `bot/`."""

from __future__ import annotations

from functools import lru_cache

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.db import Database
from bot.guide.answers import Reply
from bot.nlu.language import reply_language


def language_of(tracker: Tracker) -> str:
    """The reply language: the slot already follows each message's choice or language (bot/nlu/components.py
    sets it), so here it is the conversation's language, by the one rule of reply_language."""
    return reply_language(conversation=tracker.get_slot("language"))


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """Text (with buttons) for every channel, then the machine-readable payload for the widget and tests."""
    dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None)
    dispatcher.utter_message(json_message=reply.custom)


@lru_cache(maxsize=1)
def database() -> Database:
    """One engine per action-server process, from settings."""
    from bot.core.settings import load_settings

    return Database(load_settings().database_url)
