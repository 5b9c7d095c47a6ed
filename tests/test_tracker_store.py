"""The windowed SQL tracker store loads a bounded window yet keeps slots, loops and pauses exactly right."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa.tracker_store import WindowedSQLTrackerStore

DOMAIN = Domain.load("domain.yml")


def turn(i: int) -> list:  # type: ignore[type-arg]
    return [
        ActionExecuted("action_listen"),
        UserUttered(f"question {i}", {"name": "faq", "confidence": 0.9}),
        SlotSet("language", "zh" if i % 2 else "en"),
        ActionExecuted("action_answer_guide"),
        BotUttered(f"answer {i}"),
    ]


def long_tracker(turns: int) -> DialogueStateTracker:
    events = [ActionExecuted("action_session_start"), SessionStarted(), SlotSet("last_section", "fees")]
    for i in range(turns):
        events += turn(i)
        if i == 5:
            events += [ActiveLoop("some_form"), SlotSet("fallback_count", 2.0)]
        if i == 7:
            events += [ActiveLoop(None)]
        if i == 9:
            events += [ConversationPaused()]
        if i == 11:
            events += [ConversationResumed(), ConversationPaused()]
    return DialogueStateTracker.from_events("u1", events, DOMAIN.slots)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    return request.getfixturevalue("postgres_url")


async def test_window_keeps_state_and_is_bounded(store_url) -> None:  # type: ignore[no-untyped-def]
    store = WindowedSQLTrackerStore(DOMAIN, host=store_url, window_turns=3)
    full = long_tracker(40)
    await store.save(full)
    loaded = await store.retrieve("u1")
    assert loaded is not None
    assert loaded.current_slot_values() == full.current_slot_values()
    assert loaded.slots["last_section"].value == "fees"  # set at the very start, far outside the window
    assert loaded.active_loop_name == full.active_loop_name is None
    assert loaded.is_paused() and full.is_paused()
    assert len(loaded.events) < 30 < len(full.events)
    assert loaded.latest_message.text == "question 39"
    everything = await store.retrieve_full_tracker("u1")
    assert len(everything.events) == len(full.events)


async def test_saving_a_loaded_tracker_appends_only_new_events(store_url) -> None:  # type: ignore[no-untyped-def]
    store = WindowedSQLTrackerStore(DOMAIN, host=store_url, window_turns=2)
    await store.save(long_tracker(10))
    with store.engine.connect() as connection:
        before = connection.execute(sa.text("SELECT count(*) FROM events WHERE sender_id='u1'")).scalar()
    loaded = await store.retrieve("u1")
    for event in turn(10):
        loaded.update(event)
    await store.save(loaded)
    with store.engine.connect() as connection:
        after = connection.execute(sa.text("SELECT count(*) FROM events WHERE sender_id='u1'")).scalar()
    assert after - before == len(turn(10))
    again = await store.retrieve("u1")
    assert again.latest_message.text == "question 10"


async def test_a_new_session_starts_a_new_window(store_url) -> None:  # type: ignore[no-untyped-def]
    store = WindowedSQLTrackerStore(DOMAIN, host=store_url, window_turns=3)
    tracker = long_tracker(6)
    for event in [ActionExecuted("action_session_start"), SessionStarted(), *turn(99)]:
        tracker.update(event)
    await store.save(tracker)
    loaded = await store.retrieve("u1")
    assert [e.text for e in loaded.events if isinstance(e, UserUttered)] == ["question 99"]


def test_deserialise_matches_rasa_for_every_event_kind() -> None:
    from rasa.shared.core.events import (
        ActionExecutionRejected,
        ActionReverted,
        AgentUttered,
        AllSlotsReset,
        EntitiesAdded,
        FollowupAction,
        LoopInterrupted,
        ReminderCancelled,
        ReminderScheduled,
        Restarted,
        SessionStarted,
        StoryExported,
        UserUtteranceReverted,
        deserialise_events,
    )

    from bot.rasa.tracker_store import deserialise

    tracker = long_tracker(12)
    others = [
        ActionExecutionRejected("action_x"),
        ActionReverted(),
        AgentUttered("agent"),
        AllSlotsReset(),
        EntitiesAdded([{"entity": "language", "value": "en"}]),
        FollowupAction("action_y"),
        LoopInterrupted(True),
        ReminderCancelled(name="r"),
        ReminderScheduled("intent_r", trigger_date_time=datetime(2026, 1, 1), name="r"),
        Restarted(),
        SessionStarted(),
        StoryExported("path"),
        UserUtteranceReverted(),
    ]
    rows = [json.dumps(e.as_dict()) for e in [*tracker.events, *others]]
    rows.append(json.dumps({"event": "topic", "topic": "legacy"}))
    ours = deserialise(rows)
    theirs = deserialise_events([json.loads(r) for r in rows])
    assert [e.as_dict() for e in ours] == [e.as_dict() for e in theirs]
    assert len(ours) == len(tracker.events) + len(others)
