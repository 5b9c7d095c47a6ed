"""Application factory of the gateway: `create_app(settings)`; resources open and close in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from bot.conversations import retention
from bot.core.settings import Settings
from bot.db import Database
from bot.gateway import (
    calendar_ics,
    cases_api,
    checklist_page,
    health,
    insights,
    middleware,
    pages,
    protocol,
    socketio_compat,
    staff,
    transcript_api,
    ws,
)
from bot.gateway.chat import ChatService
from bot.gateway.hub import start_hub
from bot.gateway.keys import CHAT, DB, HTTP, HUB, METRICS, RASA, SETTINGS
from bot.gateway.metrics import Metrics
from bot.gateway.rasa_client import RasaClient
from bot.guide import reload
from bot.handoff import webhook
from bot.rasa.endpoints import channel_headers, rasa_token

log = logging.getLogger(__name__)
RETRY_INTERVAL_S = 5.0
WEBHOOK_INTERVAL_S = 1.0
RETENTION_INTERVAL_S = 3600.0


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    reload.start_from_environment()  # guide sections offered to staff follow editors' changes too
    app[DB] = Database(settings.database_url)
    app[HTTP] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    app[RASA] = RasaClient(
        app[HTTP], settings.rasa_urls, channel_headers=channel_headers(settings), token=rasa_token(settings)
    )
    app[HUB] = await start_hub(settings.redis_url)
    app[CHAT] = ChatService(app[DB], app[RASA], app[HUB], settings)
    yield
    await app[CHAT].close()
    await app[HUB].close()
    await app[HTTP].close()
    app[DB].dispose()


async def _retry_loop(app: web.Application) -> AsyncIterator[None]:
    """Messages stored while Rasa was down are delivered when it is back (also after a gateway restart)."""

    async def loop() -> None:
        while True:
            try:
                await app[CHAT].retry_undelivered()
            except Exception:
                log.exception("retrying undelivered messages failed")
            await asyncio.sleep(RETRY_INTERVAL_S)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _webhook_loop(app: web.Application) -> AsyncIterator[None]:
    """Deliver new-ticket notifications to STAFF_WEBHOOK_URL in the background, with backoff on failures."""
    url, hosts = app[SETTINGS].staff_webhook_url, app[SETTINGS].staff_webhook_hosts
    if url:
        try:
            webhook.check_target(url, hosts)
        except webhook.WebhookRefused as exc:
            log.error("staff webhook disabled: %s", exc)
            url = ""

    async def loop() -> None:
        while True:
            try:
                await webhook.deliver_due(app[DB], app[HTTP], url, allowed_hosts=hosts)
            except Exception:
                log.exception("staff webhook loop failed")
            await asyncio.sleep(WEBHOOK_INTERVAL_S)

    task = asyncio.create_task(loop()) if url else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _retention_loop(app: web.Application) -> AsyncIterator[None]:
    """RETENTION_DAYS: transcripts (assistant database and Rasa's tracker store) older than that are deleted, at
    start and then hourly. Every gateway may run it: the deletes are idempotent."""
    settings = app[SETTINGS]

    async def loop() -> None:
        while True:
            try:
                await asyncio.to_thread(retention.purge, app[DB], settings.tracker_store_url, settings.retention_days)
            except Exception:
                log.exception("retention job failed")
            await asyncio.sleep(RETENTION_INTERVAL_S)

    task = asyncio.create_task(loop()) if settings.retention_days > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings, *, retry_in_background: bool = True) -> web.Application:
    app = web.Application(middlewares=[middleware.errors], client_max_size=256 * 1024)
    app.on_response_prepare.append(middleware.security_headers)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_resources)
    if retry_in_background:
        app.cleanup_ctx.append(_retry_loop)
        app.cleanup_ctx.append(_webhook_loop)
        app.cleanup_ctx.append(_retention_loop)
    for module in (pages, health, ws, transcript_api, cases_api, checklist_page, staff, insights, calendar_ics):
        app.router.add_routes(module.routes)
    if settings.socketio_origins:  # off by default: see socketio_compat for why
        socketio_compat.attach(app)
    return app


def run(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s gateway %(levelname)s %(name)s: %(message)s")
    # protocol.run_app is web.run_app with a runner whose own 400s (unparseable requests) carry the headers too.
    protocol.run_app(
        create_app(settings),
        settings.gateway_host,
        settings.gateway_port,
        # On SIGTERM, open WebSockets would hold the shutdown for 60 s; browsers reconnect to the next gateway.
        shutdown_timeout=3.0,
    )
