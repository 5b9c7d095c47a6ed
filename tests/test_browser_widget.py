"""The website widget in a real browser (Playwright driving Debian's Chromium) against the real stack, on the demo
page that imitates the bureau's site: both languages, buttons, checklist, the secure verification form, handoff with
a staff reply, reload restore, a gateway restart with a message in flight, two tabs, accessibility (axe-core).
Screenshots (English and Chinese, desktop and phone) go to results/screenshots/."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.db import Database
from bot.handoff import staff_accounts
from tests.test_browser_console import SHOTS, launch

pytestmark = [pytest.mark.slow, pytest.mark.browser]
AXE = Path(__file__).resolve().parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
SHADOW = "document.querySelector('#etown-work-permit-assistant').shadowRoot"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


def in_thread(make_coroutine) -> None:  # type: ignore[no-untyped-def]
    """Run async client code beside Playwright's sync API (which keeps an event loop busy in this thread)."""
    import threading

    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(make_coroutine())
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]


def open_widget(context, base: str, lang: str | None = None):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(f"{base}/")
    page.click("button.launcher")
    page.wait_for_selector("section.panel:not([hidden])")
    if lang is not None and page.get_attribute("section.panel", "lang") != ("zh-CN" if lang == "zh" else "en"):
        page.click("header button.lang")
    return page


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
        timeout=30000,
    )
    page.wait_for_function(
        "() => " + SHADOW + ".querySelector('.typing').textContent === ''",
        timeout=30000,
    )


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
    page = open_widget(context, base, "en")
    ask(page, "How early can we apply to extend a work permit?")
    answer = page.locator("li.msg.bot").filter(has_text="Extending a work permit").last
    assert answer.locator("p.footer").count() >= 1 and answer.locator("a[target=_blank]").count() >= 1
    assert answer.locator(".rate button").count() == 2
    # Key fact first; the details wait under "More".
    more = answer.locator("button.more").first
    details = page.locator("#" + more.get_attribute("aria-controls"))
    assert more.get_attribute("aria-expanded") == "false" and not details.is_visible()
    more.click()
    assert more.get_attribute("aria-expanded") == "true" and details.is_visible()
    page.screenshot(path=str(SHOTS / "widget-desktop-en.png"))
    ask(page, "problem with my permit")
    # The group is pinned by position: the reply to the click brings buttons of its own (related questions).
    clicked = page.locator(".buttons").count() - 1
    group = page.locator(".buttons").nth(clicked)
    first = group.locator("button").first
    before = page.locator("li.msg.bot").count()
    first.click()
    wait_reply(page, before)
    page.wait_for_function(
        "(i) => [..." + SHADOW + ".querySelectorAll('.buttons')][i].querySelectorAll('button[disabled]').length > 0",
        arg=clicked,
    )
    assert group.locator("button").first.is_visible()  # used buttons stay visible, disabled
    page.click("header button.lang")
    assert page.get_attribute("section.panel", "lang") == "zh-CN"
    ask(page, "外籍员工离职后工作许可怎么注销？")
    assert "注销" in last_bot_text(page)
    page.screenshot(path=str(SHOTS / "widget-desktop-zh.png"))
    page.reload()
    page.click("button.launcher")
    assert page.get_attribute("section.panel", "lang") == "zh-CN"  # the choice persists
    assert page.locator("li.msg").filter(has_text="外籍员工离职后工作许可怎么注销").count() == 1  # restored from server
    context.close()


def test_host_page_css_does_not_reach_the_widget(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    page = open_widget(context, stack.settings.public_url)
    size = page.eval_on_selector("form.composer button", "b => getComputedStyle(b).fontSize")
    background = page.eval_on_selector("form.composer button", "b => getComputedStyle(b).backgroundColor")
    assert size != "22px" and background != "rgb(255, 255, 0)"  # demo.css forces 22px yellow buttons on the host
    context.close()


def test_checklist_card_with_ticks_and_print_page(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    page = open_widget(context, stack.settings.public_url, "en")
    ask(page, "What documents do I need?")
    for title in ("Extension", "Category B"):
        before = page.locator("li.msg.bot").count()
        page.locator(".buttons button", has_text=title).last.click()
        page.wait_for_function(
            "n => " + SHADOW + ".querySelectorAll('li.msg.bot').length > n",
            arg=before,
        )
    card = page.locator(".card").last
    card.wait_for()
    assert card.locator("input[type=checkbox]").count() >= 3
    card.locator("input[type=checkbox]").first.check()
    link = card.locator("a").last.get_attribute("href")
    assert "/checklist/extension?" in link and "category=B" in link
    page.reload()
    page.click("button.launcher")
    assert page.locator(".card").last.locator("input[type=checkbox]").first.is_checked()
    printed = context.new_page()
    printed.goto(link)
    assert printed.locator("ol.items > li").count() == card.locator("input[type=checkbox]").count()
    context.close()


def test_secure_verification_form_never_shows_the_passport(stack, browser) -> None:  # type: ignore[no-untyped-def]
    seed_case(stack, "WP2026000701", "P70170170")
    context = browser.new_context(viewport=DESKTOP)
    page = open_widget(context, stack.settings.public_url, "en")
    ask(page, "What is the status of application WP2026000701?")
    page.wait_for_selector("form.verify:not([hidden])")
    assert page.get_attribute("#etw-passport", "type") == "password"
    page.fill("#etw-passport", "P70170170")
    page.click("form.verify button.primary")
    page.wait_for_selector(".card.case")
    assert "Preliminary" in page.locator(".card.case").inner_text()
    assert "P70170170" not in page.locator("section.panel").inner_text()
    assert "P70170170" not in page.evaluate("JSON.stringify(localStorage)")
    page.screenshot(path=str(SHOTS / "widget-case-card.png"))
    context.close()


def test_handoff_with_a_staff_reply_arriving_live(stack, browser) -> None:  # type: ignore[no-untyped-def]
    base = stack.settings.public_url
    database = Database(stack.settings.database_url)
    staff_accounts.create_staff(database, "widget-staff", "Sun Li", "a long enough password")
    database.dispose()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = open_widget(context, base, "zh")
    page.click("header button.person")
    page.wait_for_selector(".banner:not([hidden])")
    assert "排在第" in page.locator(".banner").inner_text()

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
    page.wait_for_selector("li.msg.staff")
    assert "孙丽" in page.locator("li.msg.staff").last.inner_text()
    assert "Sun Li" in page.locator(".banner").inner_text()
    width = page.eval_on_selector("section.panel", "p => p.getBoundingClientRect().width")
    assert width >= PHONE["width"] - 1  # full screen on a phone
    page.screenshot(path=str(SHOTS / "widget-phone-zh-handoff.png"))
    context.close()


def test_phone_in_english(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = open_widget(context, stack.settings.public_url, "en")
    ask(page, "Do we pay a fee for the work permit?")
    page.screenshot(path=str(SHOTS / "widget-phone-en.png"))
    context.close()


def test_a_gateway_restart_loses_nothing_and_sends_nothing_twice(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    page = open_widget(context, stack.settings.public_url, "en")
    ask(page, "hello")
    stack.stop_one("gateway")
    page.fill("#etw-input", "How long is a work permit valid?")
    page.press("#etw-input", "Enter")
    assert page.locator("li.msg.user.pending").count() == 1
    stack.start_one("gateway")
    page.wait_for_function(
        "() => " + SHADOW + ".querySelectorAll('li.msg.user.pending').length === 0",
        timeout=40000,
    )
    page.wait_for_function(
        "() => [..." + SHADOW + ".querySelectorAll('li.msg.bot')].some(li => /valid/i.test(li.textContent))",
        timeout=40000,
    )
    assert page.locator("li.msg.user").filter(has_text="How long is a work permit valid?").count() == 1
    page.reload()
    page.click("button.launcher")
    assert page.locator("li.msg.user").filter(has_text="How long is a work permit valid?").count() == 1
    context.close()


def test_two_tabs_of_one_conversation(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    first = open_widget(context, stack.settings.public_url, "en")
    ask(first, "hi")
    second = open_widget(context, stack.settings.public_url, "en")
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
    page = open_widget(context, stack.settings.public_url, "en")
    ask(page, "What documents do I need?")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run({include: [['#etown-work-permit-assistant']]}, {resultTypes: ['violations']})"
    )
    serious = [
        (v["id"], v["impact"], v["help"]) for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "etown-work-permit-assistant"  # focus back on the launcher
    context.close()
