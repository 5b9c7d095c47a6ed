"""Typed application state of the gateway."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.conversations.hub import Hub
from bot.conversations.router import ChatService
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.db import Database
from bot.rasa.client import RasaClient

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
HTTP = web.AppKey("http", aiohttp.ClientSession)
RASA = web.AppKey("rasa", RasaClient)
HUB = web.AppKey("hub", Hub)
CHAT = web.AppKey("chat", ChatService)
METRICS = web.AppKey("metrics", Metrics)
