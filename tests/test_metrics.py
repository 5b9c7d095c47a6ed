"""/metrics: turns counted by the outcome the bot's payload states, latency, errors, queue, case lookups and locks;
each gateway app has its own registry."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.core import payload
from bot.core.metrics import Metrics
from tests.gateway_support import ChatClient
from tests.test_gateway_cases import add_case, case_form, start


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    response = await gateway.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(await response.text())


def turns(scraped: dict[Any, float], outcome: str) -> float:
    return scraped[("etown_turns_total", (("outcome", outcome),))]


def reply_for(text: str) -> list[dict[str, Any]]:
    """A scripted bot whose payloads say what each turn was (the shapes the real actions send)."""
    if text == "fees?":
        custom = {
            "type": "guide_answer",
            "section": "fees",
            "topic": "fees",
            "lang": "en",
            "title": "Fees",
            "source_url": None,
            "reviewed": "2026-01-01",
        }
    elif text == "which one?":
        custom = payload.clarify("en", [{"title": "Fees", "payload": '/faq{"section": "fees"}'}])
    elif text == "weather?":
        custom = payload.clarify("en", [], reason=payload.REASON_NOT_COVERED)
    else:
        return [{"text": "hello"}]
    return [{"text": "…"}, {"custom": custom}]


async def test_a_turn_moves_its_outcome_counter_and_the_latency_histogram(gateway, rasa) -> None:
    rasa.reply = reply_for
    before = await scrape(gateway)
    assert turns(before, "answered") == 0 and before[("etown_turn_seconds_count", ())] == 0
    client = ChatClient(await gateway.ws_connect("/ws"))
    await client.hello()
    for n, text in enumerate(["fees?", "which one?", "weather?", "hi", "fees?"]):
        await client.send({"type": "message", "id": f"m{n}", "text": text})
        await client.next("typing", active=False)
    after = await scrape(gateway)
    assert [turns(after, o) for o in ("answered", "choice", "not_covered", "handoff", "other")] == [2, 1, 1, 0, 1]
    assert after[("etown_turn_seconds_count", ())] == 5
    assert after[("etown_turn_seconds_sum", ())] > 0
    assert after[("etown_queue_length", ())] == 0
    assert ("etown_open_conversation_topics", ()) in after


async def test_rasa_down_counts_an_error_and_no_turn(gateway, rasa) -> None:
    rasa.up = False
    client = ChatClient(await gateway.ws_connect("/ws"))
    await client.hello()
    await client.send({"type": "message", "id": "x", "text": "anyone there?"})
    await client.next("notice", code="bot_unavailable")
    after = await scrape(gateway)
    assert after[("etown_bot_errors_total", (("kind", "rasa"),))] == 1
    assert after[("etown_bot_errors_total", (("kind", "actions"),))] == 0
    assert sum(turns(after, o) for o in payload.OUTCOMES) == 0


async def test_actions_unavailable_is_counted_as_an_action_error(gateway, rasa) -> None:
    rasa.reply = lambda text: [{"custom": {"type": payload.ACTIONS_UNAVAILABLE}}]
    client = ChatClient(await gateway.ws_connect("/ws"))
    await client.hello()
    await client.send({"type": "message", "id": "x", "text": "my checklist"})
    await client.next("notice", code="bot_unavailable")
    after = await scrape(gateway)
    assert after[("etown_bot_errors_total", (("kind", "actions"),))] == 1


async def test_failed_lookups_are_counted_and_the_lock_once(gateway, rasa) -> None:
    add_case(gateway)
    rasa.reply = case_form
    client, _ = await start(gateway)
    for attempt in range(4):
        if attempt:  # each failed check ends the form: ask again
            for text in ("where is my application?", "WP2026000001"):
                await client.send({"type": "message", "id": f"{text}{attempt}", "text": text})
                await client.next("typing", active=False)
        await client.send({"type": "verify", "id": f"v{attempt}", "passport": "X0000000"})
        await client.next("typing", active=False)
    after = await scrape(gateway)
    lookups = {o: after.get(("etown_case_lookups_total", (("outcome", o),)), 0) for o in ("denied", "locked")}
    assert lookups == {"denied": 2, "locked": 2}  # the third failure locks; the fourth is refused while locked
    assert after[("etown_case_lookup_locks_total", ())] == 1


def test_each_metrics_object_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.turn([("", {"custom": {"type": "handoff"}})], 0.1)
    assert samples(one.render({}, 3).decode())[("etown_turns_total", (("outcome", "handoff"),))] == 1
    scraped = samples(two.render({}, 0).decode())
    assert scraped[("etown_turns_total", (("outcome", "handoff"),))] == 0
    assert scraped[("etown_queue_length", ())] == 0
