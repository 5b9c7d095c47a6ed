"""The passport check of the case form, done by the router: the passport is compared as a keyed hash, never
stored, never sent to Rasa; Rasa only learns the outcome (see commands.outcome_command)."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import IntegrityError

from bot.cases import checks, lookup
from bot.cases.identifiers import FormatError, NumberKeyer, PassportHasher, normalize_passport
from bot.conversations import store
from bot.conversations.commands import outcome_command
from bot.conversations.store import StoredMessage
from bot.core.metrics import Metrics
from bot.db import Database


class PassportChecks:
    def __init__(self, db: Database, secret_key: str, limits: lookup.Limits, metrics: Metrics) -> None:
        self.db = db
        self.metrics = metrics
        self.hasher = PassportHasher(secret_key)
        self.keyer = NumberKeyer(secret_key)
        self.limits = limits

    def passport_among(self, identifiers: list[str], check: checks.CheckView) -> str | None:
        """The typed passport: an identifier that is not the number being checked (typed again beside it)."""
        for value in identifiers:
            if self.keyer.key(value) == check.number_key:
                continue
            try:
                return normalize_passport(value)
            except FormatError:
                continue
        return None

    async def verify(
        self, conversation_id: str, check: checks.CheckView, passport: str, shown: str, client_id: str | None
    ) -> tuple[StoredMessage, bool]:
        """Check the passport and store what the transcript shows for it; (message, is_new) like any input."""
        started = await asyncio.to_thread(lookup.begin_check, self.db, self.hasher, check, passport, limits=self.limits)
        try:
            message = await asyncio.to_thread(self._finish, conversation_id, started, shown, client_id)
            outcome = (message.payload or {}).get("verification")
            self.metrics.case_lookup(str(outcome), locked_now=isinstance(started, lookup.PendingCheck))
        except IntegrityError:
            # the same client id was stored meanwhile (a resend raced this one): that message is the answer
            earlier = await asyncio.to_thread(store.find_user_message, self.db, conversation_id, client_id or "")
            if earlier is None:
                raise
            return earlier, False
        return message, True

    def _finish(
        self,
        conversation_id: str,
        started: lookup.PendingCheck | lookup.Verification,
        shown: str,
        client_id: str | None,
    ) -> StoredMessage:
        """One transaction: the outcome recorded, the pending check cleared, the masked message stored under its
        client id (a duplicate id rolls all of it back, so a resend finds the check still pending)."""
        with self.db.transaction() as session:
            if isinstance(started, lookup.PendingCheck):
                result = lookup.finish_check(session, started, limits=self.limits)
            else:
                result = started
            checks.finish_in(session, conversation_id)
            payload = {"command": outcome_command(result.outcome, result.token), "verification": result.outcome}
            return store.add_user_message(session, conversation_id, shown, client_id, payload)
