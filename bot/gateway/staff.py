"""The staff console: login, the live queue, claiming, replying, notes, requeue, resolve, guide-gaps report.

Sessions are server-side (HttpOnly, SameSite=Strict cookie) and end after STAFF_IDLE_MINUTES unused; every
state-changing request needs the session's CSRF token in `X-CSRF-Token` and, from a browser, an `Origin` equal to
PUBLIC_URL (never the request's own Host header, which the client chooses). Logins are throttled per client address
before any password is checked. Handlers only translate HTTP to the account and ticket services, and hand the
events a ticket change returns to the one publisher."""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web

from bot.cases import service as case_service
from bot.cases.service import CaseError
from bot.conversations import store
from bot.conversations.events import Typing
from bot.conversations.limits import client_address
from bot.conversations.publisher import STAFF_TOPIC
from bot.gateway.http import json_body, json_error, json_exception
from bot.gateway.keys import CHAT, DB, SETTINGS
from bot.gateway.pages import STATIC
from bot.guide.answers import fill_facts
from bot.guide.loader import default_guide
from bot.handoff import gaps, staff_accounts, tickets, totp
from bot.handoff.staff_accounts import AccountError, Session
from bot.nlu.language import reply_language

routes = web.RouteTableDef()
COOKIE = "etown_staff"


SESSION_CHECK_S = 60.0  # an open console socket re-checks its session this often (idle timeout, logout)


async def staff_session(request: web.Request, touch: bool = True) -> Session | None:
    return await asyncio.to_thread(
        staff_accounts.session_for,
        request.app[DB],
        request.cookies.get(COOKIE),
        idle_minutes=request.app[SETTINGS].staff_idle_minutes,
        touch=touch and request.headers.get("X-Staff-Background") != "1",
    )


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on every cross-origin request and on same-origin POSTs; it must be PUBLIC_URL. A
    request without one (curl, the CLI) is not a browser being tricked, and still needs the session and token."""
    origin = request.headers.get("Origin")
    return origin is None or origin.rstrip("/") == request.app[SETTINGS].public_url


async def _staff(request: web.Request, write: bool = False) -> Session:
    session = await staff_session(request)
    if session is None:
        raise json_exception(web.HTTPUnauthorized, "login_required", "please log in")
    if write and not (
        staff_accounts.csrf_matches(session, request.headers.get("X-CSRF-Token")) and _same_origin(request)
    ):
        raise json_exception(web.HTTPForbidden, "csrf", "missing or wrong CSRF token")
    return session


def _ticket_id(request: web.Request) -> int:
    try:
        return int(request.match_info["ticket"])
    except ValueError as exc:
        raise web.HTTPNotFound(text="no such ticket") from exc


# -- pages --------------------------------------------------------------------------------------------------------


@routes.get("/staff/login")
async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "staff_login.html")


@routes.post("/staff/login")
async def login(request: web.Request) -> web.Response:
    if not _same_origin(request):
        return json_error("csrf", "cross-origin login refused", 403)
    settings = request.app[SETTINGS]
    allowed = await asyncio.to_thread(
        staff_accounts.throttle_address,
        request.app[DB],
        client_address(request.remote, request.headers.get("X-Forwarded-For"), settings.trusted_proxies),
        settings.staff_login_attempts_per_address,
    )
    if not allowed:
        minutes = staff_accounts.THROTTLE_MINUTES
        return json_error("too_many_logins", f"Too many login attempts from here; try again in {minutes} minutes.", 429)
    body = await json_body(request)
    try:
        staff = await asyncio.to_thread(
            staff_accounts.authenticate,
            request.app[DB],
            body.get("username"),
            body.get("password"),
            otp=body.get("otp"),
            box=totp.SecretBox(settings.totp_encryption_key),
        )
    except AccountError as exc:
        return json_error("login_failed", str(exc), 401)
    token, csrf = await asyncio.to_thread(staff_accounts.open_session, request.app[DB], staff)
    response = web.json_response({"user": staff.display_name, "role": staff.role, "csrf": csrf})
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.app[SETTINGS].public_url.startswith("https://"),
        path="/staff",
        max_age=staff_accounts.SESSION_HOURS * 3600,
    )
    return response


@routes.post("/staff/logout")
async def logout(request: web.Request) -> web.Response:
    await _staff(request, write=True)
    await asyncio.to_thread(staff_accounts.close_session, request.app[DB], request.cookies.get(COOKIE))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/staff")
    return response


@routes.get("/staff")
async def console(request: web.Request) -> web.StreamResponse:
    if await staff_session(request) is None:
        raise web.HTTPFound("/staff/login")
    return web.FileResponse(STATIC / "staff.html")


# -- JSON API -----------------------------------------------------------------------------------------------------


@routes.get("/staff/api/me")
async def me(request: web.Request) -> web.Response:
    session = await _staff(request)
    staff = session.staff
    return web.json_response(
        {"id": staff.id, "user": staff.display_name, "role": staff.role, "csrf": session.csrf_token}
    )


@routes.get("/staff/api/tickets")
async def ticket_list(request: web.Request) -> web.Response:
    await _staff(request)
    statuses = ("resolved",) if request.query.get("status") == "resolved" else tickets.OPEN_STATUSES
    views = await asyncio.to_thread(tickets.list_tickets, request.app[DB], statuses)
    return web.json_response({"tickets": [v.as_json() for v in views]})


@routes.get("/staff/api/tickets/{ticket}")
async def ticket_detail(request: web.Request) -> web.Response:
    await _staff(request)
    db = request.app[DB]
    ticket = await asyncio.to_thread(tickets.get_ticket, db, _ticket_id(request))
    transcript = await asyncio.to_thread(store.history, db, ticket.conversation_id)
    case = None
    if ticket.case_number:
        try:
            case = (await asyncio.to_thread(case_service.get_case, db, ticket.case_number)).as_json()
        except CaseError:
            case = None
    return web.json_response(
        {"ticket": ticket.as_json(), "transcript": [m.as_wire() for m in transcript], "case": case}
    )


@routes.post("/staff/api/tickets/{ticket}/claim")
async def claim(request: web.Request) -> web.Response:
    session = await _staff(request, write=True)
    change = await asyncio.to_thread(tickets.claim, request.app[DB], _ticket_id(request), session.staff.id)
    await request.app[CHAT].publisher.publish(change.events)
    return web.json_response(change.ticket.as_json())


@routes.post("/staff/api/tickets/{ticket}/reply")
async def reply(request: web.Request) -> web.Response:
    session = await _staff(request, write=True)
    body = await json_body(request)
    message, events = await asyncio.to_thread(
        tickets.reply, request.app[DB], _ticket_id(request), session.staff.id, body.get("text")
    )
    await request.app[CHAT].publisher.publish(events)
    return web.json_response(message.as_wire())


@routes.post("/staff/api/tickets/{ticket}/typing")
async def typing(request: web.Request) -> web.Response:
    session = await _staff(request, write=True)
    body = await json_body(request)
    ticket = await asyncio.to_thread(tickets.get_ticket, request.app[DB], _ticket_id(request))
    if ticket.status == "assigned" and ticket.assignee_id == session.staff.id:
        event = Typing(ticket.conversation_id, "staff", bool(body.get("active")))
        await request.app[CHAT].publisher.publish([event])
    return web.json_response({"ok": True})


@routes.post("/staff/api/tickets/{ticket}/note")
async def note(request: web.Request) -> web.Response:
    session = await _staff(request, write=True)
    body = await json_body(request)
    ticket = await asyncio.to_thread(
        tickets.add_note, request.app[DB], _ticket_id(request), session.staff.id, body.get("text")
    )
    return web.json_response(ticket.as_json())


@routes.post("/staff/api/tickets/{ticket}/requeue")
async def requeue(request: web.Request) -> web.Response:
    session = await _staff(request, write=True)
    change = await asyncio.to_thread(
        tickets.requeue, request.app[DB], _ticket_id(request), session.staff.id, session.staff.role == "admin"
    )
    await request.app[CHAT].publisher.publish(change.events)
    return web.json_response(change.ticket.as_json())


@routes.post("/staff/api/tickets/{ticket}/resolve")
async def resolve(request: web.Request) -> web.Response:
    session = await _staff(request, write=True)
    body = await json_body(request)
    chat = request.app[CHAT]
    change = await asyncio.to_thread(
        tickets.resolve,
        request.app[DB],
        _ticket_id(request),
        session.staff.id,
        body.get("reason"),
        body.get("note") or "",
        bool(body.get("guide_gap")),
        session.staff.role == "admin",
    )
    await chat.publisher.publish(change.events)
    await chat.back_to_bot(change.ticket.conversation_id)
    return web.json_response(change.ticket.as_json())


@routes.get("/staff/api/sections")
async def sections(request: web.Request) -> web.Response:
    """Guide sections to insert as a reply, in the ticket's language, filtered by a search text."""
    await _staff(request)
    lang = reply_language(explicit=request.query.get("lang"))  # the console sends the ticket's language
    query = (request.query.get("q") or "").strip().lower()[:100]
    guide = await asyncio.to_thread(default_guide)  # the first call loads knowledge/ (seconds): not on the event loop
    found = []
    for section in guide.sections.values():
        title, body = section.title.get(lang), fill_facts(section.answer.get(lang), guide, lang)
        if not query or query in title.lower() or query in body.lower() or query in section.id:
            found.append({"id": section.id, "title": title, "text": body})
    return web.json_response({"sections": found[:30]})


@routes.get("/staff/api/gaps")
async def gap_report(request: web.Request) -> web.Response:
    await _staff(request)
    groups = await asyncio.to_thread(gaps.report, request.app[DB])
    return web.json_response({"groups": [g.as_json() for g in groups]})


@routes.get("/staff/gaps.csv")
async def gap_csv(request: web.Request) -> web.Response:
    await _staff(request)
    groups = await asyncio.to_thread(gaps.report, request.app[DB])
    return web.Response(
        text=gaps.to_csv(groups),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="guide-gaps.csv"'},
    )


@routes.get("/staff/ws")
async def staff_socket(request: web.Request) -> web.StreamResponse:
    """Live events for consoles: new tickets, queue changes, messages of handed-over conversations."""
    await _staff(request)
    if not _same_origin(request):
        return json_error("origin_not_allowed", "cross-origin console refused", 403)
    ws = web.WebSocketResponse(heartbeat=25)
    await ws.prepare(request)
    hub = request.app[CHAT].hub
    queue = hub.subscribe(STAFF_TOPIC)

    async def forward() -> None:
        while True:
            event = await queue.get()
            await ws.send_str(json.dumps(event, ensure_ascii=False, default=str))

    async def watch_session() -> None:
        """An idle-timed-out or logged-out session stops receiving events (applicants' messages) within a minute."""
        while await staff_session(request, touch=False) is not None:
            await asyncio.sleep(SESSION_CHECK_S)
        await ws.close(code=4401, message=b"session ended")

    writer = asyncio.create_task(forward())
    watcher = asyncio.create_task(watch_session())
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
    finally:
        writer.cancel()
        watcher.cancel()
        hub.unsubscribe(STAFF_TOPIC, queue)
    return ws
