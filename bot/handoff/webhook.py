"""Notifications of new tickets to an outgoing webhook (STAFF_WEBHOOK_URL), through an outbox: chat never waits
for the webhook, and an unreachable one is retried with exponential backoff. The body is the text message
format that WeCom (企业微信) and DingTalk (钉钉) group robots both accept.

The text goes to a chat cloud outside the bureau, so it carries no applicant contact details (the console has them),
and it is sent only over https to a host on STAFF_WEBHOOK_HOSTS, without following redirects (a redirect could
point the request anywhere, the bureau's own network included). Plain http is accepted for loopback only (tests)."""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import aiohttp
import sqlalchemy as sa

from bot.db import Database
from bot.db.models import WebhookDelivery, utcnow
from bot.handoff.tickets import TicketView

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BASE_DELAY_S = 2.0
MAX_DELAY_S = 600.0


class WebhookRefused(ValueError):
    """STAFF_WEBHOOK_URL is not an https URL on an allowed host."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_allowed(host: str, allowed: Sequence[str]) -> bool:
    for pattern in (p.strip().lower().rstrip(".") for p in allowed):
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
            return True
        if host == pattern:
            return True
    return False


def check_target(url: str, allowed_hosts: Sequence[str]) -> None:
    """Raise WebhookRefused unless the URL is https to an allowed host (or http/https to loopback)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or parts.username or parts.password:
        raise WebhookRefused("STAFF_WEBHOOK_URL needs a host and no user name or password in it")
    if _loopback(host):
        if parts.scheme not in ("http", "https"):
            raise WebhookRefused("STAFF_WEBHOOK_URL must be an http(s) URL")
        return
    if parts.scheme != "https":
        raise WebhookRefused("STAFF_WEBHOOK_URL must use https (plain http only to this machine)")
    if not _host_allowed(host, allowed_hosts):
        raise WebhookRefused(f"STAFF_WEBHOOK_URL host {host!r} is not in STAFF_WEBHOOK_HOSTS")


def message_for(ticket: TicketView, console_url: str) -> dict[str, Any]:
    """What staff need to react (number, language, topic, where to answer); never the applicant's email or phone."""
    after_hours = "Left outside office hours; " + (
        "the applicant left a way to reach them (in the console)." if ticket.contact else "no contact given yet."
    )
    lines = [
        f"New conversation for staff #{ticket.id} ({ticket.language}, {ticket.reason})",
        f"Topic: {ticket.topic or '-'}" + (f" · case {ticket.case_number}" if ticket.case_number else ""),
        "" if ticket.office_open else after_hours,
        f"{console_url}/staff#ticket-{ticket.id}",
    ]
    return {"msgtype": "text", "text": {"content": "\n".join(line for line in lines if line)}}


def enqueue(db: Database, ticket: TicketView, console_url: str, clock: Callable[[], datetime] = utcnow) -> None:
    with db.transaction() as session:
        session.add(
            WebhookDelivery(
                ticket_id=ticket.id, body=message_for(ticket, console_url), attempts=0, next_attempt_at=clock()
            )
        )


def backoff(attempts: int) -> float:
    return min(MAX_DELAY_S, BASE_DELAY_S * (2 ** max(0, attempts - 1)))


CLAIM_S = 60.0  # a claimed delivery is left alone by other gateways this long (more than one request takes)


def due(db: Database, now: datetime, limit: int = 20) -> list[tuple[int, dict[str, Any], int]]:
    """Claim the deliveries that are due: each is moved CLAIM_S ahead by a conditional update, so when several
    gateways poll the same outbox only the one whose update matched sends it."""
    with db.transaction() as session:
        candidates = session.execute(
            sa.select(WebhookDelivery.id, WebhookDelivery.body, WebhookDelivery.attempts)
            .where(
                WebhookDelivery.delivered_at.is_(None),
                WebhookDelivery.attempts < MAX_ATTEMPTS,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        ).all()
    claimed = []
    for delivery_id, body, attempts in candidates:
        # A transaction per claim: on SQLite a read snapshot that later writes fails if another gateway wrote
        # meanwhile, while a fresh one simply waits its turn.
        with db.transaction() as session:
            taken = session.execute(
                sa.update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.delivered_at.is_(None),
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_S))
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:
                claimed.append((delivery_id, body, attempts))
    return claimed


def record(db: Database, delivery_id: int, ok: bool, error: str | None, now: datetime) -> None:
    with db.transaction() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return
        row.attempts += 1
        if ok:
            row.delivered_at = now
            row.last_error = None
        else:
            row.last_error = (error or "failed")[:500]
            row.next_attempt_at = now + timedelta(seconds=backoff(row.attempts))


async def deliver_due(
    db: Database,
    session: aiohttp.ClientSession,
    url: str,
    clock: Callable[[], datetime] = utcnow,
    allowed_hosts: Sequence[str] = (),
) -> int:
    """Send what is due; returns how many were delivered. Each call is short: a 5-second timeout per request.
    A redirect is a failed delivery (not followed)."""
    import asyncio

    check_target(url, allowed_hosts)
    delivered = 0
    for delivery_id, body, _attempts in await asyncio.to_thread(due, db, clock()):
        try:
            async with session.post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=5), allow_redirects=False
            ) as response:
                ok, error = response.status < 300, f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, error = False, str(exc) or exc.__class__.__name__
        await asyncio.to_thread(record, db, delivery_id, ok, None if ok else error, clock())
        if ok:
            delivered += 1
        else:
            log.warning("staff webhook delivery %s failed: %s", delivery_id, error)
    return delivered
