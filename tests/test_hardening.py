"""Security headers on every response (error pages and aiohttp's own exceptions included), no-store on staff data,
a CSP that connects only to the gateway itself, a formula-proof gaps.csv, and a staff webhook that follows no
redirect, posts only over https to allowed hosts, and carries no applicant contact details."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from datetime import datetime, timezone

import aiohttp
import pytest
from aiohttp import web

from bot.conversations import store
from bot.db import Database
from bot.gateway.keys import SETTINGS
from bot.handoff import gaps, tickets, webhook
from bot.handoff.gaps import GapGroup, GapQuestion
from bot.handoff.webhook import WebhookRefused

HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy")


def assert_secured(response: aiohttp.ClientResponse) -> None:
    for name in HEADERS:
        assert name in response.headers, (response.status, name)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_every_response_has_the_security_headers(gateway) -> None:  # type: ignore[no-untyped-def]
    seen = {}
    seen[200] = await gateway.get("/")
    seen[404] = await gateway.get("/no/such/page")
    seen[405] = await gateway.put("/staff/login")
    seen[400] = await gateway.post("/staff/login", data=b"\xff{", headers={"Content-Type": "application/json"})
    seen[413] = await gateway.post("/staff/login", data=b"x" * (300 * 1024))
    seen[401] = await gateway.get("/staff/api/tickets")
    seen[302] = await gateway.get("/staff", allow_redirects=False)
    seen[426] = await gateway.get("/ws")  # not a WebSocket upgrade: aiohttp's own HTTPException
    for status, response in seen.items():
        assert response.status == status or (status == 426 and response.status in (400, 426)), (status, response.status)
        assert_secured(response)
    assert seen[200].headers["X-Frame-Options"] == "SAMEORIGIN"


async def test_an_unhandled_error_page_has_the_headers(aiohttp_client, gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory()

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    # A route added to a fresh app built by the same factory, so the hook under test is the real one.
    from bot.gateway.app import create_app

    app = create_app(gateway.app[SETTINGS], retry_in_background=False)
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/broken")
    assert response.status == 500 and "went wrong" in await response.text()
    assert_secured(response)


# Requests aiohttp's parser refuses before any application code runs (its protocol layer answers 400 itself).
MALFORMED = {
    "bad request line": b"GARBAGE\r\n\r\n",
    "bad HTTP version": b"GET / HTTP/9.1\r\nHost: x\r\n\r\n",
    "bad header": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "oversize header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    "oversize request line": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
}


async def raw_exchange(host: str, port: int, request: bytes) -> tuple[int, dict[str, str]]:
    """Send bytes over a plain socket; the status and headers of the answer (names lower-cased)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
    return int(status_line.split()[1]), {name.lower(): value for name, value in headers.items()}


async def test_aiohttps_own_400s_for_malformed_requests_have_the_headers(gateway) -> None:  # type: ignore[no-untyped-def]
    from bot.gateway import protocol
    from bot.gateway.app import create_app

    settings = gateway.app[SETTINGS]
    # The server as `python -m bot gateway` runs it (bot.gateway.app.run → protocol.run_app → protocol.start).
    runner = await protocol.start(create_app(settings, retry_in_background=False), "127.0.0.1", 0, shutdown_timeout=1)
    try:
        host, port = runner.addresses[0][:2]
        for name, request in MALFORMED.items():
            status, headers = await raw_exchange(host, port, request)
            assert status == 400, name
            assert headers.get("x-content-type-options") == "nosniff", name
            assert headers.get("x-frame-options") == "SAMEORIGIN", name
            assert headers.get("cache-control") == "no-store", name
            assert "frame-ancestors 'self'" in headers.get("content-security-policy", ""), name
            assert headers.get("referrer-policy") == "strict-origin-when-cross-origin", name
        # The same server still answers well-formed requests through the application and its hook.
        status, headers = await raw_exchange(host, port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 200 and headers["x-frame-options"] == "SAMEORIGIN" and "cache-control" not in headers
    finally:
        await runner.cleanup()
    # Control: aiohttp's plain runner (the test server's) gives these 400s none of them, so the requests above
    # really were refused below the application, where only the gateway's own protocol class adds them.
    for name, request in MALFORMED.items():
        status, headers = await raw_exchange(gateway.host, gateway.port, request)
        assert status == 400 and "x-content-type-options" not in headers, name


async def test_staff_data_is_never_cached_and_the_csp_names_only_our_origin(gateway) -> None:  # type: ignore[no-untyped-def]
    public = gateway.app[SETTINGS].public_url
    for path in ("/staff/login", "/staff/api/tickets", "/staff/gaps.csv", "/staff"):
        response = await gateway.get(path, allow_redirects=False)
        assert response.headers["Cache-Control"] == "no-store", path
    csp = (await gateway.get("/")).headers["Content-Security-Policy"]
    connect = next(part for part in csp.split(";") if part.strip().startswith("connect-src")).split()[1:]
    assert connect == ["'self'", public.replace("http://", "ws://").replace("https://", "wss://")]
    assert "ws:" not in connect and "wss:" not in connect
    assert "frame-ancestors 'self'" in csp


async def test_only_the_widget_frame_may_be_framed_by_the_embedding_sites(gateway) -> None:  # type: ignore[no-untyped-def]
    frame = await gateway.get("/widget/frame")
    assert frame.status == 200
    csp = frame.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://bureau.example.gov.cn;" in csp  # ALLOWED_ORIGINS of the test gateway
    assert "X-Frame-Options" not in frame.headers
    assert (await gateway.get("/chat")).headers["X-Frame-Options"] == "SAMEORIGIN"


def test_gaps_csv_quotes_every_cell_and_defuses_formulas() -> None:
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    texts = [
        '=HYPERLINK("http://evil.example","click")',
        'a;=HYPERLINK("http://evil.example")',
        "b; +1+1",
        "@SUM(A1)",
        "-2+3",
        "\t=1",
        "\r=1",
        "plain question, with a comma; and a semicolon",
    ]
    group = GapGroup(texts[0], [GapQuestion(t, "fallback", "c", at, ["=staff answer"]) for t in texts])
    text = gaps.to_csv([group])
    lines = text.split("\r\n")  # the csv module's line ends; a cell's own "\r" stays inside its quotes
    assert all(line.startswith('"') and line.endswith('"') for line in lines if line)
    rows = list(csv.reader(io.StringIO(text)))[1:]
    for row in rows:
        for cell in row:
            # Split as a ';' spreadsheet would, too: no part may start a formula.
            for part in cell.split(";"):
                assert part.lstrip(" ")[:1] not in ("=", "+", "-", "@", "\t", "\r"), (cell, part)
    assert rows[-1][2] == "plain question, with a comma; and a semicolon"  # ordinary text unchanged
    assert rows[1][2] == 'a;\'=HYPERLINK("http://evil.example")'


@pytest.mark.parametrize(
    "url",
    [
        "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x",  # http to a real host
        "https://evil.example/hook",  # not on the list
        "https://qyapi.weixin.qq.com.evil.example/hook",  # a look-alike
        "https://user:pw@qyapi.weixin.qq.com/hook",
        "ftp://127.0.0.1/hook",
        "https:///nohost",
    ],
)
def test_webhook_targets_outside_the_rules_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefused):
        webhook.check_target(url, ("qyapi.weixin.qq.com", "*.dingtalk.com"))


def test_webhook_targets_inside_the_rules_are_accepted() -> None:
    hosts = ("qyapi.weixin.qq.com", "*.dingtalk.com")
    webhook.check_target("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", hosts)
    webhook.check_target("https://oapi.dingtalk.com/robot/send?access_token=x", hosts)
    webhook.check_target("http://127.0.0.1:9/hook", ())  # loopback (tests)
    webhook.check_target("http://[::1]:9/hook", ())


def test_the_webhook_text_has_no_contact_details(db: Database) -> None:
    conversation = store.open_conversation(db, None)
    store.record_user_message(db, conversation.id, "need help", "c1")
    ticket, _ = tickets.open_ticket(db, conversation.id, "asked", "en", "fees", False)
    tickets.set_contact(db, ticket.id, "li.wei@example.com +86 138 0013 8000")
    view = tickets.get_ticket(db, ticket.id)
    assert view.contact  # the console has it (positive control)
    content = webhook.message_for(view, "https://bot.example")["text"]["content"]
    assert "example.com" not in content and "138" not in content and "@" not in content
    assert "left a way to reach them" in content and f"#{ticket.id}" in content


async def test_the_webhook_follows_no_redirect(aiohttp_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append("hook")
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        hits.append("elsewhere")
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_route("*", "/elsewhere", elsewhere)
    server = await aiohttp_server(app)
    conversation = store.open_conversation(db, None)
    store.record_user_message(db, conversation.id, "need help", "c1")
    ticket, _ = tickets.open_ticket(db, conversation.id, "asked", "en", None, True)
    webhook.enqueue(db, ticket, "https://bot.example")
    async with aiohttp.ClientSession() as session:
        delivered = await webhook.deliver_due(db, session, str(server.make_url("/hook")))
    assert delivered == 0 and hits == ["hook"]  # the redirect was a failure, not followed
    with pytest.raises(WebhookRefused):
        async with aiohttp.ClientSession() as session:
            await webhook.deliver_due(db, session, "https://evil.example/hook", allowed_hosts=("bot.example",))


async def test_the_gateway_sends_rasa_the_channel_token(gateway, rasa) -> None:  # type: ignore[no-untyped-def]
    from bot.rasa.endpoints import channel_token
    from tests.gateway_support import ChatClient

    applicant = ChatClient(await gateway.ws_connect("/ws"))
    await applicant.hello()
    await applicant.send({"type": "message", "id": "t1", "text": "hello"})
    assert (await applicant.bot_reply())["text"] == "echo: hello"
    assert rasa.channel_tokens == [channel_token(gateway.app[SETTINGS])]
