"""The staff console in a real browser (Playwright driving Debian's Chromium) against the real stack: hostile
applicant text shows as text, a staff member claims, replies and resolves. Screenshots go to results/screenshots/."""

from __future__ import annotations

import asyncio
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from bot.db import Database
from bot.handoff import staff_accounts

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SHOTS = Path(__file__).resolve().parents[1] / "results" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> \u202eevil\u202c ' + "W" * 300
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Every wait is for something to appear, so a generous bound costs nothing when all is well and keeps a slow or
# busy machine (Playwright's defaults: 30 s for pages, 5 s for expect) from failing a test by slowness alone.
BROWSER_TIMEOUT_MS = 90_000


def launch(playwright):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (make browser)")
    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


async def applicant_asks_for_a_person(base: str) -> tuple[str, int]:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{base}/ws") as ws:
        await ws.send_json({"type": "hello"})
        conversation = None
        ticket = None
        await ws.send_json({"type": "message", "id": "1", "text": HOSTILE})
        await ws.send_json({"type": "message", "id": "2", "text": "转人工"})
        while ticket is None:
            frame = json.loads((await asyncio.wait_for(ws.receive(), 90)).data)
            if frame["type"] == "welcome":
                conversation = frame["conversation"]
            if frame["type"] == "message" and (frame.get("custom") or {}).get("type") == "handoff":
                ticket = frame["custom"]["ticket"]
        assert conversation is not None
        return conversation, ticket


async def history(base: str, conversation: str) -> list[dict]:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{base}/ws") as ws:
        await ws.send_json({"type": "hello", "conversation": conversation})
        while True:
            frame = json.loads((await asyncio.wait_for(ws.receive(), 90)).data)
            if frame["type"] == "welcome":
                return frame["history"]


async def applicant_says(base: str, conversation: str, text: str) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{base}/ws") as ws:
        await ws.send_json({"type": "hello", "conversation": conversation})
        await ws.send_json({"type": "message", "id": "later", "text": text})
        while json.loads((await asyncio.wait_for(ws.receive(), 90)).data)["type"] != "ack":
            pass


def test_staff_console_in_chromium(stack) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    base = stack.settings.public_url
    database = Database(stack.settings.database_url)
    staff_accounts.create_staff(database, "browser-staff", "Zhao Min", "a long enough password")
    database.dispose()
    conversation, ticket = asyncio.run(applicant_asks_for_a_person(base))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(BROWSER_TIMEOUT_MS)
        page.goto(f"{base}/staff")
        expect(page).to_have_url(f"{base}/staff/login")
        page.fill("#username", "browser-staff")
        page.fill("#password", "wrong password!!")
        page.click("button[type=submit]")
        expect(page.locator("#error")).to_contain_text("Wrong username or password")
        page.fill("#password", "a long enough password")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{base}/staff")
        item = page.locator(f"button[data-ticket='{ticket}']")
        expect(item).to_be_visible()
        page.screenshot(path=str(SHOTS / "console-queue.png"))
        item.click()
        expect(page.locator(".transcript")).to_contain_text("<script>window.__pwned=2</script>")
        assert page.evaluate("window.__pwned") is None
        assert page.locator(".transcript img").count() == 0
        expect(page.locator(".t-summary")).to_contain_text("转人工")
        page.click(".claim")
        expect(page.locator(".reply textarea")).to_be_visible()
        page.fill(".section-search", "fee")
        page.wait_for_function("() => document.querySelectorAll('.section-pick option').length > 0")
        page.click(".insert")
        assert page.input_value(".reply textarea").strip()
        page.fill(".reply textarea", "您好，我是工作人员赵敏。工作许可本身不收费。")
        page.click(".reply button[type=submit]")
        expect(page.locator(".transcript")).to_contain_text("工作许可本身不收费")
        page.fill(".note input", "applicant asked about fees")
        # Any new message rebuilds the view of the ticket: what the staff member is typing survives it.
        with ThreadPoolExecutor(1) as beside:  # Playwright's sync API keeps an event loop busy in this thread
            beside.submit(asyncio.run, applicant_says(base, conversation, "And the residence permit?")).result(120)
        expect(page.locator(".transcript")).to_contain_text("And the residence permit?")
        assert page.input_value(".note input") == "applicant asked about fees"
        page.click(".note button")
        expect(page.locator(".note-list")).to_contain_text("applicant asked about fees")
        page.screenshot(path=str(SHOTS / "console-conversation.png"), full_page=True)
        page.select_option(".resolve select", "answered")
        page.check(".resolve input[name=gap]")
        page.click(".resolve button[type=submit]")
        expect(page.locator(".t-title")).to_contain_text("resolved")
        page.click("nav [data-view=gaps]")
        expect(page.locator("#gaps tbody tr").first).to_be_visible()
        page.screenshot(path=str(SHOTS / "console-gaps.png"), full_page=True)
        browser.close()
    seen = asyncio.run(history(base, conversation))
    assert any(m["role"] == "staff" and "工作许可本身不收费" in m["text"] for m in seen)
    assert any(m["role"] == "system" and "赵敏" not in m["text"] and "Zhao Min" in m["text"] for m in seen)
