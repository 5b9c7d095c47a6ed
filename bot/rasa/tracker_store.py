"""A SQL tracker store whose cost per turn does not grow with the length of the conversation.

Rasa's SQLTrackerStore loads, deserialises and replays every event of the session on each message, and the
policies then featurize that whole history although they only look at the last few turns; in a raw Rasa 3.6
server a turn takes ~42 ms at turn 1 and ~520 ms at turn 200. This store loads a bounded window instead:

- the last `TRACKER_WINDOW_TURNS` user turns of the current session, starting at an `action_listen`;
- before them, only the events that carry state: the latest value of each slot, the latest loop, pause and
  resume events, and the session start, so slots, forms and a paused conversation behave exactly as before.

Everything is still written: the full history stays in the `events` table (`retrieve_full_tracker` and
`rasa export` see all of it). Policies here use max_history far below the window, so predictions are the same.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from typing import Any, Iterable

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.shared.utils.common import all_subclasses
from sqlalchemy.orm import sessionmaker

from bot.core.settings import load_settings
from bot.db.engine import make_engine

log = logging.getLogger(__name__)

# Attribute on a tracker object: how many of its events are already in the database.
PERSISTED = "_etown_persisted_events"
BOUNDARY_TYPES = ("session_started", "restart")
STATE_TYPES = ("active_loop", "loop_interrupted", "pause", "resume")


class WindowedSQLTrackerStore(SQLTrackerStore):
    engine: sa.engine.Engine

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        window_turns: int | None = None,
        **kwargs: Any,
    ) -> None:
        settings = load_settings()
        url = host or settings.tracker_store_url
        if url.startswith("sqlite:///"):
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        self.window_turns = window_turns or settings.tracker_window_turns
        kwargs.pop("dialect", None)
        super().__init__(domain=domain, host=url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            # Rasa's own SQLite engine has no pool (a new connection per turn) and no WAL; use the project's engine.
            self.engine.dispose()
            self.engine = make_engine(url)
            self.sessionmaker = sessionmaker(bind=self.engine)
        else:
            # As in make_engine: an error never logs bound parameters (message texts, slots).
            self.engine.hide_parameters = True
        # Lookups by (sender, type) keep the window queries cheap however long a conversation gets.
        index = sa.Index("ix_events_sender_type_id", self.SQLEvent.sender_id, self.SQLEvent.type_name, self.SQLEvent.id)
        try:
            index.create(self.engine, checkfirst=True)
        except sa.exc.DatabaseError:
            # Two Rasa servers starting on a fresh database both saw no index; one of them created it first.
            if index.name not in {i["name"] for i in sa.inspect(self.engine).get_indexes("events")}:
                raise

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._window_rows(session, sender_id)
        if not rows or self.domain is None:
            return None
        tracker = DialogueStateTracker.from_events(sender_id, deserialise(rows), self.domain.slots)
        setattr(tracker, PERSISTED, len(tracker.events))
        return tracker

    def _window_rows(self, session: Any, sender_id: str) -> list[str]:
        """The serialised events of the window (only the `data` column: building ORM objects cost more than SQL)."""
        event = self.SQLEvent
        of_sender = event.sender_id == sender_id
        start_id = (
            session.query(sa.func.max(event.id)).filter(of_sender, event.type_name.in_(BOUNDARY_TYPES)).scalar() or 0
        )
        cut_id = (
            session.query(event.id)
            .filter(
                of_sender, event.id >= start_id, event.type_name == "action", event.action_name == ACTION_LISTEN_NAME
            )
            .order_by(event.id.desc())
            .offset(self.window_turns)
            .limit(1)
            .scalar()
        )
        if cut_id is None:
            return _data(session, sa.and_(of_sender, event.id >= start_id), event)
        reset_id = (
            session.query(sa.func.max(event.id))
            .filter(of_sender, event.id >= start_id, event.id < cut_id, event.type_name == "reset_slots")
            .scalar()
            or start_id
        )
        latest_slots = (
            session.query(sa.func.max(event.id))
            .filter(of_sender, event.id >= reset_id, event.id < cut_id, event.type_name == "slot")
            .group_by(event.action_name)
        )
        latest_state = (
            session.query(sa.func.max(event.id))
            .filter(of_sender, event.id >= start_id, event.id < cut_id, event.type_name.in_(STATE_TYPES))
            .group_by(event.type_name)
        )
        state_ids = sa.or_(event.id == start_id, event.id.in_(latest_slots), event.id.in_(latest_state))
        return _data(session, sa.or_(state_ids, sa.and_(of_sender, event.id >= cut_id)), event)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.session_scope() as session:
            persisted = getattr(tracker, PERSISTED, None)
            if persisted is None:
                new_events: Iterable[Event] = self._events_newer_than_stored(session, tracker)
            else:
                new_events = itertools.islice(tracker.events, persisted, None)
            for item in new_events:
                data = item.as_dict()
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=item.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()
        setattr(tracker, PERSISTED, len(tracker.events))

    def _events_newer_than_stored(self, session: Any, tracker: DialogueStateTracker) -> list[Event]:
        """For a tracker this store did not load (created fresh, or built elsewhere): compare timestamps."""
        latest = (
            session.query(sa.func.max(self.SQLEvent.timestamp))
            .filter(self.SQLEvent.sender_id == tracker.sender_id)
            .scalar()
        )
        if latest is None:
            return list(tracker.events)
        return [item for item in tracker.events if item.timestamp > latest]


def _data(session: Any, condition: Any, event: Any) -> list[str]:
    return list(session.execute(sa.select(event.data).where(condition).order_by(event.id)).scalars())


@functools.lru_cache(maxsize=1)
def _event_classes() -> dict[str, type[Event]]:
    # Rasa's Event.resolve_by_type walks every Event subclass for every event it reads (~a tenth of a turn).
    return {cls.type_name: cls for cls in all_subclasses(Event)}


def deserialise(rows: list[str]) -> list[Event]:
    """Events from their stored JSON, as rasa.shared.core.events.deserialise_events makes them, with the class of
    each event type looked up once; anything unusual goes through Rasa's own path."""
    classes = _event_classes()
    events: list[Event] = []
    for row in rows:
        data = json.loads(row)
        cls = classes.get(data.get("event"))
        event = cls._from_parameters(data) if cls is not None else Event.from_parameters(data)
        if event is not None:
            events.append(event)
    return events
