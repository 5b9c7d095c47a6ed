"""The bureau's view in the staff console: /staff/insights (figures, charts, tables for any period), one CSV per
table, and the printable monthly report. Server-rendered with Jinja2 (autoescape on: every label is text).
Login and session are the console's own (bot.gateway.staff); these pages only read."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.core.workdays import shanghai_date
from bot.db.models import utcnow
from bot.gateway.keys import DB
from bot.gateway.rendering import TEMPLATES
from bot.gateway.staff import staff_session
from bot.insights import feedback
from bot.insights import period as periods
from bot.insights.csvout import to_csv
from bot.insights.report import Insights, build
from bot.insights.svg import bar_chart

routes = web.RouteTableDef()


async def _logged_in(request: web.Request, page: bool) -> None:
    if await staff_session(request) is None:
        if page:
            raise web.HTTPFound("/staff/login")
        raise web.HTTPUnauthorized(text="please log in")


def _period(request: web.Request, kind: str | None = None) -> periods.Period:
    query = dict(request.query)
    if kind:
        query["period"] = kind
    try:
        return periods.parse(query, shanghai_date(utcnow()))
    except periods.PeriodError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc


async def _insights(request: web.Request, period: periods.Period) -> Insights:
    return await asyncio.to_thread(build, request.app[DB], period)


def _html(name: str, **context: object) -> web.Response:
    body = TEMPLATES.get_template(name).render(**context)
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-store"})


@routes.get("/staff/insights")
async def insights_page(request: web.Request) -> web.Response:
    await _logged_in(request, page=True)
    try:
        period = periods.parse(dict(request.query), shanghai_date(utcnow()))
        error = ""
    except periods.PeriodError as exc:
        period, error = periods.around("month", shanghai_date(utcnow())), str(exc)
    insights = await _insights(request, period)
    charts = {t.key: bar_chart(t) for t in insights.tables}
    return _html("insights.html", insights=insights, charts=charts, error=error, kinds=periods.KINDS)


@routes.get("/staff/insights/report")
async def monthly_report(request: web.Request) -> web.Response:
    await _logged_in(request, page=True)
    insights = await _insights(request, _period(request, "month"))
    return _html("insights_report.html", insights=insights)


@routes.get("/staff/insights/{table}.csv")
async def table_csv(request: web.Request) -> web.Response:
    await _logged_in(request, page=False)
    insights = await _insights(request, _period(request))
    key = request.match_info["table"]
    table = next((t for t in insights.tables if t.key == key), None)
    if table is None:
        raise web.HTTPNotFound(text="no such table")
    name = f"insights-{key}-{insights.period.first.isoformat()}-{insights.period.last.isoformat()}.csv"
    return web.Response(
        text=to_csv(table.header, table.rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@routes.get("/staff/api/feedback")
async def feedback_report(request: web.Request) -> web.Response:
    """For the guide-gaps page: sections most rated "not helpful" and the questions before them."""
    await _logged_in(request, page=False)
    sections = await asyncio.to_thread(feedback.unhelpful_sections, request.app[DB])
    return web.json_response({"sections": [s.as_json() for s in sections]})


@routes.get("/staff/feedback.csv")
async def feedback_export(request: web.Request) -> web.Response:
    await _logged_in(request, page=False)
    sections = await asyncio.to_thread(feedback.unhelpful_sections, request.app[DB])
    return web.Response(
        text=feedback.feedback_csv(sections),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="answer-feedback.csv"', "Cache-Control": "no-store"},
    )
