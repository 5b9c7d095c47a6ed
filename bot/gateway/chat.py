"""The conversation router, independent of transport (WebSocket, socket.io, HTTP).

A user message is stored first, acknowledged, then delivered: to Rasa while the bot is in charge. Replies are
stored in the same transaction that marks the user message delivered, then published to every open
connection of the conversation. A message that could not be delivered (Rasa down) stays undelivered and is
retried in order by a background task, so a restart of any process loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bot.cases import lookup
from bot.cases.identifiers import PassportHasher, mask_passports
from bot.conversations import store
from bot.conversations.store import ConversationInfo, StoredMessage
from bot.conversations.text import TextRejected, clean_text
from bot.db import Database
from bot.gateway.hub import Hub
from bot.gateway.rasa_client import RasaClient, RasaUnavailable, bot_items
from bot.handoff import tickets
from bot.language import detect_language, normalize_language
from bot.rasa_config import rasa_token
from bot.settings import Settings

log = logging.getLogger(__name__)

STAFF_STATES = ("queued", "assigned")
STAFF_TOPIC = "staff"
_LANG_COMMAND = re.compile(r"^/(?:lang|language|语言)\s*(\S*)\s*$", re.IGNORECASE)

UNAVAILABLE = {
    "en": "The assistant is restarting. Your message is saved and will be answered as soon as it is back.",
    "zh": "助手正在重启。您的消息已保存，恢复后会立即回复。",
}
LANGUAGE_SET = {
    "en": "From now on I will answer in English.",
    "zh": "好的，接下来我会用中文回答。",
}
LANGUAGE_AUTO = {
    "en": "I will answer in the language of each message again.",
    "zh": "好的，我会按照您每条消息使用的语言来回答。",
}
HIDDEN_PASSPORT = "🔒 Passport number provided (hidden) · 已提供护照号码（已隐藏）"
LANGUAGE_HELP = {
    "en": "Use /lang zh for Chinese, /lang en for English, or /lang auto.",
    "zh": "输入 /lang zh 切换为中文，/lang en 切换为英文，/lang auto 自动识别。",
}


def with_language(payload: str, language: str | None) -> str:
    """`/intent{...}` with a `language` entity added (the slot follows it), unless one is there already."""
    if language not in ("en", "zh"):
        return payload
    name, brace, rest = payload.partition("{")
    entities: dict[str, Any] = {}
    if brace:
        try:
            entities = json.loads(brace + rest)
        except ValueError:
            return payload
        if not isinstance(entities, dict):
            return payload
    entities.setdefault("language", language)
    return name + json.dumps(entities, ensure_ascii=False)


def neutralize(text: str) -> str:
    """Typed text must never reach Rasa as an intent or entity injection ("/intent{...}"): Rasa treats a
    leading "/" as a command, so typed text starting with one is sent with a full-width slash instead."""
    stripped = text.lstrip()
    if stripped.startswith("/"):
        return "／" + stripped[1:]
    return text


@dataclass(frozen=True)
class Accepted:
    """Outcome of accepting input: the stored message and whether it was new (not a resend)."""

    message: StoredMessage
    is_new: bool


class ChatService:
    def __init__(self, db: Database, rasa: RasaClient, hub: Hub, settings: Settings) -> None:
        self.db = db
        self.rasa = rasa
        self.hub = hub
        self.settings = settings
        # One lock per conversation keeps its turns in order; unused locks disappear with their last user.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        # Exactly once across crashes: a message this process stored itself and never sent cannot be in Rasa's
        # tracker yet; any other (a retry, a resend after a gateway restart) is first looked up there.
        self._started_at = datetime.now(timezone.utc)
        self._attempted: set[int] = set()
        self.hasher = PassportHasher(settings.secret_key)
        self.limits = lookup.Limits(lock_minutes=settings.lookup_lock_minutes)

    # -- conversations -------------------------------------------------------------------------------

    async def open(self, conversation_id: str | None, channel: str = "web") -> ConversationInfo:
        return await asyncio.to_thread(store.open_conversation, self.db, conversation_id, channel)

    async def history(self, conversation_id: str, after_seq: int = 0) -> list[StoredMessage]:
        return await asyncio.to_thread(store.history, self.db, conversation_id, after_seq)

    async def set_language_choice(self, conversation_id: str, language: str | None) -> None:
        await asyncio.to_thread(store.set_language, self.db, conversation_id, choice=language or "")

    # -- input ---------------------------------------------------------------------------------------

    async def accept_text(self, conversation: ConversationInfo, raw: object, client_id: str | None) -> Accepted:
        """Validate and store typed text. Commands (/lang) are answered here and never reach Rasa. A passport
        number is masked before anything is stored; typed while a check is pending, it is the check."""
        text = clean_text(raw, self.settings.max_message_chars)
        pending = await asyncio.to_thread(store.pending_verification, self.db, conversation.id)
        text, passports = mask_passports(text, expecting=pending is not None)
        if pending is not None and passports:
            return await self._verify(conversation, pending, passports[0], text, client_id)
        message, is_new = await asyncio.to_thread(store.record_user_message, self.db, conversation.id, text, client_id)
        if is_new:
            await self.hub.publish(conversation.id, {"type": "message", **message.as_wire()})
        return Accepted(message, is_new)

    async def accept_verification(
        self, conversation: ConversationInfo, passport: object, client_id: str | None
    ) -> Accepted:
        """The passport number from the secure form: checked here, never stored, never sent to Rasa."""
        pending = await asyncio.to_thread(store.pending_verification, self.db, conversation.id)
        if pending is None:
            raise TextRejected("no_verification", "No passport check was requested in this conversation.")
        if not isinstance(passport, str) or not passport.strip():
            raise TextRejected("empty", "The passport number is empty.")
        if len(passport) > 40:
            raise TextRejected("too_long", "That is too long for a passport number.")
        return await self._verify(conversation, pending, passport, HIDDEN_PASSPORT, client_id)

    async def _verify(
        self, conversation: ConversationInfo, number: str, passport: str, shown: str, client_id: str | None
    ) -> Accepted:
        if client_id is not None:
            earlier = await asyncio.to_thread(store.find_user_message, self.db, conversation.id, client_id)
            if earlier is not None:
                return Accepted(earlier, False)
        result = await asyncio.to_thread(
            lookup.verify, self.db, self.hasher, conversation.id, number, passport, limits=self.limits
        )
        if result.outcome == "ok":
            command = "/case_verified" + json.dumps({"verification": result.token})
        else:
            reason = "locked" if result.outcome == "locked" else "denied"
            command = "/case_verification_failed" + json.dumps({"reason": reason})
        await asyncio.to_thread(store.set_pending_verification, self.db, conversation.id, None)
        payload = {"command": command, "verification": result.outcome}
        message, is_new = await asyncio.to_thread(
            store.record_user_message, self.db, conversation.id, shown, client_id, payload
        )
        if is_new:
            await self.hub.publish(conversation.id, {"type": "message", **message.as_wire()})
        return Accepted(message, is_new)

    async def accept_command(
        self, conversation: ConversationInfo, command: str, label: str, client_id: str | None, extra: dict[str, Any]
    ) -> Accepted:
        """A widget control (talk to a person, rate an answer): stored with its label, sent to Rasa as `command`."""
        message, is_new = await asyncio.to_thread(
            store.record_user_message, self.db, conversation.id, label, client_id, {"command": command, **extra}
        )
        if is_new:
            await self.hub.publish(conversation.id, {"type": "message", **message.as_wire()})
        return Accepted(message, is_new)

    async def accept_button(
        self, conversation: ConversationInfo, payload: object, title: object, client_id: str | None
    ) -> Accepted:
        """Only payloads of buttons the bot offered in this conversation are accepted."""
        if not isinstance(payload, str) or not payload.startswith("/"):
            raise TextRejected("bad_payload", "This button is not valid.")
        offered = await asyncio.to_thread(store.offered_payloads, self.db, conversation.id)
        if payload not in offered:
            raise TextRejected("not_offered", "This button was not offered in this conversation.")
        label = title if isinstance(title, str) and title.strip() else payload
        label = clean_text(label, self.settings.max_message_chars)
        message, is_new = await asyncio.to_thread(
            store.record_user_message, self.db, conversation.id, label, client_id, {"button": payload}
        )
        if is_new:
            await self.hub.publish(conversation.id, {"type": "message", **message.as_wire()})
        return Accepted(message, is_new)

    # -- delivery ------------------------------------------------------------------------------------

    def deliver_soon(self, conversation_id: str, message: StoredMessage) -> None:
        """Deliver in the background (in order per conversation), so acknowledgements are never delayed."""
        task = asyncio.create_task(self.deliver(conversation_id, message, first_attempt=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        return lock

    async def deliver(self, conversation_id: str, message: StoredMessage, first_attempt: bool = False) -> bool:
        """Hand one stored user message to whoever is in charge; True once it has been delivered."""
        async with self._lock(conversation_id), self.hub.conversation_lock(conversation_id):
            delivered, conversation = await asyncio.to_thread(
                store.pending_delivery, self.db, conversation_id, message.seq
            )
            if delivered:
                return True
            if conversation is None:
                return False
            command = await self._command(conversation, message)
            if command is not None:
                await self._reply(conversation_id, message.seq, command)
                return True
            if conversation.state in STAFF_STATES:
                return await self._deliver_to_staff(conversation, message)
            if conversation.state == "resolved" and not await self._resume(conversation_id):
                return False
            return await self._deliver_to_bot(conversation, message, first_attempt)

    async def _deliver_to_staff(self, conversation: ConversationInfo, message: StoredMessage) -> bool:
        """While a person is in charge the bot never answers: the message is the staff's to read."""
        await asyncio.to_thread(store.record_replies, self.db, conversation.id, message.seq, "bot", [])
        ticket = await asyncio.to_thread(tickets.open_ticket_of, self.db, conversation.id)
        await self.hub.publish(
            STAFF_TOPIC,
            {"type": "ticket_message", "ticket": ticket, "conversation": conversation.id, "message": message.as_wire()},
        )
        return True

    # -- staff side ----------------------------------------------------------------------------------

    async def post(
        self,
        conversation_id: str,
        role: str,
        text: str,
        author: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> StoredMessage:
        """A staff reply or a system notice: stored first, then pushed to the applicant (and the console)."""
        (message,) = await asyncio.to_thread(
            store.record_messages, self.db, conversation_id, role, [(text, payload)], author
        )
        await self.hub.publish(conversation_id, {"type": "message", **message.as_wire()})
        await self.hub.publish(
            STAFF_TOPIC, {"type": "ticket_message", "conversation": conversation_id, "message": message.as_wire()}
        )
        return message

    async def publish_queue(self) -> None:
        """Tell every waiting applicant their place and wait, and every console that the queue changed."""
        positions = await asyncio.to_thread(tickets.queue_positions, self.db)
        conversations = await asyncio.to_thread(tickets.conversations_of, self.db, [q.ticket for q in positions])
        for queue in positions:
            conversation = conversations.get(queue.ticket)
            if conversation:
                await self.hub.publish(
                    conversation,
                    {
                        "type": "queue",
                        "ticket": queue.ticket,
                        "position": queue.position,
                        "estimated_wait_s": queue.estimated_wait_s,
                    },
                )
        await self.hub.publish(STAFF_TOPIC, {"type": "queue_changed"})

    async def back_to_bot(self, conversation_id: str) -> None:
        """After staff resolve: resume Rasa and let it ask how the help was (if Rasa is down, the conversation
        stays "resolved" and its next message resumes Rasa first)."""
        await self.hub.publish(conversation_id, {"type": "state", "state": "bot"})
        # Under the conversation's lock like any turn: Rasa's in-memory locks are per server, so only the gateway
        # can keep this turn and a user's message from reaching two servers at once (see RasaClient).
        async with self._lock(conversation_id), self.hub.conversation_lock(conversation_id):
            if not await self._resume(conversation_id):
                return
            try:
                replies = await self.rasa.send(conversation_id, "/handoff_resolved", {})
            except RasaUnavailable:
                return
        stored = await asyncio.to_thread(store.record_messages, self.db, conversation_id, "bot", bot_items(replies))
        for reply in stored:
            await self.hub.publish(conversation_id, {"type": "message", **reply.as_wire()})

    async def _resume(self, conversation_id: str) -> bool:
        try:
            await self.rasa.resume(conversation_id, rasa_token(self.settings))
        except RasaUnavailable as exc:
            log.warning("could not resume %s in Rasa yet: %s", conversation_id[:8], exc)
            return False
        await asyncio.to_thread(store.mark_resumed, self.db, conversation_id)
        return True

    async def _deliver_to_bot(
        self, conversation: ConversationInfo, message: StoredMessage, first_attempt: bool
    ) -> bool:
        payload = message.payload or {}
        internal = payload.get("command") or payload.get("button")
        metadata: dict[str, Any] = {}
        if conversation.language_choice:
            metadata["language"] = conversation.language_choice
        if isinstance(internal, str):
            # Rasa reads a payload without running language detection: say the conversation's language in it.
            text = with_language(internal, conversation.language_choice or conversation.language)
        else:
            text = neutralize(message.text)
            detected = detect_language(message.text)
            if detected and detected != conversation.language:
                await asyncio.to_thread(store.set_language, self.db, conversation.id, current=detected)
        await self.hub.publish(conversation.id, {"type": "typing", "role": "bot", "active": True})
        may_have_reached = not first_attempt or message.seq in self._attempted or not self._stored_here(message)
        self._attempted.add(message.seq)
        try:
            replies = await self.rasa.send(
                conversation.id, text, metadata, seq=message.seq, may_have_reached=may_have_reached
            )
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for %s: %s", conversation.id[:8], exc)
            await self.hub.publish(conversation.id, {"type": "typing", "role": "bot", "active": False})
            if first_attempt:
                language = (
                    conversation.language_choice or detect_language(message.text) or conversation.language or "en"
                )
                await self.hub.publish(
                    conversation.id,
                    {"type": "notice", "code": "bot_unavailable", "text": UNAVAILABLE[language], "seq": message.seq},
                )
            return False
        await self._reply(conversation.id, message.seq, bot_items(replies))
        self._attempted.discard(message.seq)
        return True

    def _stored_here(self, message: StoredMessage) -> bool:
        """Stored after this process started (SQLite gives naive UTC times)."""
        created = message.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        return created >= self._started_at

    async def _reply(self, conversation_id: str, user_seq: int, items: list[tuple[str, dict[str, Any] | None]]) -> None:
        stored = await asyncio.to_thread(store.record_replies, self.db, conversation_id, user_seq, "bot", items)
        await self._after_bot_reply(conversation_id, items)
        for reply in stored:
            await self.hub.publish(conversation_id, {"type": "message", **reply.as_wire()})
        # "Stopped typing" closes the turn: clients know every reply to this message has arrived.
        await self.hub.publish(conversation_id, {"type": "typing", "role": "bot", "active": False, "turn": user_seq})

    async def _after_bot_reply(self, conversation_id: str, items: list[tuple[str, dict[str, Any] | None]]) -> None:
        """Act on what the bot just said: a passport check to expect (the gateway does it), a handoff to announce."""
        for _, payload in items:
            custom = (payload or {}).get("custom") or {}
            if custom.get("type") == "verify_request" and isinstance(custom.get("application_number"), str):
                await asyncio.to_thread(
                    store.set_pending_verification, self.db, conversation_id, custom["application_number"]
                )
            elif custom.get("type") in ("verify_locked", "case_status"):
                await asyncio.to_thread(store.set_pending_verification, self.db, conversation_id, None)
            elif custom.get("type") == "handoff":
                await self.hub.publish(conversation_id, {"type": "state", "state": "queued"})
                await self.hub.publish(STAFF_TOPIC, {"type": "ticket_new", "ticket": custom.get("ticket")})
                await self.publish_queue()

    async def _command(
        self, conversation: ConversationInfo, message: StoredMessage
    ) -> list[tuple[str, dict[str, Any] | None]] | None:
        """Gateway commands typed by the user; None when the message is not a command."""
        if (message.payload or {}).get("button") or (message.payload or {}).get("command"):
            return None
        match = _LANG_COMMAND.match(message.text.strip())
        if not match:
            return None
        wanted = match.group(1).lower()
        current = conversation.language_choice or conversation.language or detect_language(message.text) or "en"
        if wanted in ("auto", "自动"):
            await self.set_language_choice(conversation.id, None)
            return [(LANGUAGE_AUTO[current], {"custom": {"type": "language", "lang": None}})]
        language = normalize_language(wanted)
        if language is None:
            return [(LANGUAGE_HELP[current], None)]
        await self.set_language_choice(conversation.id, language)
        return [(LANGUAGE_SET[language], {"custom": {"type": "language", "lang": language}})]

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
        return delivered

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


__all__ = ["Accepted", "ChatService", "TextRejected", "neutralize"]
