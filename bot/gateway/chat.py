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
import time
import weakref
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.cases import checks, lookup
from bot.cases.identifiers import (
    FormatError,
    NumberKeyer,
    PassportHasher,
    mask_identifiers,
    mask_passports,
    normalize_passport,
    plausible_number,
)
from bot.conversations import store
from bot.conversations.store import ConversationInfo, StoredMessage
from bot.conversations.text import TextRejected, clean_text
from bot.core import payload as contract
from bot.core.settings import Settings
from bot.db import Database
from bot.gateway.hub import Hub
from bot.gateway.metrics import Metrics
from bot.gateway.rasa_client import RasaClient, RasaUnavailable, bot_items
from bot.gateway.ratelimit import Rule, Rules, make_limiter
from bot.handoff import tickets
from bot.nlu.language import detect_language, normalize_language
from bot.rasa.endpoints import rasa_token

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


@dataclass(frozen=True)
class Client:
    """Who is sending, as far as limits are concerned: the client address (proxy-aware, see ratelimit)."""

    address: str


def _outcome_command(result: lookup.Verification) -> str:
    """What Rasa is told about a check: only the outcome, never the number or the passport."""
    if result.outcome == "ok":
        return "/case_verified" + json.dumps({"verification": result.token})
    reason = result.outcome if result.outcome in ("locked", "wait") else "denied"
    return "/case_verification_failed" + json.dumps({"reason": reason})


class ChatService:
    """Owns conversations: input checks, limits (per conversation and per client address, for every transport),
    the case form's identifiers, delivery to Rasa or staff."""

    def __init__(
        self, db: Database, rasa: RasaClient, hub: Hub, settings: Settings, metrics: Metrics | None = None
    ) -> None:
        self.db = db
        self.metrics = metrics or Metrics()
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
        self.keyer = NumberKeyer(settings.secret_key)
        self.limits = lookup.Limits(
            lock_minutes=settings.lookup_lock_minutes, backoff_max_s=float(settings.lookup_backoff_max_seconds)
        )
        self.limiter = make_limiter(settings.redis_url)
        self.rules = Rules.from_settings(settings)
        self.refused: Counter[str] = Counter()

    # -- limits --------------------------------------------------------------------------------------

    async def _limit(self, checks_: list[tuple[Rule, str]], message: str) -> None:
        """Counts the input against every rule; refuses (without storing anything) when one is exceeded."""
        waits = [await self.limiter.hit(rule, key) for rule, key in checks_]
        worst = max(waits, default=0.0)
        if worst > 0:
            names = [rule.name for (rule, _), wait in zip(checks_, waits, strict=True) if wait > 0]
            self.refused[names[0]] += 1
            raise TextRejected("rate_limited", message.format(seconds=int(worst) + 1))

    async def admit_frame(self, conversation_id: str | None, client: Client) -> None:
        """Every frame of every transport (ping, set_language, hello included) counts."""
        pairs = [(self.rules.frames_per_address, client.address)]
        if conversation_id:
            pairs.append((self.rules.frames, conversation_id))
        await self._limit(pairs, "Too many frames; please wait {seconds} seconds.")

    async def _admit_message(self, conversation_id: str, client: Client) -> None:
        await self._limit(
            [(self.rules.messages, conversation_id), (self.rules.messages_per_address, client.address)],
            "Too many messages; please wait {seconds} seconds and resend.",
        )

    # -- conversations -------------------------------------------------------------------------------

    async def open(self, conversation_id: str | None, client: Client, channel: str = "web") -> ConversationInfo:
        """Resume a conversation, or start one (each new one counts against the client address's cap)."""
        if store.valid_conversation_id(conversation_id):
            found = await asyncio.to_thread(store.get_conversation, self.db, conversation_id)
            if found is not None:
                return found
        await self._limit(
            [(self.rules.new_conversations, client.address)],
            "Too many new conversations from your network; please wait {seconds} seconds.",
        )
        return await asyncio.to_thread(store.open_conversation, self.db, None, channel)

    async def resume(self, conversation_id: str) -> ConversationInfo | None:
        return await asyncio.to_thread(store.get_conversation, self.db, conversation_id)

    async def history(self, conversation_id: str, after_seq: int = 0) -> list[StoredMessage]:
        return await asyncio.to_thread(store.history, self.db, conversation_id, after_seq)

    async def set_language_choice(self, conversation_id: str, language: str | None) -> None:
        await asyncio.to_thread(store.set_language, self.db, conversation_id, choice=language or "")

    # -- input ---------------------------------------------------------------------------------------

    async def _store(
        self, conversation: ConversationInfo, text: str, client_id: str | None, payload: dict[str, Any] | None
    ) -> Accepted:
        message, is_new = await asyncio.to_thread(
            store.record_user_message, self.db, conversation.id, text, client_id, payload
        )
        if is_new:
            await self.hub.publish(conversation.id, {"type": "message", **message.as_wire()})
        return Accepted(message, is_new)

    async def _earlier(self, conversation: ConversationInfo, client_id: str | None) -> Accepted | None:
        """A resend of a stored message is acknowledged again (it does not count against the limits)."""
        if client_id is None:
            return None
        earlier = await asyncio.to_thread(store.find_user_message, self.db, conversation.id, client_id)
        return Accepted(earlier, False) if earlier is not None else None

    async def accept_text(
        self, conversation: ConversationInfo, raw: object, client_id: str | None, client: Client
    ) -> Accepted:
        """Validate and store typed text. Commands (/lang) are answered here and never reach Rasa.

        While the case form is active, everything typed that could be an identifier is masked before it is stored
        or forwarded: at the number prompt it becomes the form's number (Rasa gets a reference to it), at the
        passport prompt it is the passport check. Elsewhere, passport-shaped numbers near case words are masked."""
        text = clean_text(raw, self.settings.max_message_chars)
        earlier = await self._earlier(conversation, client_id)
        if earlier is not None:
            return earlier
        await self._admit_message(conversation.id, client)
        check = await asyncio.to_thread(checks.current, self.db, conversation.id)
        if check is not None and check.step != "done":
            masked, identifiers = mask_identifiers(text)
            if identifiers and check.step == "passport":
                passport = self._passport_among(identifiers, check)
                if passport is not None:
                    await self._admit_lookup(client)
                    return await self._verify(conversation, check, passport, masked, client_id)
            elif identifiers:
                number = next((i for i in identifiers if plausible_number(i)), identifiers[0])
                ref = await asyncio.to_thread(checks.enter_number, self.db, self.keyer, conversation.id, number)
                command = "/inform" + json.dumps({"application_number": ref})
                return await self._store(conversation, masked, client_id, {"command": command})
            text = masked
        # just in or out of the form (a check finished in the last half hour): every passport shape is masked
        text, _ = mask_passports(text, expecting=check is not None)
        return await self._store(conversation, text, client_id, None)

    def _passport_among(self, identifiers: list[str], check: checks.CheckView) -> str | None:
        """The typed passport: an identifier that is not the number being checked (typed again beside it)."""
        for value in identifiers:
            if self.keyer.key(value) == check.number_key:
                continue
            try:
                return normalize_passport(value)
            except FormatError:
                continue
        return None

    async def _admit_lookup(self, client: Client) -> None:
        """Per-address throttling in front of the per-number backoff and the per-conversation lock."""
        await self._limit(
            [(self.rules.lookups_per_address, client.address)],
            "Too many passport checks from your network; please wait {seconds} seconds.",
        )

    async def accept_verification(
        self, conversation: ConversationInfo, passport: object, client_id: str | None, client: Client
    ) -> Accepted:
        """The passport number from the secure form: checked here, never stored, never sent to Rasa."""
        earlier = await self._earlier(conversation, client_id)
        if earlier is not None:
            return earlier
        await self._admit_message(conversation.id, client)
        check = await asyncio.to_thread(checks.current, self.db, conversation.id)
        if check is None or check.step != "passport":
            raise TextRejected("no_verification", "No passport check was requested in this conversation.")
        if not isinstance(passport, str) or not passport.strip():
            raise TextRejected("empty", "The passport number is empty.")
        if len(passport) > 40:
            raise TextRejected("too_long", "That is too long for a passport number.")
        await self._admit_lookup(client)
        return await self._verify(conversation, check, passport, HIDDEN_PASSPORT, client_id)

    async def _verify(
        self,
        conversation: ConversationInfo,
        check: checks.CheckView,
        passport: str,
        shown: str,
        client_id: str | None,
    ) -> Accepted:
        started = await asyncio.to_thread(lookup.begin_check, self.db, self.hasher, check, passport, limits=self.limits)
        try:
            result, message = await asyncio.to_thread(
                self._finish_verification, conversation.id, started, shown, client_id
            )
            self.metrics.case_lookup(result.outcome, locked_now=isinstance(started, lookup.PendingCheck))
        except IntegrityError:
            # the same client id was stored meanwhile (a resend raced this one): that message is the answer
            earlier = await asyncio.to_thread(store.find_user_message, self.db, conversation.id, client_id or "")
            if earlier is None:
                raise
            return Accepted(earlier, False)
        await self.hub.publish(conversation.id, {"type": "message", **message.as_wire()})
        return Accepted(message, True)

    def _finish_verification(
        self,
        conversation_id: str,
        started: lookup.PendingCheck | lookup.Verification,
        shown: str,
        client_id: str | None,
    ) -> tuple[lookup.Verification, StoredMessage]:
        """One transaction: the outcome recorded, the pending check cleared, the masked message stored under its
        client id (a duplicate id rolls all of it back, so a resend finds the check still pending)."""
        with self.db.transaction() as session:
            if isinstance(started, lookup.PendingCheck):
                result = lookup.finish_check(session, started, limits=self.limits)
            else:
                result = started
            checks.finish_in(session, conversation_id)
            payload = {"command": _outcome_command(result), "verification": result.outcome}
            message = store.add_user_message(session, conversation_id, shown, client_id, payload)
            return result, message

    async def accept_command(
        self,
        conversation: ConversationInfo,
        command: str,
        label: str,
        client_id: str | None,
        extra: dict[str, Any],
        client: Client,
    ) -> Accepted:
        """A widget control (talk to a person, rate an answer): stored with its label, sent to Rasa as `command`.
        A request for a person opens a ticket (and a webhook), so it has its own caps."""
        earlier = await self._earlier(conversation, client_id)
        if earlier is not None:
            return earlier
        await self._admit_message(conversation.id, client)
        if command == "/human_handoff":
            await self._limit(
                [(self.rules.handoffs, conversation.id), (self.rules.handoffs_per_address, client.address)],
                "Too many requests for a person; please wait {seconds} seconds (your earlier request is kept).",
            )
        return await self._store(conversation, label, client_id, {"command": command, **extra})

    async def accept_button(
        self, conversation: ConversationInfo, payload: object, title: object, client_id: str | None, client: Client
    ) -> Accepted:
        """Only payloads of buttons the bot offered in this conversation are accepted."""
        if not isinstance(payload, str) or not payload.startswith("/"):
            raise TextRejected("bad_payload", "This button is not valid.")
        earlier = await self._earlier(conversation, client_id)
        if earlier is not None:
            return earlier
        await self._admit_message(conversation.id, client)
        offered = await asyncio.to_thread(store.offered_payloads, self.db, conversation.id)
        if payload not in offered:
            raise TextRejected("not_offered", "This button was not offered in this conversation.")
        if payload.startswith("/human_handoff"):
            await self._limit(
                [(self.rules.handoffs, conversation.id), (self.rules.handoffs_per_address, client.address)],
                "Too many requests for a person; please wait {seconds} seconds (your earlier request is kept).",
            )
        label = title if isinstance(title, str) and title.strip() else payload
        label, _ = mask_passports(clean_text(label, self.settings.max_message_chars))
        return await self._store(conversation, label, client_id, {"button": payload})

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
        sent_at = time.perf_counter()
        try:
            replies = await self.rasa.send(
                conversation.id, text, metadata, seq=message.seq, may_have_reached=may_have_reached
            )
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for %s: %s", conversation.id[:8], exc)
            self.metrics.bot_error(exc)
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
        self.metrics.turn(bot_items(replies), time.perf_counter() - sent_at)
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
            custom = contract.custom_of(payload)
            if custom.get("type") == contract.FORM_QUESTION and custom.get("slot") == "application_number":
                await asyncio.to_thread(checks.expect_number, self.db, conversation_id)
            elif custom.get("type") == contract.VERIFY_REQUEST and checks.is_ref(custom.get("ref")):
                await asyncio.to_thread(checks.expect_passport, self.db, conversation_id, custom["ref"])
            elif custom.get("type") in (contract.VERIFY_LOCKED, contract.CASE_STATUS):
                await asyncio.to_thread(checks.finish, self.db, conversation_id)
            elif custom.get("type") == contract.HANDOFF:
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
            return [(LANGUAGE_AUTO[current], {"custom": contract.language(None)})]
        language = normalize_language(wanted)
        if language is None:
            return [(LANGUAGE_HELP[current], None)]
        await self.set_language_choice(conversation.id, language)
        return [(LANGUAGE_SET[language], {"custom": contract.language(language)})]

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

    @property
    def pending_deliveries(self) -> int:
        return len(self._tasks)

    async def limit_gauges(self) -> dict[str, float]:
        """For /metrics: inputs this gateway refused per limit since start, and case lookups of the last hour that
        were refused (a conversation locked, a number slowed down) or failed: a spike is a lockout attack."""
        since = datetime.now(timezone.utc) - timedelta(hours=1)
        lookups = await asyncio.to_thread(lookup.refusals_since, self.db, since)
        gauges = {f"refused_{name.replace('-', '_')}": float(count) for name, count in self.refused.items()}
        for outcome in ("locked", "wait", "mismatch", "not_found"):
            gauges[f"case_lookups_{outcome}_last_hour"] = float(lookups.get(outcome, 0))
        return gauges

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.limiter.close()


__all__ = ["Accepted", "ChatService", "Client", "TextRejected", "neutralize"]
