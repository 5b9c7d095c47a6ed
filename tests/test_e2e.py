"""End to end through the real processes: browser protocol → gateway → Rasa (trained model) → action server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from bot.conversations import store
from bot.db import Database

pytestmark = pytest.mark.slow


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


async def receive(ws, kind: str, timeout: float = 30) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    while True:
        frame = json.loads((await asyncio.wait_for(ws.receive(), timeout)).data)
        if frame["type"] == kind:
            return frame


async def bot_turn(ws, timeout: float = 30) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Bot messages until the bot stops typing."""
    messages: list[dict[str, Any]] = []
    while True:
        frame = json.loads((await asyncio.wait_for(ws.receive(), timeout)).data)
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
    (turn,) = await converse(stack, ['/faq{"section": "fees"}'])
    answer = payload(turn, "guide_answer")
    assert answer is None or answer["section"] != "fees"


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
    """Stop Rasa, send a question (stored, acknowledged, the user told), start Rasa again: the answer arrives."""
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{stack.settings.public_url}/ws") as ws:
        await ws.send_json({"type": "hello"})
        welcome = await receive(ws, "welcome")
        stack.stop_one("rasa")
        try:
            await ws.send_json({"type": "message", "id": "r1", "text": "How much does a work permit cost?"})
            ack = await receive(ws, "ack")
            assert ack["id"] == "r1"
            assert (await receive(ws, "notice"))["code"] == "bot_unavailable"
        finally:
            stack.start_one("rasa")
        answer = payload(await bot_turn(ws, timeout=60), "guide_answer")
        assert answer is not None and answer["section"] == "fees"
    database = Database(stack.settings.database_url)
    try:
        transcript = store.history(database, welcome["conversation"])
        assert [m.role for m in transcript][:1] == ["user"] and store.undelivered_user_messages(database) == []
    finally:
        database.dispose()
