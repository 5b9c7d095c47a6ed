"""The bureau's view: a realistic month (November 2026) seeded with a fixed clock, and every figure asserted
exactly, on SQLite and PostgreSQL; the pages over HTTP (login, escaping, CSV); the page in Chromium."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.workdays import SHANGHAI
from bot.db import Database
from bot.db.models import Case, CaseEvent, CaseVerification, Conversation, Message, MissingMaterial, Ticket
from bot.gateway.keys import DB
from bot.handoff import staff_accounts
from bot.insights import feedback
from bot.insights import period as periods
from bot.insights.csvout import to_csv
from bot.insights.report import build

NOVEMBER = periods.around("month", date(2026, 11, 15))
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
PASSWORD = "a long enough password"
HOSTILE_ITEM = '=HYPERLINK("http://x")<b>bold</b>'
HOSTILE_QUESTION = "=1+1 <script>window.__pwned=1</script> why this list?"


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def answer(section: str, topic: str, lang: str) -> dict:  # type: ignore[type-arg]
    return {"custom": {"type": "guide_answer", "section": section, "topic": topic, "lang": lang}}


def clarify(lang: str, reason: str | None = None) -> dict:  # type: ignore[type-arg]
    custom = {"type": "clarify", "lang": lang, "options": []}
    if reason:
        custom["reason"] = reason
    return {"custom": custom}


def seed(db: Database) -> None:
    """Conversations, every payload type, ratings, tickets in and out of hours, cases in every stage, some late."""
    with db.transaction() as s:
        ids: dict[str, int] = {}

        def conversation(cid: str, lang: str, when: datetime) -> None:
            s.add(Conversation(id=cid, language=lang, created_at=when, updated_at=when))
            s.flush()

        def say(cid: str, role: str, when: datetime, payload: dict | None = None, name: str = "", text: str = "") -> int:  # type: ignore[type-arg]  # noqa: E501
            text = text or "secret text"
            message = Message(conversation_id=cid, role=role, text=text, payload=payload, created_at=when)
            s.add(message)
            s.flush()
            if name:
                ids[name] = message.id
            return message.id

        conversation("c1", "en", at(2, 10))
        say("c1", "user", at(2, 10, 1))
        say("c1", "bot", at(2, 10, 1), answer("fees", "fees", "en"), "c1_fees")
        say("c1", "user", at(2, 10, 2), {"command": "/thanks", "feedback": "up", "about": ids["c1_fees"]})
        say("c1", "user", at(2, 10, 3))
        say("c1", "bot", at(2, 10, 3), clarify("en"))
        say("c1", "user", at(2, 10, 4), {"button": "/choose_section"})  # a button is not a question
        conversation("c2", "zh", at(2, 11))
        say("c2", "user", at(2, 11, 1))
        say("c2", "bot", at(2, 11, 1), answer("fees", "fees", "zh"), "c2_fees")
        for minute in (2, 3):  # the same answer rated twice counts once
            say("c2", "user", at(2, 11, minute), {"command": "/unhelpful", "feedback": "down", "about": ids["c2_fees"]})
        conversation("c3", "en", at(3, 9))
        say("c3", "user", at(3, 9, 1))
        say("c3", "bot", at(3, 9, 1), clarify("en", "not_covered"))
        say("c3", "user", at(3, 9, 2))
        say("c3", "bot", at(3, 9, 2), clarify("en", "rephrase"))
        conversation("c4", "zh", at(3, 9, 30))
        say("c4", "user", at(3, 9, 31))
        say("c4", "bot", at(3, 9, 31), answer("documents", "documents", "zh"))
        say("c4", "bot", at(3, 9, 31), {"custom": {"type": "handoff", "ticket": 1}})
        say("c4", "user", at(3, 9, 40))
        say("c4", "bot", at(3, 9, 40), {"custom": {"type": "checklist", "procedure": "extension", "lang": "zh"}})
        conversation("c5", "en", at(10, 9))
        say("c5", "user", at(10, 9, 1))
        say("c5", "bot", at(10, 9, 1), answer("documents", "documents", "en"), "c5_docs")
        say("c5", "user", at(10, 9, 2), {"command": "/unhelpful", "feedback": "down", "about": ids["c5_docs"]})
        # a rating of another conversation's answer is ignored
        say("c5", "user", at(10, 9, 3), {"command": "/unhelpful", "feedback": "down", "about": ids["c1_fees"]})
        conversation("c6", "en", at(10, 12))
        say("c6", "user", at(10, 12, 1), text=HOSTILE_QUESTION)
        say("c6", "bot", at(10, 12, 1), answer("documents", "documents", "en"), "c6_docs")
        say("c6", "user", at(10, 12, 2), {"command": "/unhelpful", "feedback": "down", "about": ids["c6_docs"]})
        conversation("c0", "en", at(30, 9, month=10))  # October: outside the period
        say("c0", "user", at(30, 9, 1, month=10))
        say("c0", "bot", at(30, 9, 1, month=10), answer("fees", "fees", "en"))

        def ticket(cid: str, created: datetime, office: bool, claim: int | None, close: int | None, sat: int | None):  # type: ignore[no-untyped-def]
            s.add(
                Ticket(
                    conversation_id=cid,
                    status="resolved" if close is not None else ("assigned" if claim is not None else "queued"),
                    reason="asked",
                    language="en",
                    office_open=office,
                    created_at=created,
                    assigned_to=staff.id if claim is not None else None,
                    assigned_at=created + timedelta(minutes=claim) if claim is not None else None,
                    resolved_at=created + timedelta(minutes=close) if close is not None else None,
                    resolution_reason="answered" if close is not None else None,
                    satisfaction=sat,
                )
            )

        from bot.db.models import StaffUser

        staff = StaffUser(username="seed", display_name="Seed", password_hash="x", role="staff")
        s.add(staff)
        s.flush()
        ticket("c4", at(3, 10), True, 6, 30, 5)
        ticket("c3", at(4, 14), True, 20, 90, 3)
        ticket("c5", at(10, 9, 30), True, 2, 12, None)
        ticket("c2", at(7, 20), False, 780, 800, 4)
        ticket("c1", at(8, 22), False, None, None, None)
        ticket("c0", at(31, 10, month=10), True, 1, 2, 1)  # October

        cases: dict[str, int] = {}

        def case(number: str, procedure: str, flow: list[tuple[str, datetime]]) -> None:
            stage, since = flow[-1]
            row = Case(
                application_number=number, procedure=procedure, applicant_name="A", passport_hash="x",
                stage=stage, stage_since=since, submitted_at=flow[0][1],
            )  # fmt: skip
            s.add(row)
            s.flush()
            cases[number] = row.id
            s.add(CaseEvent(case_id=row.id, kind="created", to_stage="submitted", actor="seed", at=flow[0][1]))
            for (before, _), (after, when) in zip(flow, flow[1:], strict=False):
                s.add(CaseEvent(case_id=row.id, kind="stage", from_stage=before, to_stage=after, actor="s", at=when))

        case("WP2026000101", "work_permit_after_entry", [
            ("submitted", at(2, 9)), ("preliminary_review", at(2, 10)), ("accepted", at(3, 9)),
            ("under_review", at(3, 15)), ("approved", at(5, 10)), ("card_ready", at(6)), ("collected", at(9)),
        ])  # fmt: skip
        case("WP2026000102", "extension", [
            ("submitted", at(6, 16)), ("preliminary_review", at(6, 17)), ("materials_requested", at(9, 11)),
            ("preliminary_review", at(12, 10)), ("accepted", at(16, 9)), ("under_review", at(17)),
            ("not_approved", at(19)),
        ])  # fmt: skip
        case("WP2026000103", "change_employer", [
            ("submitted", at(10, 9)), ("preliminary_review", at(10, 9, 30)), ("materials_requested", at(10, 15)),
        ])  # fmt: skip
        case("WP2026000104", "work_permit_after_entry", [("submitted", at(20)), ("preliminary_review", at(20, 10, 30))])
        case("WP2026000105", "replacement", [
            ("submitted", at(24, 9)), ("preliminary_review", at(24, 9, 30)), ("accepted", at(24, 14)),
            ("card_ready", at(26)),
        ])  # fmt: skip
        case("WP2026000106", "notification_letter", [("submitted", at(30, 16)), ("preliminary_review", at(30, 16, 10))])
        case("WP2026000107", "apply_inside_china", [
            ("submitted", at(25, 9)), ("preliminary_review", at(25, 9, 10)), ("accepted", at(26)),
            ("under_review", at(27)),
        ])  # fmt: skip
        case("WP2026000099", "extension", [
            ("submitted", at(28, month=10)), ("preliminary_review", at(28, 11, month=10)),
            ("accepted", at(29, month=10)), ("under_review", at(29, 11, month=10)), ("approved", at(2)),
        ])  # fmt: skip
        case("WP2026000108", "cancellation", [
            ("submitted", at(16, 9)), ("preliminary_review", at(16, 10)), ("accepted", at(17, 9)),
            ("cancelled", at(17, 15)),
        ])  # fmt: skip
        for number, item, when in (
            ("WP2026000102", "Employment contract", at(9, 11)),
            ("WP2026000102", "Health  certificate", at(9, 11)),
            ("WP2026000103", "Employment contract", at(10, 15)),
            ("WP2026000103", HOSTILE_ITEM, at(10, 15)),
        ):
            s.add(MissingMaterial(case_id=cases[number], item=item, requested_by="s", requested_at=when))
        for token, cid, number, when in (
            ("v1", "c4", "WP2026000102", at(12, 11)),  # after the checklist of Nov 3
            ("v2", "c1", "WP2026000101", at(4)),
            ("v3", "c4", "WP2026000103", at(2, 8)),  # before that checklist
        ):
            s.add(CaseVerification(token=token, conversation_id=cid, case_id=cases[number], created_at=when,
                                   expires_at=when + timedelta(minutes=10)))  # fmt: skip


def rows(insights, key: str) -> list[list]:  # type: ignore[no-untyped-def,type-arg]
    return insights.table(key).rows


def test_a_month_of_figures(db: Database) -> None:
    seed(db)
    insights = build(db, NOVEMBER, now=NOW)
    inq = insights.inquiries
    assert (inq.conversations, inq.questions) == (6, 9)
    by_day = {r[0]: (r[1], r[2]) for r in rows(insights, "by_day") if r[1] or r[2]}
    assert by_day == {"2026-11-02": (2, 3), "2026-11-03": (2, 4), "2026-11-10": (2, 2)}
    assert len(rows(insights, "by_day")) == 30
    assert rows(insights, "by_language") == [["English · 英文", 4, 6], ["Chinese · 中文", 2, 3]]
    assert rows(insights, "by_topic") == [["(none)", 4], ["documents", 3], ["fees", 2]]
    assert [r[1:] for r in rows(insights, "outcomes")] == [
        [4, "44.4%"], [1, "11.1%"], [2, "22.2%"], [1, "11.1%"], [1, "11.1%"],
    ]  # fmt: skip
    assert rows(insights, "ratings") == [["documents", 0, 2], ["fees", 1, 1]]
    assert rows(insights, "top_sections") == [["documents", 3], ["fees", 2]]

    assert rows(insights, "tickets") == [
        ["In office hours · 工作时间内", 3, "6", "20", "30", "90"],
        ["Out of office hours · 工作时间外", 2, "780", "780", "800", "800"],
    ]
    assert rows(insights, "satisfaction") == [[1, 0], [2, 0], [3, 1], [4, 1], [5, 1]]

    cases = insights.cases
    assert (cases.received, cases.concluded) == (8, 5)
    assert [r[1:] for r in rows(insights, "promise")] == [[8, 6, "75.0%"], [5, 2, "40.0%"], [2, 2, "100.0%"]]
    assert [(r[0], r[2][:6], r[3], r[4], r[5]) for r in rows(insights, "late")] == [
        ("WP2026••••02", "Prelim", "2026-11-13", "2026-11-16", 1),
        ("WP2026••••02", "Review", "2026-11-16", "2026-11-17", 1),
        ("WP2026••••04", "Prelim", "2026-11-23", "open · 未完成", 6),
        ("WP2026••••05", "Review", "2026-11-24", "2026-11-26", 2),
        ("WP2026••••07", "Review", "2026-11-26", "2026-11-27", 1),
    ]
    assert rows(insights, "corrections") == [
        ["apply_inside_china · 境内申请", 1, 0, "0.0%"],
        ["cancellation · 注销", 1, 0, "0.0%"],
        ["change_employer · 更换雇主", 1, 1, "100.0%"],
        ["extension · 延期", 1, 1, "100.0%"],
        ["notification_letter · 外国人工作许可通知", 1, 0, "0.0%"],
        ["replacement · 补办", 1, 0, "0.0%"],
        ["work_permit_after_entry · 外国人工作许可证", 2, 0, "0.0%"],
    ]
    assert rows(insights, "materials") == [
        ["change_employer · 更换雇主", HOSTILE_ITEM, 1],
        ["change_employer · 更换雇主", "Employment contract", 1],
        ["extension · 延期", "Employment contract", 1],
        ["extension · 延期", "Health certificate", 1],
    ]
    assert rows(insights, "checklist") == [["Yes · 是", 1, 1, "100.0%"], ["No · 否", 2, 1, "50.0%"]]
    headline = dict(insights.headline())
    assert headline["Inquiries received · 受理咨询"] == "6"
    assert headline["Cases reviewed and processed · 审查办结案件"] == "5"


def test_pending_steps_wait_until_they_are_due(db: Database) -> None:
    """Seen a day later, the preliminary review due 1 Dec and the conclusion due 1 Dec are late and still open."""
    seed(db)
    later = build(db, NOVEMBER, now=NOW + timedelta(days=1))
    assert [r[1:3] for r in rows(later, "promise")] == [[9, 6], [5, 2], [3, 2]]
    assert [(r[0], r[3], r[4], r[5]) for r in rows(later, "late")][-2:] == [
        ("WP2026••••06", "2026-12-01", "open · 未完成", 1),
        ("WP2026••••07", "2026-12-01", "open · 未完成", 1),
    ]


def test_not_helpful_sections_with_the_questions_before_them(db: Database) -> None:
    seed(db)
    found = feedback.unhelpful_sections(db, days=90, clock=lambda: NOW)
    assert [(f.section, f.not_helpful, f.helpful) for f in found] == [("documents", 2, 0), ("fees", 1, 1)]
    assert [q for q, _ in found[0].questions] == ["secret text", HOSTILE_QUESTION]
    table = list(csv.reader(io.StringIO(feedback.feedback_csv(found))))
    assert table[0] == ["section", "title", "not_helpful", "helpful", "question_before", "asked_at"]
    assert table[2][:5] == ["documents", "documents", "2", "0", "'" + HOSTILE_QUESTION]
    assert feedback.unhelpful_sections(db, days=1, clock=lambda: NOW) == []


def test_periods() -> None:
    assert periods.around("week", date(2026, 11, 4)) == periods.Period("week", date(2026, 11, 2), date(2026, 11, 8))
    assert periods.parse({"period": "day", "date": "2026-11-03"}, date(2026, 1, 1)).last == date(2026, 11, 3)
    assert periods.parse({}, date(2026, 2, 10)) == periods.Period("month", date(2026, 2, 1), date(2026, 2, 28))
    for bad in ({"period": "year"}, {"period": "custom", "from": "2026-11-05", "to": "2026-11-01"},
                {"period": "custom", "from": "nope", "to": "2026-11-01"}):  # fmt: skip
        with pytest.raises(periods.PeriodError):
            periods.parse(bad, date(2026, 1, 1))


def test_csv_quotes_every_cell_and_neutralises_formulas() -> None:
    text = to_csv(["a", "b"], [["=1+1", 3], ["@x", "-2"], ["plain", None]])
    assert text.splitlines() == ['"a","b"', '"\'=1+1","3"', '"\'@x","\'-2"', '"plain",""']


async def login(gateway) -> None:  # type: ignore[no-untyped-def]
    staff_accounts.create_staff(gateway.app[DB], "bureau", "Bureau", PASSWORD)
    response = await gateway.post("/staff/login", json={"username": "bureau", "password": PASSWORD})
    assert response.status == 200


QUERY = "period=custom&from=2026-11-01&to=2026-11-30"


async def test_pages_need_login_and_render_text(gateway) -> None:  # type: ignore[no-untyped-def]
    page = await gateway.get("/staff/insights", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/staff/login"
    assert (await gateway.get(f"/staff/insights/materials.csv?{QUERY}")).status == 401
    seed(gateway.app[DB])
    await login(gateway)
    html = await (await gateway.get(f"/staff/insights?{QUERY}")).text()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "secret text" not in html and "WP2026000102" not in html and "WP2026••••02" in html
    assert html.count("<svg") >= 10 and "Promise met, by step · 承诺时限达成率" in html
    exported = await gateway.get(f"/staff/insights/materials.csv?{QUERY}")
    assert exported.headers["Content-Disposition"].endswith('insights-materials-2026-11-01-2026-11-30.csv"')
    table = list(csv.reader(io.StringIO(await exported.text())))
    assert ["change_employer · 更换雇主", "'" + HOSTILE_ITEM, "1"] in table
    report = await (await gateway.get("/staff/insights/report?date=2026-11-09")).text()
    assert "2026-11-01 – 2026-11-30" in report and "Cases reviewed and processed" in report
    assert (await gateway.get("/staff/insights/nope.csv")).status == 404
    assert (await gateway.get("/staff/insights/report?date=soon")).status == 400
    bad = await (await gateway.get("/staff/insights?period=custom&from=x&to=y")).text()
    assert "from must be a date" in bad
    sections = (await (await gateway.get("/staff/api/feedback")).json())["sections"]
    assert sections[0]["section"] == "documents" and HOSTILE_QUESTION in sections[0]["questions"]
    exported = await (await gateway.get("/staff/feedback.csv")).text()
    assert '"\'' + HOSTILE_QUESTION + '"' in exported


# -- in Chromium --------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.browser
def test_insights_page_in_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp import web
    from playwright.sync_api import expect, sync_playwright

    from bot.core.settings import load_settings
    from bot.db.migrate import upgrade
    from bot.gateway.app import create_app
    from bot.processes.stack import free_port
    from tests.test_browser_console import SHOTS, launch

    url = f"sqlite:///{tmp_path / 'insights.db'}"
    upgrade(url)
    database = Database(url)
    seed(database)
    staff_accounts.create_staff(database, "bureau", "Bureau", PASSWORD)
    database.dispose()
    # The staff login accepts only the gateway's own origin (PUBLIC_URL): choose the port before the app reads it.
    port = free_port()
    env = {
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": url,
        "REDIS_URL": "",
        "RASA_URL": "http://127.0.0.1:9",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    for name, value in {**env, "ACTION_ENDPOINT": "http://127.0.0.1:9/webhook"}.items():
        monkeypatch.setenv(name, value)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(load_settings(), retry_in_background=False))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", port)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/staff/login")
            page.fill("#username", "bureau")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{base}/staff")
            page.click("nav [data-view=gaps]")
            expect(page.locator("#feedback tbody")).to_contain_text(HOSTILE_QUESTION)
            assert page.evaluate("window.__pwned") is None
            page.screenshot(path=str(SHOTS / "insights-feedback.png"), full_page=True)
            page.click("a[href='/staff/insights']")
            page.goto(f"{base}/staff/insights?{QUERY}")
            expect(page.locator("#period-label")).to_have_text("2026-11-01 – 2026-11-30")
            expect(page.locator("#t-materials")).to_contain_text("<b>bold</b>")
            assert page.locator("#t-materials b").count() == 0
            assert page.locator("svg.chart").count() >= 10
            page.screenshot(path=str(SHOTS / "insights.png"), full_page=True)
            page.goto(f"{base}/staff/insights/report?date=2026-11-01")
            expect(page.locator("#report")).to_contain_text("Cases reviewed and processed")
            page.screenshot(path=str(SHOTS / "insights-report.png"), full_page=True)
            browser.close()
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
