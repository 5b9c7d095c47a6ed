"""/health (each component's state) and /metrics."""

from __future__ import annotations

import asyncio

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bot.gateway.keys import CHAT, DB, HTTP, HUB, METRICS, RASA, SETTINGS

routes = web.RouteTableDef()


def _database_ok(db) -> bool:  # type: ignore[no-untyped-def]
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


async def _actions_ok(session: aiohttp.ClientSession, endpoint: str) -> bool:
    url = endpoint.rsplit("/webhook", 1)[0] + "/health"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    app = request.app
    database, rasa, actions, hub = await asyncio.gather(
        asyncio.to_thread(_database_ok, app[DB]),
        app[RASA].healthy(),
        _actions_ok(app[HTTP], app[SETTINGS].action_endpoint),
        app[HUB].healthy(),
    )
    components = {
        "gateway": "ok",
        "database": "ok" if database else "down",
        "rasa": "ok" if rasa else "down",
        "actions": "ok" if actions else "down",
    }
    if hub is not None:
        components["redis"] = "ok" if hub else "down"
    healthy = all(state == "ok" for state in components.values())
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "components": components}, status=200 if healthy else 503
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    gauges = {
        "open_conversation_topics": float(hub.topics()),
        "pending_deliveries": float(len(request.app[CHAT]._tasks)),
        **await request.app[CHAT].limit_gauges(),
    }
    return web.Response(text=request.app[METRICS].render(gauges), content_type="text/plain")
