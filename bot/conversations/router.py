"""The conversation router, independent of transport (WebSocket, socket.io, HTTP).

A user message is checked, counted against the limits, stored, acknowledged, then delivered (delivery.py): to
Rasa while the bot is in charge, to staff while a person is. Identifiers typed during the case form are masked
before anything is stored; the passport check is the router's (verification.py). Every change reaches open
connections as domain events through one publisher (publisher.py)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.cases import checks, lookup
from bot.cases.identifiers import mask_identifiers, mask_passports, plausible_number
from bot.conversations import store
from bot.conversations.delivery import Delivery
from bot.conversations.events import MessageAdded
from bot.conversations.hub import Hub
from bot.conversations.input_checks import TextRejected, clean_text
from bot.conversations.limits import Rule, Rules, make_limiter
from bot.conversations.publisher import STAFF_TOPIC, Publisher
from bot.conversations.store import ConversationInfo, StoredMessage
from bot.conversations.verification import PassportChecks
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.db import Database
from bot.rasa.client import RasaClient
from bot.texts import both

HANDOFF_COMMAND = "/human_handoff"


def passport_hidden() -> str:
    """What the transcript shows for a passport number, in both languages: the number itself never is."""
    return "🔒 " + both("conversations.passport_hidden")


@dataclass(frozen=True)
class Accepted:
    """Outcome of accepting input: the stored message and whether it was new (not a resend)."""

    message: StoredMessage
    is_new: bool


@dataclass(frozen=True)
class Client:
    """Who is sending, as far as limits are concerned: the client address (proxy-aware, see limits)."""

    address: str


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
        self.publisher = Publisher(hub, db)
        self.delivery = Delivery(db, rasa, hub, self.publisher, settings, self.metrics)
        self.limits = lookup.Limits(
            lock_minutes=settings.lookup_lock_minutes, backoff_max_s=float(settings.lookup_backoff_max_seconds)
        )
        self.passports = PassportChecks(db, settings.secret_key, self.limits, self.metrics)
        self.limiter = make_limiter(settings.redis_url)
        self.rules = Rules.from_settings(settings)
        self.refused: Counter[str] = Counter()

    # -- limits --------------------------------------------------------------------------------------

    async def _limit(self, checks_: list[tuple[Rule, str]], message_key: str) -> None:
        """Counts the input against every rule; refuses (without storing anything) when one is exceeded."""
        waits = [await self.limiter.hit(rule, key) for rule, key in checks_]
        worst = max(waits, default=0.0)
        if worst > 0:
            names = [rule.name for (rule, _), wait in zip(checks_, waits, strict=True) if wait > 0]
            self.refused[names[0]] += 1
            raise TextRejected("rate_limited", both(message_key, seconds=int(worst) + 1))

    async def admit_frame(self, conversation_id: str | None, client: Client) -> None:
        """Every frame of every transport (ping, set_language, hello included) counts."""
        pairs = [(self.rules.frames_per_address, client.address)]
        if conversation_id:
            pairs.append((self.rules.frames, conversation_id))
        await self._limit(pairs, "errors.limit.frames")

    async def _admit_message(self, conversation_id: str, client: Client) -> None:
        await self._limit(
            [(self.rules.messages, conversation_id), (self.rules.messages_per_address, client.address)],
            "errors.limit.messages",
        )

    async def _admit_handoff(self, conversation_id: str, client: Client) -> None:
        """A request for a person opens a ticket (and a webhook), so it has its own caps."""
        await self._limit(
            [(self.rules.handoffs, conversation_id), (self.rules.handoffs_per_address, client.address)],
            "errors.limit.handoffs",
        )

    async def _admit_lookup(self, client: Client) -> None:
        """Per-address throttling in front of the per-number backoff and the per-conversation lock."""
        await self._limit(
            [(self.rules.lookups_per_address, client.address)],
            "errors.limit.verifications",
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
            "errors.limit.conversations",
        )
        return await asyncio.to_thread(store.open_conversation, self.db, None, channel)

    async def resume(self, conversation_id: str) -> ConversationInfo | None:
        return await asyncio.to_thread(store.get_conversation, self.db, conversation_id)

    async def history(self, conversation_id: str, after_seq: int = 0) -> list[StoredMessage]:
        return await asyncio.to_thread(store.history, self.db, conversation_id, after_seq)

    async def set_language_choice(self, conversation_id: str, language: str | None) -> None:
        await asyncio.to_thread(store.set_language, self.db, conversation_id, choice=language or "")

    # -- input ---------------------------------------------------------------------------------------

    async def _announce(self, conversation_id: str, message: StoredMessage, is_new: bool) -> Accepted:
        """The one place a user's input is shown to the conversation's connections: only when it is new."""
        if is_new:
            await self.publisher.publish([MessageAdded(conversation_id, message)])
        return Accepted(message, is_new)

    async def _store(
        self, conversation: ConversationInfo, text: str, client_id: str | None, payload: dict[str, Any] | None
    ) -> Accepted:
        message, is_new = await asyncio.to_thread(
            store.record_user_message, self.db, conversation.id, text, client_id, payload
        )
        return await self._announce(conversation.id, message, is_new)

    async def _earlier(self, conversation: ConversationInfo, client_id: str | None) -> Accepted | None:
        """A resend of a stored message is acknowledged again (it does not count against the limits)."""
        if client_id is None:
            return None
        earlier = await asyncio.to_thread(store.find_user_message, self.db, conversation.id, client_id)
        return Accepted(earlier, False) if earlier is not None else None

    async def accept_text(
        self, conversation: ConversationInfo, raw: object, client_id: str | None, client: Client
    ) -> Accepted:
        """Validate and store typed text. Commands (/lang) are answered by the router and never reach Rasa.

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
                passport = self.passports.passport_among(identifiers, check)
                if passport is not None:
                    await self._admit_lookup(client)
                    return await self._verify(conversation, check, passport, masked, client_id)
            elif identifiers:
                number = next((i for i in identifiers if plausible_number(i)), identifiers[0])
                ref = await asyncio.to_thread(
                    checks.enter_number, self.db, self.passports.keyer, conversation.id, number
                )
                command = "/inform" + json.dumps({"application_number": ref})
                return await self._store(conversation, masked, client_id, {"command": command})
            text = masked
        # just in or out of the form (a check finished in the last half hour): every passport shape is masked
        text, _ = mask_passports(text, expecting=check is not None)
        return await self._store(conversation, text, client_id, None)

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
            raise TextRejected("no_verification", both("errors.passport.not_requested"))
        if not isinstance(passport, str) or not passport.strip():
            raise TextRejected("empty", both("errors.passport.empty"))
        if len(passport) > 40:
            raise TextRejected("too_long", both("errors.passport.too_long"))
        await self._admit_lookup(client)
        return await self._verify(conversation, check, passport, passport_hidden(), client_id)

    async def _verify(
        self, conversation: ConversationInfo, check: checks.CheckView, passport: str, shown: str, client_id: str | None
    ) -> Accepted:
        message, is_new = await self.passports.verify(conversation.id, check, passport, shown, client_id)
        return await self._announce(conversation.id, message, is_new)

    async def accept_command(
        self,
        conversation: ConversationInfo,
        command: str,
        label: str,
        client_id: str | None,
        extra: dict[str, Any],
        client: Client,
    ) -> Accepted:
        """A widget control (talk to a person, rate an answer): stored with its label, sent to Rasa as `command`."""
        earlier = await self._earlier(conversation, client_id)
        if earlier is not None:
            return earlier
        await self._admit_message(conversation.id, client)
        if command == HANDOFF_COMMAND:
            await self._admit_handoff(conversation.id, client)
        return await self._store(conversation, label, client_id, {"command": command, **extra})

    async def accept_button(
        self, conversation: ConversationInfo, payload: object, title: object, client_id: str | None, client: Client
    ) -> Accepted:
        """Only payloads of buttons the bot offered in this conversation are accepted."""
        if not isinstance(payload, str) or not payload.startswith("/"):
            raise TextRejected("bad_payload", both("errors.button.bad_payload"))
        earlier = await self._earlier(conversation, client_id)
        if earlier is not None:
            return earlier
        await self._admit_message(conversation.id, client)
        offered = await asyncio.to_thread(store.offered_payloads, self.db, conversation.id)
        if payload not in offered:
            raise TextRejected("not_offered", both("errors.button.not_offered"))
        if payload.startswith(HANDOFF_COMMAND):
            await self._admit_handoff(conversation.id, client)
        label = title if isinstance(title, str) and title.strip() else payload
        label, _ = mask_passports(clean_text(label, self.settings.max_message_chars))
        return await self._store(conversation, label, client_id, {"button": payload})

    # -- delivery ------------------------------------------------------------------------------------

    @property
    def pending_deliveries(self) -> int:
        """Messages handed to the background and not delivered yet (a gauge for /metrics)."""
        return self.delivery.pending

    def deliver_soon(self, conversation_id: str, message: StoredMessage) -> None:
        self.delivery.soon(conversation_id, message)

    async def deliver(self, conversation_id: str, message: StoredMessage, first_attempt: bool = False) -> bool:
        return await self.delivery.deliver(conversation_id, message, first_attempt)

    async def retry_undelivered(self) -> int:
        return await self.delivery.retry_undelivered()

    async def back_to_bot(self, conversation_id: str) -> None:
        await self.delivery.back_to_bot(conversation_id)

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
        await self.delivery.close()
        await self.limiter.close()


__all__ = ["STAFF_TOPIC", "Accepted", "ChatService", "Client", "TextRejected"]
