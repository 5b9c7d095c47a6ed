"""Deadlines and follow-ups end to end: browser protocol → gateway → Rasa (trained model) → action server."""

from __future__ import annotations

import aiohttp
import pytest

from tests.test_e2e import converse, payload

pytestmark = pytest.mark.slow


async def test_a_date_gives_deadlines_and_a_follow_up_keeps_the_procedure(stack) -> None:  # type: ignore[no-untyped-def]
    question = "our engineer's permit runs out on 15 March 2027 — what is the last day to file?"
    turns = await converse(stack, [question, "which papers for that one?"])
    answer = payload(turns[0], "guide_answer")
    assert answer is not None and answer["section"] == "extension"
    assert {d["rule"]: d["date"] for d in answer["deadlines"]}["extension_latest"] == "2027-02-13"
    checklist = payload(turns[1], "checklist")
    assert checklist is not None and checklist["procedure"] == "extension"
    async with aiohttp.ClientSession() as session, session.get(answer["ics_url"]) as calendar:
        assert calendar.status == 200 and "DTSTART;VALUE=DATE:20270213" in await calendar.text()


async def test_chinese_follow_up_switches_procedure(stack) -> None:  # type: ignore[no-untyped-def]
    turns = await converse(stack, ["外籍员工的工作许可怎么延期？", "如果是注销呢？"])
    follow = payload(turns[1], "guide_answer")
    assert follow is not None and follow["section"] == "cancellation" and follow["lang"] == "zh"
