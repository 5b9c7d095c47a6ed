"""Delivery of stored user messages to whoever is in charge, and retries.

A user message is delivered to Rasa while the bot is in charge, to staff while a person is. Replies are stored in
the same transaction that marks the user message delivered; in that transaction the router also reads what the turn
changed (the ticket an action opened), and the resulting events go to the one publisher. A message that could not
be delivered (Rasa down) stays undelivered and is retried in order, so a restart of any process loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from bot.cases import checks
from bot.conversations import events, store
from bot.conversations.commands import Reply, language_command, neutralize, with_language
from bot.conversations.events import STAFF_STATES, Event, MessageAdded, Notice, Typing
from bot.conversations.hub import Hub
from bot.conversations.publisher import Publisher
from bot.conversations.store import ConversationInfo, StoredMessage
from bot.core import payload as contract
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.db import Database
from bot.handoff import tickets
from bot.nlu.language import detect_language, reply_language
from bot.rasa.client import RasaClient, RasaUnavailable, bot_items
from bot.rasa.endpoints import rasa_token
from bot.texts import t

log = logging.getLogger(__name__)


class Delivery:
    def __init__(
        self, db: Database, rasa: RasaClient, hub: Hub, publisher: Publisher, settings: Settings, metrics: Metrics
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.rasa = rasa
        self.hub = hub
        self.publisher = publisher
        self.settings = settings
        # One lock per conversation keeps its turns in order; unused locks disappear with their last user.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[bool]] = set()
        # Exactly once across crashes: a message this process stored itself and never sent cannot be in Rasa's
        # tracker yet; any other (a retry, a resend after a gateway restart) is first looked up there.
        self._started_at = datetime.now(timezone.utc)
        self._attempted: set[int] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def soon(self, conversation_id: str, message: StoredMessage) -> None:
        """Deliver in the background (in order per conversation), so acknowledgements are never delayed."""
        task = asyncio.create_task(self._deliver_or_leave(conversation_id, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_or_leave(self, conversation_id: str, message: StoredMessage) -> bool:
        """A first attempt that fails on a store (Redis or the database down) leaves the message undelivered, for
        the retry loop; said once in the log instead of as an unretrieved task exception."""
        try:
            return await self.deliver(conversation_id, message, first_attempt=True)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the stored message waits for the retry loop
            log.warning("message %s of %s left for the retry loop: %r", message.seq, conversation_id[:8], exc)
            return False

    @contextlib.asynccontextmanager
    async def _turn(self, conversation_id: str) -> AsyncIterator[None]:
        """One turn at a time per conversation: this process's lock, and the hub's across gateways (Rasa's
        in-memory locks are per server, so only the gateway can keep a turn from reaching two servers at once)."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock, self.hub.conversation_lock(conversation_id):
            yield

    async def deliver(self, conversation_id: str, message: StoredMessage, first_attempt: bool = False) -> bool:
        """Hand one stored user message to whoever is in charge; True once it has been delivered."""
        async with self._turn(conversation_id):
            delivered, conversation = await asyncio.to_thread(
                store.pending_delivery, self.db, conversation_id, message.seq
            )
            if delivered:
                return True
            if conversation is None:
                return False
            answered = language_command(conversation, message)
            if answered is not None:
                if answered.choice is not None:
                    await asyncio.to_thread(store.set_language, self.db, conversation_id, choice=answered.choice)
                await self._reply(conversation, message.seq, answered.replies)
                return True
            if conversation.state in STAFF_STATES:
                return await self._to_staff(conversation, message)
            if conversation.state == "resolved" and not await self._resume(conversation_id):
                return False
            return await self._to_bot(conversation, message, first_attempt)

    async def _to_staff(self, conversation: ConversationInfo, message: StoredMessage) -> bool:
        """While a person is in charge the bot never answers: the message is the staff's to read."""
        await asyncio.to_thread(store.record_replies, self.db, conversation.id, message.seq, "bot", [])
        ticket = await asyncio.to_thread(tickets.open_ticket_of, self.db, conversation.id)
        await self.publisher.publish(
            [
                MessageAdded(conversation.id, message, to_applicant=False, to_staff=True, ticket=ticket),
                # The turn ends here for the applicant's client too: the bot will not answer this message.
                Typing(conversation.id, "bot", False, turn=message.seq),
            ]
        )
        return True

    async def _to_bot(self, conversation: ConversationInfo, message: StoredMessage, first_attempt: bool) -> bool:
        payload = message.payload or {}
        internal = payload.get("command") or payload.get("button")
        metadata: dict[str, Any] = {}
        if conversation.language_choice:
            metadata["language"] = conversation.language_choice
        if isinstance(internal, str):
            # Rasa reads a payload without running language detection: say the conversation's language in it.
            # Deliberately not reply_language(): the stored text of a payload is its label, the bot's words
            # ("Talk to a person · 转人工" reads as English), not the user's; and while no language is known none
            # is claimed (no default), so the slot stays empty until the user types. Same order otherwise.
            text = with_language(internal, conversation.language_choice or conversation.language)
        else:
            text = neutralize(message.text)
            detected = detect_language(message.text)
            if detected and detected != conversation.language:
                await asyncio.to_thread(store.set_language, self.db, conversation.id, current=detected)
        await self.publisher.publish([Typing(conversation.id, "bot", True)])
        may_have_reached = not first_attempt or message.seq in self._attempted or not self._stored_here(message)
        self._attempted.add(message.seq)
        sent_at = time.perf_counter()
        try:
            replies = await self.rasa.send(
                conversation.id, text, metadata, seq=message.seq, may_have_reached=may_have_reached
            )
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for %s: %s", conversation.id[:8], exc)
            self.metrics.bot_error(exc)
            said: list[Event] = [Typing(conversation.id, "bot", False)]
            if first_attempt:
                language = reply_language(conversation.language_choice, message.text, conversation.language)
                notice = t("conversations.unavailable", language)
                said.append(Notice(conversation.id, "bot_unavailable", notice, message.seq))
            await self.publisher.publish(said)
            return False
        self.metrics.turn(bot_items(replies), time.perf_counter() - sent_at)
        await self._reply(conversation, message.seq, bot_items(replies))
        self._attempted.discard(message.seq)
        return True

    def _stored_here(self, message: StoredMessage) -> bool:
        """Stored after this process started (SQLite gives naive UTC times)."""
        created = message.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        return created >= self._started_at

    async def _reply(self, conversation: ConversationInfo, user_seq: int, items: list[Reply]) -> None:
        changed = await asyncio.to_thread(self._record_turn, conversation, user_seq, items)
        await self._follow_case_form(conversation.id, items)
        # "Stopped typing" closes the turn: clients know every reply to this message has arrived.
        await self.publisher.publish([*changed, Typing(conversation.id, "bot", False, turn=user_seq)])

    def _record_turn(self, conversation: ConversationInfo, user_seq: int, items: list[Reply]) -> list[Event]:
        """The replies stored and the message marked delivered; in the same transaction, the ticket the turn's
        action opened (a handoff is announced before the bot's words about it, as the widget expects)."""
        with self.db.transaction() as session:
            stored = store.add_replies(session, conversation.id, user_seq, "bot", items)
            handed = tickets.handed_over(session, conversation.id, conversation.state)
        return [*handed, *events.stored(conversation.id, stored)]

    async def _follow_case_form(self, conversation_id: str, items: list[Reply]) -> None:
        """The case form's prompts tell the router what to expect next: a number to mask, a passport to check."""
        for _, payload in items:
            custom = contract.custom_of(payload)
            if custom.get("type") == contract.FORM_QUESTION and custom.get("slot") == "application_number":
                await asyncio.to_thread(checks.expect_number, self.db, conversation_id)
            elif custom.get("type") == contract.VERIFY_REQUEST and checks.is_ref(custom.get("ref")):
                await asyncio.to_thread(checks.expect_passport, self.db, conversation_id, custom["ref"])
            elif custom.get("type") in (contract.VERIFY_LOCKED, contract.CASE_STATUS):
                await asyncio.to_thread(checks.finish, self.db, conversation_id)

    async def back_to_bot(self, conversation_id: str) -> None:
        """After staff resolve: resume Rasa and let it ask how the help was (if Rasa is down, the conversation
        stays "resolved" and its next message resumes Rasa first)."""
        async with self._turn(conversation_id):
            if not await self._resume(conversation_id):
                return
            try:
                replies = await self.rasa.send(conversation_id, "/handoff_resolved", {})
            except RasaUnavailable:
                return
        stored = await asyncio.to_thread(store.record_messages, self.db, conversation_id, "bot", bot_items(replies))
        await self.publisher.publish(events.stored(conversation_id, stored))

    async def _resume(self, conversation_id: str) -> bool:
        try:
            await self.rasa.resume(conversation_id, rasa_token(self.settings))
        except RasaUnavailable as exc:
            log.warning("could not resume %s in Rasa yet: %s", conversation_id[:8], exc)
            return False
        await asyncio.to_thread(store.mark_resumed, self.db, conversation_id)
        return True

    async def retry_undelivered(self) -> int:
        """Deliver what is still waiting (oldest first); stops at a conversation's first failure."""
        delivered = 0
        blocked: set[str] = set()
        for conversation_id, message in await asyncio.to_thread(store.undelivered_user_messages, self.db):
            if conversation_id in blocked:
                continue
            if await self.deliver(conversation_id, message):
                delivered += 1
            else:
                blocked.add(conversation_id)
        if delivered:
            log.warning("retry loop delivered %d message(s) that had waited for a store or Rasa", delivered)
        return delivered

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
