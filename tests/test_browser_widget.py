"""The website widget in a real browser (Playwright driving Debian's Chromium) against the real stack, on the demo
page that imitates the bureau's site: both languages, buttons, checklist, the secure verification form, handoff with
a staff reply, reload restore, a gateway restart with a message in flight, a Rasa outage of over a minute with the
connection kept, two tabs, accessibility (axe-core), and that a script of the host page can reach neither the
conversation id nor the passport field (the panel is an iframe of the gateway's origin).
Screenshots (English and Chinese, desktop and phone) go to results/screenshots/."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import aiohttp
import pytest

from bot.core import payload
from bot.db import Database
from bot.handoff import staff_accounts
from bot.processes.specs import STARTUP_TIMEOUT_S
from tests.test_browser_console import BROWSER_TIMEOUT_MS, CHROMIUM, LAUNCH_ARGS, SHOTS, launch

pytestmark = [pytest.mark.slow, pytest.mark.browser]
AXE = Path(__file__).resolve().parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Inside the panel's frame, the widget's own shadow root.
SHADOW = "document.querySelector('#etown-work-permit-assistant').shadowRoot"
FRAME = "#etown-work-permit-assistant iframe"


@pytest.fixture(scope="module")
def playwright():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright):  # type: ignore[no-untyped-def]
    launched = launch(playwright)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def site_browser(playwright):  # type: ignore[no-untyped-def]
    """For a page of another site embedding the widget. Really both are public; here the gateway is on loopback, and
    Chromium's Private (Local) Network Access would refuse a public page's request for a loopback script, so only this
    browser lets it through (the isolation under test is the same-origin policy, which is untouched)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (make browser)")
    features = ("BlockInsecurePrivateNetworkRequests", "PrivateNetworkAccessSendPreflights", "LocalNetworkAccessChecks")
    relaxed = "--disable-features=" + ",".join(features)
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*LAUNCH_ARGS, relaxed])
    yield launched
    launched.close()


class Beside:
    """Runs `work` in a thread beside Playwright's sync API (which keeps an event loop busy in this thread)."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._value: list[Any] = []
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self._value.append(work())
        except BaseException as exc:  # noqa: BLE001 - re-raised by result() in the test's thread
            self._errors.append(exc)

    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout_s: float) -> Any:
        self._thread.join(timeout_s)
        if self._errors:
            raise self._errors[0]
        assert not self._thread.is_alive(), f"still running after {timeout_s:.0f} s"
        return self._value[0]


def in_thread(make_coroutine, timeout_s: float = 120) -> Any:  # type: ignore[no-untyped-def]
    """Run async client code to its end, beside Playwright."""
    return Beside(lambda: asyncio.run(make_coroutine())).result(timeout_s)


def open_panel(page):  # type: ignore[no-untyped-def]
    """Click the launcher on the host page; the panel's frame (a Playwright Frame) once the panel shows."""
    page.click("button.launcher")
    chat = page.wait_for_selector(FRAME).content_frame()
    assert chat is not None
    chat.wait_for_selector("section.panel:not([hidden])")
    return chat


def open_widget(context, base: str, lang: str | None = None, page=None):  # type: ignore[no-untyped-def]
    """(host page, panel frame)."""
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    page = page or context.new_page()
    page.goto(f"{base}/")
    chat = open_panel(page)
    if lang is not None and chat.get_attribute("section.panel", "lang") != ("zh-CN" if lang == "zh" else "en"):
        chat.click("header button.lang")
    return page, chat


def ask(page, text: str) -> None:  # type: ignore[no-untyped-def]
    before = page.locator("li.msg.bot").count()
    page.fill("#etw-input", text)
    page.press("#etw-input", "Enter")
    wait_reply(page, before)


def wait_reply(page, before: int) -> None:  # type: ignore[no-untyped-def]
    """Until a new bot message has arrived and the bot has stopped typing."""
    page.wait_for_function(
        "n => " + SHADOW + ".querySelectorAll('li.msg.bot').length > n",
        arg=before,
    )
    page.wait_for_function("() => " + SHADOW + ".querySelector('.typing').textContent === ''")


def expect_once(locator) -> None:  # type: ignore[no-untyped-def]
    """Exactly one match, waiting for it (and failing on two): for what arrives after a reload, e.g. the history."""
    from playwright.sync_api import expect

    expect(locator).to_have_count(1)


def last_bot_text(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("li.msg.bot").last.inner_text()


def seed_case(stack, number: str, passport: str) -> None:  # type: ignore[no-untyped-def]
    from bot.cases import service
    from bot.cases.identifiers import PassportHasher
    from bot.cases.service import NewCase

    database = Database(stack.settings.database_url)
    try:
        service.create_case(
            database,
            NewCase(number, "extension", "Widget Person", passport, "B"),
            PassportHasher(stack.settings.secret_key),
            "test",
        )
        service.move_case(database, number, "preliminary_review", "test")
    finally:
        database.dispose()


def test_conversation_in_both_languages_with_sources_and_buttons(stack, browser) -> None:  # type: ignore[no-untyped-def]
    base = stack.settings.public_url
    context = browser.new_context(viewport=DESKTOP)
    page, chat = open_widget(context, base, "en")
    ask(chat, "How early can we apply to extend a work permit?")
    answer = chat.locator("li.msg.bot").filter(has_text="Extending a work permit").last
    assert answer.locator("p.footer").count() >= 1 and answer.locator("a[target=_blank]").count() >= 1
    assert answer.locator(".rate button").count() == 2
    # Key fact first; the details wait under "More".
    more = answer.locator("button.more").first
    details = chat.locator("#" + more.get_attribute("aria-controls"))
    assert more.get_attribute("aria-expanded") == "false" and not details.is_visible()
    more.click()
    assert more.get_attribute("aria-expanded") == "true" and details.is_visible()
    page.screenshot(path=str(SHOTS / "widget-desktop-en.png"))
    ask(chat, "problem with my permit")
    # The group is pinned by position: the reply to the click brings buttons of its own (related questions).
    clicked = chat.locator(".buttons").count() - 1
    group = chat.locator(".buttons").nth(clicked)
    # Not "Talk to a person": this reply may offer one first (its related section needs staff), and the rest of
    # this test needs the bot, not a queue.
    first = group.locator("button").filter(has_not_text="Talk to a person").first
    before = chat.locator("li.msg.bot").count()
    first.click()
    wait_reply(chat, before)
    chat.wait_for_function(
        "(i) => [..." + SHADOW + ".querySelectorAll('.buttons')][i].querySelectorAll('button[disabled]').length > 0",
        arg=clicked,
    )
    assert group.locator("button").first.is_visible()  # used buttons stay visible, disabled
    chat.click("header button.lang")
    assert chat.get_attribute("section.panel", "lang") == "zh-CN"
    ask(chat, "外籍员工离职后工作许可怎么注销？")
    assert "注销" in last_bot_text(chat)
    page.screenshot(path=str(SHOTS / "widget-desktop-zh.png"))
    page.reload()
    chat = open_panel(page)
    assert chat.get_attribute("section.panel", "lang") == "zh-CN"  # the choice persists
    # Restored from the server after the reload: the history arrives over the new socket, so wait for it.
    expect_once(chat.locator("li.msg").filter(has_text="外籍员工离职后工作许可怎么注销"))
    context.close()


def test_host_page_css_does_not_reach_the_widget(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    _page, chat = open_widget(context, stack.settings.public_url)
    size = chat.eval_on_selector("form.composer button", "b => getComputedStyle(b).fontSize")
    background = chat.eval_on_selector("form.composer button", "b => getComputedStyle(b).backgroundColor")
    assert size != "22px" and background != "rgb(255, 255, 0)"  # demo.css forces 22px yellow buttons on the host
    context.close()


def test_checklist_card_with_ticks_and_print_page(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    page, chat = open_widget(context, stack.settings.public_url, "en")
    ask(chat, "What documents do I need?")
    for title in ("Extension", "Category B"):
        before = chat.locator("li.msg.bot").count()
        chat.locator(".buttons button", has_text=title).last.click()
        chat.wait_for_function(
            "n => " + SHADOW + ".querySelectorAll('li.msg.bot').length > n",
            arg=before,
        )
    card = chat.locator(".card").last
    card.wait_for()
    assert card.locator("input[type=checkbox]").count() >= 3
    card.locator("input[type=checkbox]").first.check()
    link = card.locator("a").last.get_attribute("href")
    assert "/checklist/extension?" in link and "category=B" in link
    page.reload()
    chat = open_panel(page)
    assert chat.locator(".card").last.locator("input[type=checkbox]").first.is_checked()
    printed = context.new_page()
    printed.goto(link)
    assert (
        printed.locator("ol.items > li").count() == chat.locator(".card").last.locator("input[type=checkbox]").count()
    )
    context.close()


def test_secure_verification_form_never_shows_the_passport(stack, browser) -> None:  # type: ignore[no-untyped-def]
    seed_case(stack, "WP2026000701", "P70170170")
    context = browser.new_context(viewport=DESKTOP)
    page, chat = open_widget(context, stack.settings.public_url, "en")
    ask(chat, "What is the status of application WP2026000701?")
    chat.wait_for_selector("form.verify:not([hidden])")
    assert chat.get_attribute("#etw-passport", "type") == "password"
    chat.fill("#etw-passport", "P70170170")
    chat.click("form.verify button.primary")
    chat.wait_for_selector(".card.case")
    assert "Preliminary" in chat.locator(".card.case").inner_text()
    # The progress bar is the procedure's path from the payload: one step done, the preliminary review now.
    assert chat.locator(".card.case .steps span").count() == 7
    assert chat.locator(".card.case .steps span.done").count() == 1
    assert chat.locator(".card.case .steps span.now").count() == 1
    assert "P70170170" not in chat.locator("section.panel").inner_text()
    assert "P70170170" not in chat.evaluate("JSON.stringify(localStorage)")
    assert "P70170170" not in page.evaluate("JSON.stringify(localStorage)")
    page.screenshot(path=str(SHOTS / "widget-case-card.png"))
    context.close()


HOST_ORIGIN = "http://bureau.test"  # another site embedding the widget (ALLOWED_ORIGINS of the test stack)


def test_a_script_on_the_host_page_reaches_neither_the_conversation_nor_the_passport(stack, site_browser) -> None:  # type: ignore[no-untyped-def]
    """The bureau's page on its own origin (served by Playwright, loopback only) embeds the widget with the one tag;
    its own script then tries every way in. The same things are there, seen from inside the frame (controls)."""
    base = stack.settings.public_url
    host_page = (
        "<!doctype html><html><head><title>Bureau</title>"
        f'<script src="{base}/widget.js" data-lang="en" defer></script></head>'
        "<body><h1>Bureau</h1></body></html>"
    )
    context = site_browser.new_context(viewport=DESKTOP)
    context.route(f"{HOST_ORIGIN}/**", lambda route: route.fulfill(body=host_page, content_type="text/html"))
    page = context.new_page()
    page.goto(f"{HOST_ORIGIN}/page")
    chat = open_panel(page)
    ask(chat, "What is the status of application WP2026000702?")
    chat.wait_for_selector("form.verify:not([hidden])")
    chat.fill("#etw-passport", "P70270270")  # typed, not yet sent
    conversation = chat.evaluate("JSON.parse(localStorage.getItem('etown-widget:' + location.origin)).conversation")
    assert conversation and len(conversation) >= 16  # the control: it exists, in the frame's origin
    assert chat.evaluate(SHADOW + ".querySelector('#etw-passport').value") == "P70270270"
    seen = page.evaluate(
        """() => {
        const found = {storage: JSON.stringify(localStorage) + JSON.stringify(sessionStorage), cookie: document.cookie};
        const host = document.querySelector('#etown-work-permit-assistant');
        const frame = host.shadowRoot.querySelector('iframe');
        found.frameDocument = String(frame.contentDocument);
        try { found.frameWindowDocument = String(frame.contentWindow.document.body.innerHTML); }
        catch (e) { found.frameWindowDocument = e.name; }
        try { found.frameStorage = String(frame.contentWindow.localStorage.length); }
        catch (e) { found.frameStorage = e.name; }
        found.hostText = document.documentElement.outerHTML + host.shadowRoot.innerHTML;
        found.inputs = document.querySelectorAll('input').length + host.shadowRoot.querySelectorAll('input').length;
        return found;
    }"""
    )
    assert seen["frameDocument"] == "null"
    assert seen["frameWindowDocument"] == "SecurityError" and seen["frameStorage"] == "SecurityError"
    assert seen["inputs"] == 0  # no passport field anywhere in the host page's reach
    for value in seen.values():
        assert conversation not in str(value) and "P70270270" not in str(value)
    # What the frame tells the host page, listened to from the host's side: nothing of the conversation.
    page.evaluate(
        "() => { window.__heard = []; addEventListener('message', e => __heard.push(JSON.stringify(e.data))); }"
    )
    chat.click("header button.close")
    page.wait_for_function("() => __heard.length > 0")
    heard = page.evaluate("__heard")
    assert all(conversation not in item and "P70270270" not in item for item in heard)
    context.close()


def test_handoff_with_a_staff_reply_arriving_live(stack, browser) -> None:  # type: ignore[no-untyped-def]
    base = stack.settings.public_url
    database = Database(stack.settings.database_url)
    staff_accounts.create_staff(database, "widget-staff", "Sun Li", "a long enough password")
    database.dispose()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page, chat = open_widget(context, base, "zh")
    chat.click("header button.person")
    chat.wait_for_selector(".banner:not([hidden])")
    assert "排在第" in chat.locator(".banner").inner_text()

    async def staff_reply() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as staff:
            login = await staff.post(
                f"{base}/staff/login", json={"username": "widget-staff", "password": "a long enough password"}
            )
            headers = {"X-CSRF-Token": (await login.json())["csrf"]}
            queue = (await (await staff.get(f"{base}/staff/api/tickets")).json())["tickets"]
            ticket = [t for t in queue if t["status"] == "queued"][-1]["id"]
            await staff.post(f"{base}/staff/api/tickets/{ticket}/claim", json={}, headers=headers)
            await staff.post(f"{base}/staff/api/tickets/{ticket}/typing", json={"active": True}, headers=headers)
            await staff.post(
                f"{base}/staff/api/tickets/{ticket}/reply",
                json={"text": "您好，我是孙丽，请问有什么可以帮您？"},
                headers=headers,
            )

    in_thread(staff_reply)
    chat.wait_for_selector("li.msg.staff")
    assert "孙丽" in chat.locator("li.msg.staff").last.inner_text()
    assert "Sun Li" in chat.locator(".banner").inner_text()
    width = chat.eval_on_selector("section.panel", "p => p.getBoundingClientRect().width")
    assert width >= PHONE["width"] - 1  # full screen on a phone
    page.screenshot(path=str(SHOTS / "widget-phone-zh-handoff.png"))
    context.close()


def test_phone_in_english(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page, chat = open_widget(context, stack.settings.public_url, "en")
    ask(chat, "Do we pay a fee for the work permit?")
    page.screenshot(path=str(SHOTS / "widget-phone-en.png"))
    context.close()


def test_a_gateway_restart_loses_nothing_and_sends_nothing_twice(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    page, chat = open_widget(context, stack.settings.public_url, "en")
    ask(chat, "hello")
    stack.stop_one("gateway")
    chat.fill("#etw-input", "How long is a work permit valid?")
    chat.press("#etw-input", "Enter")
    assert chat.locator("li.msg.user.pending").count() == 1
    stack.start_one("gateway")
    chat.wait_for_function(
        "() => " + SHADOW + ".querySelectorAll('li.msg.user.pending').length === 0",
    )
    chat.wait_for_function(
        "() => [..." + SHADOW + ".querySelectorAll('li.msg.bot')].some(li => /valid/i.test(li.textContent))",
    )
    assert chat.locator("li.msg.user").filter(has_text="How long is a work permit valid?").count() == 1
    page.reload()
    chat = open_panel(page)
    expect_once(chat.locator("li.msg.user").filter(has_text="How long is a work permit valid?"))
    context.close()


def test_two_tabs_of_one_conversation(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    _first_page, first = open_widget(context, stack.settings.public_url, "en")
    ask(first, "hi")
    _second_page, second = open_widget(context, stack.settings.public_url, "en")
    ask(first, "Who needs a work permit?")
    second.wait_for_function(
        "() => [..." + SHADOW + ".querySelectorAll('li.msg.user')]"
        ".some(li => li.textContent.includes('Who needs a work permit?'))"
    )
    context.close()


def test_no_serious_accessibility_violations(stack, browser) -> None:  # type: ignore[no-untyped-def]
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` installs it (make browser)")
    # The page's CSP (script-src 'self') would refuse the injected axe script; only this test context bypasses it.
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    page, chat = open_widget(context, stack.settings.public_url, "en")
    ask(chat, "What documents do I need?")
    serious = []
    for where, include in ((page, "#etown-work-permit-assistant"), (chat, "#etown-work-permit-assistant")):
        where.add_script_tag(path=str(AXE))
        result = where.evaluate(
            "include => axe.run({include: [[include]]}, {resultTypes: ['violations'], iframes: false})", include
        )
        serious += [
            (v["id"], v["impact"], v["help"]) for v in result["violations"] if v["impact"] in ("serious", "critical")
        ]
    assert serious == []
    page.keyboard.press("Escape")
    # Escape closes the panel inside its frame, which tells the loader by postMessage: wait for the loader's answer,
    # focus on the launcher. The page's activeElement is no signal: it is the shadow host while focus is anywhere in
    # the shadow root, the panel's frame included, so the host is "active" before Escape has done anything.
    page.wait_for_function(
        "() => { const a = " + SHADOW + ".activeElement; return !!a && a.classList.contains('launcher'); }"
    )
    assert page.locator(FRAME).is_hidden()
    context.close()


# Rasa stays down this long: more than two of the gateway's 25 s heartbeats, each with its 12.5 s pong deadline.
OUTAGE_S = 65.0
FEES_QUESTION = "How much does a work permit cost?"
FEES_ANSWER = "itself is free of charge"  # from knowledge/sections/fees.yml (English answer)


async def silent_client(base: str) -> int:
    """A client that reads but never answers pings (autoping off): the pings it got before the gateway dropped it.
    Run during the outage, it shows the heartbeat really was checked while the browser stayed connected."""
    pings = 0
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{base}/ws", autoping=False) as ws:
        await ws.send_json({"type": "hello"})
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.PING:
                pings += 1
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return pings


def stay_connected(page, socket, while_: Callable[[], bool]) -> None:  # type: ignore[no-untyped-def]
    """Let the page run (Playwright dispatches its events meanwhile); fail as soon as the WebSocket closes."""
    while while_():
        assert not socket.is_closed(), "the gateway dropped the browser's connection"
        page.wait_for_timeout(500)
    assert not socket.is_closed(), "the gateway dropped the browser's connection"


def fees_answers(page) -> int:  # type: ignore[no-untyped-def]
    return page.locator("li.msg.bot").filter(has_text=FEES_ANSWER).count()


def rasa_servers(stack) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the Rasa processes: all of them go down, since the gateway fails a conversation over to any
    live one."""
    return [c.name for c in stack.processes if c.name.startswith("rasa")]


def test_a_long_rasa_outage_keeps_the_browser_connected_and_answers_once(stack, browser) -> None:  # type: ignore[no-untyped-def]
    """Rasa down for over a minute. A browser answers the gateway's heartbeat pings at the protocol level, so its
    WebSocket stays open throughout (while a client that does not answer is dropped); the question asked meanwhile
    is acknowledged, the user told, and answered once Rasa is back, exactly once."""
    base = stack.settings.public_url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sockets: list[Any] = []
    frames: list[dict[str, Any]] = []

    def watch(socket) -> None:  # type: ignore[no-untyped-def]
        sockets.append(socket)
        socket.on("framereceived", lambda data: frames.append(json.loads(data)))

    page.on("websocket", watch)  # the panel's frame opens it; page events cover its frames
    _page, chat = open_widget(context, base, "en", page=page)
    ask(chat, "hello")
    assert len(sockets) == 1
    socket = sockets[0]
    servers = rasa_servers(stack)
    for server in servers:
        stack.stop_one(server)
    down_since = time.monotonic()
    restart: Beside | None = None
    try:
        control = Beside(lambda: asyncio.run(asyncio.wait_for(silent_client(base), 4 * OUTAGE_S)))
        chat.fill("#etw-input", FEES_QUESTION)
        chat.press("#etw-input", "Enter")
        chat.wait_for_function(  # acknowledged: stored by the gateway
            "t => [..." + SHADOW + ".querySelectorAll('li.msg.user:not(.pending)')].some(li => li.textContent === t)",
            arg=FEES_QUESTION,
        )
        chat.wait_for_function(  # and the user is told
            "() => [..." + SHADOW + ".querySelectorAll('li.msg.system')].some(li => /restarting/.test(li.textContent))"
        )
        stay_connected(page, socket, control.running)
        assert control.result(0) >= 1  # pinged, did not answer, dropped: the heartbeat is on
        stay_connected(page, socket, lambda: time.monotonic() - down_since < OUTAGE_S)
        assert fees_answers(chat) == 0
        # One after another: each start rewrites the runtime endpoints file.
        restart = Beside(lambda: [stack.start_one(server) for server in servers])
        stay_connected(page, socket, restart.running)
    finally:
        if restart is None:
            for server in servers:
                stack.start_one(server)
        else:
            restart.result(STARTUP_TIMEOUT_S * len(servers))
    print(f"Rasa was down {time.monotonic() - down_since:.0f} s; the browser's WebSocket stayed open throughout")
    chat.wait_for_function(
        "t => [..." + SHADOW + ".querySelectorAll('li.msg.bot')].some(li => li.textContent.includes(t))",
        arg=FEES_ANSWER,
    )
    ask(chat, "hello")  # a later turn: a second answer to the question would have come before its reply
    sent = [f["custom"] for f in frames if f["type"] == "message" and (f.get("custom") or {}).get("type")]
    assert [c["section"] for c in sent if c["type"] == payload.GUIDE_ANSWER] == ["fees"]  # on the wire, once
    assert fees_answers(chat) == 1
    assert len(sockets) == 1 and not socket.is_closed()
    page.reload()
    chat = open_panel(page)
    chat.wait_for_function(
        "t => [..." + SHADOW + ".querySelectorAll('li.msg.bot')].some(li => li.textContent.includes(t))",
        arg=FEES_ANSWER,
    )
    assert fees_answers(chat) == 1  # the stored transcript has it once too
    assert chat.locator("li.msg.user").filter(has_text=FEES_QUESTION).count() == 1
    context.close()
