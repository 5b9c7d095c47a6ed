"""GET /deadlines.ics?lang=en&d=<rule>:<YYYY-MM-DD>&d=…: the deadlines the assistant computed, as a calendar file.

The link is built by bot/deadlines/service.py with the dates it computed; the file's words come from
knowledge/deadlines.yml, so the endpoint holds no state and echoes nothing a user typed."""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from bot.deadlines import ics
from bot.nlu.language import reply_language

routes = web.RouteTableDef()


@routes.get("/deadlines.ics")
async def deadlines_ics(request: web.Request) -> web.Response:
    lang = reply_language(explicit=request.query.get("lang"))
    try:
        pairs = ics.parse_pairs(request.query.getall("d", []))
    except ics.CalendarRequestError as error:
        raise web.HTTPBadRequest(text=f"Cannot build the calendar: {error}.") from None
    body = ics.build(pairs, lang, datetime.now(timezone.utc))
    return web.Response(
        body=body.encode("utf-8"),
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="work-permit-deadlines.ics"'},
    )
