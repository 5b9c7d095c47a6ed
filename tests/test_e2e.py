"""End to end through the real processes: browser protocol → gateway → Rasa (trained model) → action server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from bot.conversations import store
from bot.db import Database
from bot.processes.specs import STARTUP_TIMEOUT_S
from bot.rasa.endpoints import rasa_token
from tests.gateway_support import eventually

pytestmark = pytest.mark.slow
# Generous on purpose: a turn takes about a second here, but a loaded machine must not fail a test by slowness.
TURN_TIMEOUT_S = 90.0
# Starting the Rasa servers again (one after the other, each bounded by the supervisor's own start-up timeout).
RESTART_TIMEOUT_S = 2 * STARTUP_TIMEOUT_S + TURN_TIMEOUT_S


async def converse(stack, texts: list[str]) -> list[list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """Send each text in one conversation; return the bot messages of each turn."""
    turns = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{stack.settings.public_url}/ws") as ws:
        await ws.send_json({"type": "hello"})
        await receive(ws, "welcome")
        for i, text in enumerate(texts):
            await ws.send_json({"type": "message", "id": f"m{i}", "text": text})
            turns.append(await bot_turn(ws))
    return turns


class Reader:
    """Reads every frame as it arrives, in a task of its own, whatever the test is waiting for meanwhile: aiohttp's
    client answers the gateway's heartbeat pings only inside receive(), and the gateway rightly drops a client
    that has not answered one (25 s, then 12.5 s for the pong) as gone."""

    CLOSED = {"type": "closed"}

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.put_nowait(json.loads(message.data))
        self.frames.put_nowait(self.CLOSED)

    async def next(self, timeout: float) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.frames.get(), timeout)
        assert frame is not self.CLOSED, "the gateway closed the connection"
        return frame


async def next_frame(ws, timeout: float) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The next frame from a WebSocket, or from a Reader of one."""
    if isinstance(ws, Reader):
        return await ws.next(timeout)
    return json.loads((await asyncio.wait_for(ws.receive(), timeout)).data)


async def receive(ws, kind: str, timeout: float = TURN_TIMEOUT_S) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    while True:
        frame = await next_frame(ws, timeout)
        if frame["type"] == kind:
            return frame


async def bot_turn(ws, timeout: float = TURN_TIMEOUT_S) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Bot messages until the bot stops typing."""
    messages: list[dict[str, Any]] = []
    while True:
        frame = await next_frame(ws, timeout)
        if frame["type"] == "message" and frame["role"] == "bot":
            messages.append(frame)
        elif frame["type"] == "typing" and not frame["active"] and messages:
            return messages


def payload(messages: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((m["custom"] for m in messages if (m.get("custom") or {}).get("type") == kind), None)


@pytest.mark.parametrize(
    ("question", "section", "lang"),
    [
        ("How many days before my work permit expires should we apply to extend it?", "extension", "en"),
        ("外籍员工离职了，公司要在多少天内注销他的工作许可？", "cancellation", "zh"),
        ("申请Z visa 需要什么材料?", "z_visa", "zh"),
        ("I lost my work permit card yesterday, what should I do", "replacement", "en"),
    ],
)
async def test_questions_get_the_right_section_in_the_language_asked(stack, question, section, lang) -> None:  # type: ignore[no-untyped-def]
    (turn,) = await converse(stack, [question])
    answer = payload(turn, "guide_answer")
    assert answer is not None, turn
    assert answer["section"] == section and answer["lang"] == lang
    assert answer["source_url"].startswith("http") and answer["reviewed"]


async def test_greeting_follows_the_language_of_the_message(stack) -> None:  # type: ignore[no-untyped-def]
    english, chinese = await converse(stack, ["hello", "你好"])
    assert english[0]["text"].startswith("Hello") and chinese[0]["text"].startswith("您好")


async def test_not_covered_question_is_said_plainly(stack) -> None:  # type: ignore[no-untyped-def]
    (turn,) = await converse(stack, ["Can you recommend a hotpot restaurant near Yizhuang subway station?"])
    assert payload(turn, "guide_answer") is None
    assert any("/human_handoff" in json.dumps(m.get("buttons", [])) for m in turn)


async def test_typed_intent_injection_is_just_text(stack) -> None:  # type: ignore[no-untyped-def]
    # Asserted on Rasa's own record of the turn, not on the reply: the words "faq section fees" may rightly lead
    # the language model to the fees section, but an executed command would carry Rasa's one-intent ranking and
    # the typed entity, with the text as typed.
    typed = '/faq{"section": "fees"}'
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{stack.settings.public_url}/ws") as ws:
            await ws.send_json({"type": "hello"})
            welcome = await receive(ws, "welcome")
            await ws.send_json({"type": "message", "id": "inject", "text": typed})
            await bot_turn(ws)
        base = stack.settings.rasa_urls[0]
        async with session.get(
            f"{base}/conversations/{welcome['conversation']}/tracker",
            params={"token": rasa_token(stack.settings), "include_events": "AFTER_RESTART"},
        ) as response:
            assert response.status == 200
            tracker = await response.json()
    (user,) = [e for e in tracker["events"] if e["event"] == "user"]
    assert user["text"] != typed and user["text"].endswith(typed[1:])
    parse = user["parse_data"]
    assert len(parse["intent_ranking"]) > 1, parse
    assert not [e for e in parse["entities"] if e.get("value") == "fees" and not e.get("extractor")], parse


async def test_clarify_buttons_lead_to_the_chosen_section(stack) -> None:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{stack.settings.public_url}/ws") as ws:
        await ws.send_json({"type": "hello"})
        await receive(ws, "welcome")
        await ws.send_json({"type": "message", "id": "q", "text": "problem with my permit"})
        turn = await bot_turn(ws)
        buttons = next((m["buttons"] for m in turn if m.get("buttons")), [])
        section_buttons = [b for b in buttons if b["payload"].startswith("/faq")]
        assert section_buttons, turn
        chosen = section_buttons[0]
        await ws.send_json({"type": "button", "id": "b", "payload": chosen["payload"], "title": chosen["title"]})
        answer = payload(await bot_turn(ws), "guide_answer")
        assert answer is not None and answer["section"] == json.loads(chosen["payload"][4:])["section"]


async def test_language_switch_overrides_detection(stack) -> None:  # type: ignore[no-untyped-def]
    _, turn = await converse(stack, ["/lang zh", "How do I cancel a work permit?"])
    answer = payload(turn, "guide_answer")
    assert answer is not None and answer["lang"] == "zh"


async def test_a_rasa_restart_loses_no_message(stack) -> None:  # type: ignore[no-untyped-def]
    """Stop Rasa, send a question (stored, acknowledged, the user told), start Rasa again: the answer arrives, once.
    Rasa takes a while to start; the client reads all along (a Reader), as a browser would."""
    servers = [child.name for child in stack.processes if child.name.startswith("rasa")]
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{stack.settings.public_url}/ws") as ws:
        frames = Reader(ws)
        await ws.send_json({"type": "hello"})
        welcome = await receive(frames, "welcome")
        await asyncio.to_thread(stop_all, stack, servers)
        restart: asyncio.Task[None] | None = None
        turn: asyncio.Task[list[dict[str, Any]]] | None = None
        try:
            await ws.send_json({"type": "message", "id": "r1", "text": "How much does a work permit cost?"})
            ack = await receive(frames, "ack")
            assert ack["id"] == "r1" and not ack["duplicate"]
            notice = await receive(frames, "notice")
            assert notice["code"] == "bot_unavailable" and notice["seq"] == ack["seq"]
            restart = asyncio.create_task(asyncio.to_thread(start_all, stack, servers))
            turn = asyncio.create_task(bot_turn(frames, timeout=RESTART_TIMEOUT_S))
            await asyncio.wait({restart, turn}, return_when=asyncio.FIRST_COMPLETED)
            if restart.done():
                restart.result()  # Rasa did not come back: say so rather than time out waiting for the answer
            answers = [m for m in await turn if (m.get("custom") or {}).get("type") == "guide_answer"]
            assert [m["custom"]["section"] for m in answers] == ["fees"]
            await restart  # every Rasa server back (the Reader keeps answering pings meanwhile)
            # A later turn closes the window in which a second answer to r1 could still have arrived.
            await ws.send_json({"type": "message", "id": "r2", "text": "hello"})
            later = await bot_turn(frames)
            assert payload(later, "guide_answer") is None
        finally:
            if turn is not None:
                turn.cancel()
            if restart is None:
                await asyncio.to_thread(start_all, stack, servers)
            else:
                await restart
            frames.task.cancel()
    database = Database(stack.settings.database_url)
    try:
        transcript = store.history(database, welcome["conversation"])
        assert [m.role for m in transcript][:1] == ["user"] and store.undelivered_user_messages(database) == []
        assert [m.client_id for m in transcript if m.role == "user"] == ["r1", "r2"]
        answers = [(m.payload or {}).get("custom") or {} for m in transcript if m.role == "bot"]
        assert [a["section"] for a in answers if a.get("type") == "guide_answer"] == ["fees"]
    finally:
        database.dispose()


def stop_all(stack, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    for name in names:
        stack.stop_one(name)


def start_all(stack, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    """One after the other: each start rewrites the endpoints file the next one reads."""
    for name in names:
        stack.start_one(name)


async def run_steps(stack, steps: list[dict[str, Any]]) -> tuple[str, list[list[dict[str, Any]]]]:  # type: ignore[no-untyped-def]
    """Send frames (message / button / verify) in one conversation; return its id and each turn's bot messages."""
    turns = []
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{stack.settings.public_url}/ws") as ws:
        await ws.send_json({"type": "hello"})
        conversation = (await receive(ws, "welcome"))["conversation"]
        for i, step in enumerate(steps):
            await ws.send_json({"id": f"s{i}", **step})
            turns.append(await bot_turn(ws))
    return conversation, turns


def seed_case(stack, number: str, passport: str, stage_path: list[str]) -> None:  # type: ignore[no-untyped-def]
    from bot.cases import service
    from bot.cases.identifiers import PassportHasher
    from bot.cases.service import NewCase

    database = Database(stack.settings.database_url)
    try:
        hasher = PassportHasher(stack.settings.secret_key)
        service.create_case(database, NewCase(number, "extension", "E2E Person", passport, "B"), hasher, "e2e")
        for stage in stage_path:
            if stage == "materials_requested":
                service.request_materials(database, number, ["Criminal record certificate"], "e2e")
            else:
                service.move_case(database, number, stage, "e2e")
    finally:
        database.dispose()


async def test_case_status_in_english_with_the_secure_form(stack) -> None:  # type: ignore[no-untyped-def]
    seed_case(stack, "WP2026000501", "K55501234", ["preliminary_review", "materials_requested"])
    _, turns = await run_steps(
        stack,
        [
            {"type": "message", "text": "Can you check where my application is?"},
            {"type": "message", "text": "wp 2026 000 501"},
            {"type": "verify", "passport": "K55501234"},
        ],
    )
    assert "application number" in turns[0][0]["text"].lower()
    request = payload(turns[1], "verify_request")
    assert request["case"] == "••••••••••01" and request["ref"].startswith("ref-")  # never the number itself
    status = payload(turns[2], "case_status")
    assert status["stage"] == "materials_requested" and status["missing"] == ["Criminal record certificate"]
    assert status["lang"] == "en" and status["case"] == "WP2026••••01"


async def test_case_status_in_chinese_with_a_typed_passport_and_a_bad_number_first(stack) -> None:  # type: ignore[no-untyped-def]
    seed_case(stack, "WP2026000502", "K55502345", ["preliminary_review", "accepted", "under_review"])
    _, turns = await run_steps(
        stack,
        [
            {"type": "message", "text": "帮我查一下我的申请到哪一步了"},
            {"type": "message", "text": "12345"},
            {"type": "message", "text": "ＷＰ２０２６０００５０２"},
            {"type": "message", "text": "护照号 K55502345"},
        ],
    )
    assert "申请编号" in turns[0][0]["text"]
    assert "不像申请编号" in turns[1][0]["text"] and "WP" not in turns[1][0]["text"]  # no invented format
    status = payload(turns[3], "case_status")
    assert status["stage"] == "under_review" and status["lang"] == "zh" and status["due"]
    assert status["on_time"] is True


async def test_wrong_passport_and_unknown_number_get_the_same_reply(stack) -> None:  # type: ignore[no-untyped-def]
    seed_case(stack, "WP2026000503", "K55503456", [])
    replies = []
    for number in ("WP2026000503", "WP2026009998"):
        _, turns = await run_steps(
            stack,
            [
                {"type": "message", "text": "check my case status please"},
                {"type": "message", "text": number},
                {"type": "verify", "passport": "Z99999999"},
            ],
        )
        replies.append([m["text"] for m in turns[2]])
    assert replies[0] == replies[1]


async def test_no_passport_number_anywhere_after_a_lookup(stack) -> None:  # type: ignore[no-untyped-def]
    """Passports typed in the wrong field, in odd shapes, beside the number and outside the form: searched for in
    every table of the assistant's database, Rasa's tracker store and every log (the real stack)."""
    import sqlalchemy as sa

    seed_case(stack, "WP2026000504", "Q77712345", ["preliminary_review"])
    seed_case(stack, "WP2026000505", "87654321", ["preliminary_review"])
    await run_steps(
        stack,
        [
            {"type": "message", "text": "status of my application WP2026000504 please"},
            {"type": "verify", "passport": "Q77712345"},
            {"type": "message", "text": "and my passport number is Q77712345 by the way"},
        ],
    )
    _, turns = await run_steps(
        stack,
        [
            {"type": "message", "text": "where is my application?"},
            {"type": "message", "text": "87654321"},  # the passport typed at the number prompt
            {"type": "message", "text": "check my case status please"},
            {"type": "message", "text": "WP2026000505 87654321"},  # the number, and the passport beside it
            {"type": "message", "text": "8765 4321"},
            {"type": "message", "text": "my application status? passport abc1234567"},
        ],
    )
    assert payload(turns[4], "case_status") is not None  # the spaced all-digit passport was the check
    haystacks = []
    for url in (stack.settings.database_url, stack.settings.tracker_store_url):
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            for table in sa.inspect(engine).get_table_names():
                rows = connection.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall()
                haystacks.append(repr(rows))
        engine.dispose()
    for log in (stack.settings.var_dir / "logs").glob("*.log"):
        haystacks.append(log.read_text(errors="replace"))
    everything = "\n".join(haystacks).upper()
    assert "WP2026000504" in everything  # the search does see what was stored
    for passport in ("Q77712345", "87654321", "ABC1234567"):
        assert passport not in everything and passport not in everything.replace(" ", "")


async def test_checklist_for_a_first_application_from_abroad(stack) -> None:  # type: ignore[no-untyped-def]
    _, turns = await run_steps(
        stack,
        [
            {"type": "message", "text": "What documents do I need?"},
            {"type": "button", "payload": '/inform{"procedure": "first_application"}', "title": "First application"},
            {"type": "button", "payload": '/inform{"location": "outside"}', "title": "Outside China"},
            {"type": "button", "payload": '/inform{"permit_category": "B"}', "title": "Category B"},
            {"type": "button", "payload": '/inform{"situation": "degree_hk_macau_taiwan"}', "title": "HK degree"},
            {"type": "button", "payload": '/inform{"situation": "none"}', "title": "None / done"},
        ],
    )
    checklist = payload(turns[-1], "checklist")
    assert checklist is not None and checklist["procedure"] == "notification_letter"
    assert checklist["category"] == "B" and checklist["situations"] == ["degree_hk_macau_taiwan"]
    assert checklist["print_url"].startswith(stack.settings.public_url + "/checklist/notification_letter?")
    async with aiohttp.ClientSession() as session, session.get(checklist["print_url"]) as page:
        html = await page.text()
    assert page.status == 200 and all(item["name"] in html for item in checklist["items"])


async def test_an_answer_about_extension_leads_to_its_checklist_without_asking_the_procedure(stack) -> None:  # type: ignore[no-untyped-def]
    _, turns = await run_steps(
        stack,
        [
            {"type": "message", "text": "工作许可怎么延期"},
            {"type": "button", "payload": '/request_checklist{"procedure": "extension"}', "title": "生成我的材料清单"},
            {"type": "button", "payload": '/inform{"permit_category": "A"}', "title": "A类"},
        ],
    )
    assert payload(turns[0], "guide_answer")["section"] == "extension"  # type: ignore[index]
    assert "A类" in turns[1][0]["text"] and "B类" in turns[1][0]["text"]
    checklist = payload(turns[2], "checklist")
    assert checklist is not None and checklist["procedure"] == "extension" and checklist["lang"] == "zh"


async def test_handoff_to_staff_and_back_to_the_bot(stack) -> None:  # type: ignore[no-untyped-def]
    """Question → handoff → claim → reply reaches the applicant → resolve → the bot answers again."""
    from bot.handoff import staff_accounts

    database = Database(stack.settings.database_url)
    staff_accounts.create_staff(database, "e2e-staff", "Wang Fang", "a long enough password")
    database.dispose()
    base = stack.settings.public_url
    # aiohttp only keeps cookies of IP-address hosts with an "unsafe" jar (browsers keep them anyway).
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as staff, aiohttp.ClientSession() as applicant:
        login = await staff.post(
            f"{base}/staff/login", json={"username": "e2e-staff", "password": "a long enough password"}
        )
        headers = {"X-CSRF-Token": (await login.json())["csrf"]}
        async with applicant.ws_connect(f"{base}/ws") as ws:
            await ws.send_json({"type": "hello"})
            await receive(ws, "welcome")
            await ws.send_json({"type": "message", "id": "q", "text": "How much does a work permit cost?"})
            assert payload(await bot_turn(ws), "guide_answer")["section"] == "fees"
            await ws.send_json({"type": "message", "id": "h", "text": "I want to talk to a real person"})
            handoff = payload(await bot_turn(ws), "handoff")
            assert handoff is not None and handoff["office_open"] is True and handoff["queue_position"] >= 1
            ticket = handoff["ticket"]

            detail = await (await staff.get(f"{base}/staff/api/tickets/{ticket}")).json()
            assert "How much does a work permit cost?" in detail["ticket"]["summary"]
            assert any((m.get("custom") or {}).get("section") == "fees" for m in detail["transcript"])
            assert (
                await staff.post(f"{base}/staff/api/tickets/{ticket}/claim", json={}, headers=headers)
            ).status == 200
            joined = await receive(ws, "message")
            assert joined["role"] == "system" and "Wang Fang" in joined["text"]

            await ws.send_json({"type": "message", "id": "w", "text": "Is the residence permit free as well?"})
            await receive(ws, "ack")
            reply = {"text": "The residence permit has a fee: CNY 400 for under a year."}
            assert (
                await staff.post(f"{base}/staff/api/tickets/{ticket}/reply", json=reply, headers=headers)
            ).status == 200
            answer = await receive(ws, "message")
            while answer["role"] != "staff":
                answer = await receive(ws, "message")
            assert answer["text"] == reply["text"] and answer["author"] == "Wang Fang"

            done = {"reason": "answered", "note": "fees explained"}
            assert (
                await staff.post(f"{base}/staff/api/tickets/{ticket}/resolve", json=done, headers=headers)
            ).status == 200
            rating = await receive(ws, "message")
            while rating["role"] != "bot":
                rating = await receive(ws, "message")
            assert "rate" in rating["text"].lower() and len(rating["buttons"]) == 5
            await ws.send_json({"type": "button", "id": "r", "payload": rating["buttons"][4]["payload"], "title": "5"})
            await bot_turn(ws)
            await ws.send_json({"type": "message", "id": "again", "text": "How do I cancel a work permit?"})
            again = payload(await bot_turn(ws), "guide_answer")
            assert again is not None and again["section"] in ("cancellation", "cancellation_mistakes")
    database = Database(stack.settings.database_url)
    try:
        from bot.handoff import tickets

        view = tickets.get_ticket(database, ticket)
        assert view.status == "resolved" and view.satisfaction == 5
    finally:
        database.dispose()


async def test_gateway_restart_keeps_open_tickets_and_messages(stack) -> None:  # type: ignore[no-untyped-def]
    from bot.handoff import tickets

    base = stack.settings.public_url
    async with aiohttp.ClientSession() as applicant, applicant.ws_connect(f"{base}/ws") as ws:
        await ws.send_json({"type": "hello"})
        conversation = (await receive(ws, "welcome"))["conversation"]
        await ws.send_json({"type": "message", "id": "p", "text": "human agent please"})
        ticket = payload(await bot_turn(ws), "handoff")["ticket"]
    stack.stop_one("gateway")
    stack.start_one("gateway")
    database = Database(stack.settings.database_url)
    try:
        assert ticket in [t.id for t in tickets.list_tickets(database)]
        async with aiohttp.ClientSession() as applicant, applicant.ws_connect(f"{base}/ws") as ws:
            await ws.send_json({"type": "hello", "conversation": conversation})
            welcome = await receive(ws, "welcome")
            assert welcome["state"] == "queued"
            await ws.send_json({"type": "message", "id": "after", "text": "still waiting"})
            await receive(ws, "ack")
        # Acknowledged means stored; handing it to the staff side (the conversation is queued) follows at once.
        await eventually(lambda: store.undelivered_user_messages(database) == [], what="the message delivered")
        transcript = store.history(database, conversation)
        assert transcript[-1].text == "still waiting" and store.undelivered_user_messages(database) == []
    finally:
        database.dispose()
