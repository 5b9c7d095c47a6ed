"""/health (each component's state: up, restarting, down), /health/live (this gateway answers) and /metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bot.core.metrics import CONTENT_TYPE
from bot.db import Database
from bot.gateway.keys import CHAT, DB, HTTP, HUB, METRICS, RASA, SETTINGS
from bot.handoff import tickets
from bot.processes import state as process_state
from bot.processes.state import DOWN, RESTARTING, STARTING, UP

routes = web.RouteTableDef()


def _database_ok(db: Database) -> bool:
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


def component_state(answers: bool, supervised: dict[str, Any] | None) -> str:
    """up when it answers; restarting when it does not but the supervisor is bringing it back; else down."""
    if answers:
        return UP
    if supervised and supervised.get("state") in (STARTING, RESTARTING):
        return RESTARTING
    return DOWN


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """Each component's state. 200 while conversations are answered (the database, the action server and at
    least one Rasa server are up: "ok", or "degraded" when something else is down or restarting); 503 otherwise,
    though messages are still stored and answered once the missing part is back."""
    app = request.app
    settings = app[SETTINGS]
    database, rasa, actions, hub, supervised = await asyncio.gather(
        asyncio.to_thread(_database_ok, app[DB]),
        app[RASA].server_health(),
        _actions_ok(app[HTTP], settings.action_endpoint),
        app[HUB].healthy(),
        asyncio.to_thread(process_state.read, settings.var_dir),
    )
    components = {"gateway": UP, "database": UP if database else DOWN}
    for name, answers in rasa.items():
        components[name] = component_state(answers, supervised.get(name))
    components["actions"] = component_state(actions, supervised.get("actions"))
    if hub is not None:
        components["redis"] = UP if hub else DOWN
    serving = database and actions and any(rasa.values())
    everything_up = all(state == UP for state in components.values())
    status = "ok" if everything_up else ("degraded" if serving else "down")
    body: dict[str, Any] = {"status": status, "components": components}
    if supervised:
        body["restarts"] = {name: entry.get("restarts", 0) for name, entry in supervised.items()}
    return web.json_response(body, status=200 if serving else 503)


@routes.get("/health/live")
async def live(request: web.Request) -> web.Response:
    """That this gateway's event loop answers, and nothing else: what a load balancer takes a gateway out for.
    /health waits on the database, Rasa and the action server, which every gateway shares; when they are slow
    (a busy 2-core machine), every gateway's /health is slow at once, and a check on it took them all out."""
    return web.json_response({"status": "live"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Counters kept since start, plus gauges read now (queue, open topics, pending deliveries, refusals)."""
    app = request.app
    gauges = {
        "open_conversation_topics": float(app[HUB].topics()),
        "pending_deliveries": float(app[CHAT].pending_deliveries),
        **await app[CHAT].limit_gauges(),
    }
    queued = await asyncio.to_thread(tickets.queue_positions, app[DB])
    body = app[METRICS].render(gauges, queue_length=len(queued))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
