"""Application factory of the gateway: `create_app(settings)`; resources open and close in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from bot.conversations import retention
from bot.conversations.hub import start_hub
from bot.conversations.router import ChatService
from bot.core.metrics import Metrics
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
from bot.gateway.keys import CHAT, DB, HTTP, HUB, METRICS, RASA, SETTINGS
from bot.guide import reload
from bot.handoff import webhook
from bot.rasa.client import RasaClient
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
    app[CHAT] = ChatService(app[DB], app[RASA], app[HUB], settings, app[METRICS])
    yield
    await app[CHAT].close()
    await app[HUB].close()
    await app[HTTP].close()
    app[DB].dispose()


CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _every(interval_s: float, what: str, job: Callable[[web.Application], Awaitable[object]]) -> CleanupCtx:
    """A background job for the app's lifetime: run at start, then every `interval_s`; a failure is logged and the
    job keeps running (the retry, webhook and retention loops are this one loop)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    await job(app)
                except Exception:
                    log.exception("%s failed", what)
                await asyncio.sleep(interval_s)

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


async def _retry(app: web.Application) -> None:
    """Messages stored while Rasa was down are delivered when it is back (also after a gateway restart)."""
    await app[CHAT].retry_undelivered()


def _webhook_job(settings: Settings) -> Callable[[web.Application], Awaitable[object]] | None:
    """New-ticket notifications to STAFF_WEBHOOK_URL in the background, with backoff on failures; None if off."""
    url, hosts = settings.staff_webhook_url, settings.staff_webhook_hosts
    if not url:
        return None
    try:
        webhook.check_target(url, hosts)
    except webhook.WebhookRefused as exc:
        log.error("staff webhook disabled: %s", exc)
        return None

    async def deliver(app: web.Application) -> None:
        await webhook.deliver_due(app[DB], app[HTTP], url, allowed_hosts=hosts)

    return deliver


async def _retention(app: web.Application) -> None:
    """RETENTION_DAYS: transcripts (assistant database and Rasa's tracker store) older than that are deleted, at
    start and then hourly. Every gateway may run it: the deletes are idempotent."""
    settings = app[SETTINGS]
    await asyncio.to_thread(retention.purge, app[DB], settings.tracker_store_url, settings.retention_days)


def create_app(settings: Settings, *, retry_in_background: bool = True) -> web.Application:
    app = web.Application(middlewares=[middleware.errors], client_max_size=256 * 1024)
    # aiohttp 3.9 types its signals for aiosignal < 1.4 (Signal[Callable]); 1.4 reads that as the argument types.
    app.on_response_prepare.append(middleware.security_headers)  # type: ignore[arg-type]
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_resources)
    if retry_in_background:
        app.cleanup_ctx.append(_every(RETRY_INTERVAL_S, "retrying undelivered messages", _retry))
        deliver_webhooks = _webhook_job(settings)
        if deliver_webhooks is not None:
            app.cleanup_ctx.append(_every(WEBHOOK_INTERVAL_S, "staff webhook loop", deliver_webhooks))
        if settings.retention_days > 0:
            app.cleanup_ctx.append(_every(RETENTION_INTERVAL_S, "retention job", _retention))
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
