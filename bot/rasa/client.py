"""Talks to the Rasa server over its REST channel only; the gateway never reaches into Rasa internals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from typing import Any, Iterator, Sequence

import aiohttp

from bot.core import payload

log = logging.getLogger(__name__)

# The custom payload our Rasa server sends, instead of a half-done turn, when the action server stays unreachable
# (see bot/rasa/server.py): the turn was not saved in the tracker, so the whole message can simply be sent again.
ACTIONS_UNAVAILABLE = payload.ACTIONS_UNAVAILABLE
# Metadata key carrying the gateway's sequence number of a user message into Rasa's tracker (its UserUttered
# event), so a retry can tell whether an earlier attempt was processed although its reply never arrived.
SEQ_KEY = "gateway_seq"
# After a connection failure, a server is tried last for this long (it is probably restarting).
SUSPECT_S = 5.0


def rasa_server_name(number: int) -> str:
    """The name of the n-th Rasa server (from 1) in RASA_URL: "rasa", "rasa-2", … (supervisor, logs, /health)."""
    return "rasa" if number == 1 else f"rasa-{number}"


class RasaUnavailable(RuntimeError):
    """Rasa did not answer (down, restarting, overloaded); the user's message stays stored for a retry."""


class ActionsUnavailable(RasaUnavailable):
    """Rasa answered, but could not reach the action server for the turn; the turn was not saved, retry it later."""


class _Dropped(Exception):
    """The connection broke after the request was sent: the server may have processed the turn before dying."""


@contextlib.contextmanager
def _transport_errors() -> Iterator[None]:
    """What a failed request to Rasa means: refused (ClientConnectorError, passed on: nothing was processed),
    dropped after sending (the server may have processed it), or otherwise unavailable (a retry later)."""
    try:
        yield
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError) as exc:
        raise _Dropped(str(exc) or exc.__class__.__name__) from exc
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise RasaUnavailable(str(exc) or exc.__class__.__name__) from exc


class RasaClient:
    """Sends each conversation to "its" Rasa server (a stable hash of its id), and to the next live one while that
    server is down.

    Rasa's lock store is in memory, one per server (the embedded default; with REDIS_URL it is shared): a lock on
    one server does not stop another from processing the same conversation. What keeps two servers from handling
    one conversation at the same time is the gateway: it hands a conversation one message at a time (ChatService's
    lock per conversation, and with several gateways the hub's Redis lock), and it moves a conversation to another
    server only when its own server refused the connection or dropped it, i.e. is not processing that turn any more.
    A turn that merely times out is not failed over (the slow server may still finish it); it is retried later.

    Exactly once: every turn carries the gateway's message number in its metadata. Rasa saves a turn to the
    (shared) tracker store only at its end, so after a dropped connection or a retry the tracker either has no trace
    of the message, and it is sent again, or has the whole turn, and its replies are read back from the tracker
    instead of running the turn a second time."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_urls: str | Sequence[str],
        timeout_s: float = 30.0,
        channel_headers: dict[str, str] | None = None,
        token: str = "",
    ) -> None:
        self._session = session
        # The shared secret Rasa's REST channel asks for (bot.rasa.channel): only the gateway gets an answer.
        self._channel_headers = dict(channel_headers or {})
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("at least one Rasa URL is needed")
        self._bases = [url.rstrip("/") for url in urls]
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._token = token
        self._suspect_until: dict[str, float] = {}

    def server_for(self, sender: str) -> str:
        return self._bases[zlib.crc32(sender.encode("utf-8")) % len(self._bases)]

    def servers_for(self, sender: str) -> list[str]:
        """The conversation's own server first, then the others in a fixed ring order (so a conversation whose server
        is down moves to the same replacement every time); servers that failed recently go last."""
        first = self._bases.index(self.server_for(sender))
        ring = self._bases[first:] + self._bases[:first]
        now = time.monotonic()
        return sorted(ring, key=lambda base: self._suspect_until.get(base, 0.0) > now)

    def _suspect(self, base: str) -> None:
        self._suspect_until[base] = time.monotonic() + SUSPECT_S

    async def send(
        self,
        sender: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        *,
        seq: int | None = None,
        may_have_reached: bool = False,
    ) -> list[dict[str, Any]]:
        """One user turn; returns Rasa's bot messages (text, buttons, custom…) in order.

        `seq` (the stored message's number) makes the turn recognisable in the tracker; `may_have_reached` says an
        earlier attempt may have been processed (a retry, a resend after a gateway restart): the tracker is checked
        first, and its replies returned if the turn is there."""
        body: dict[str, Any] = {"sender": sender, "message": text, "metadata": dict(metadata or {})}
        if seq is not None:
            body["metadata"][SEQ_KEY] = seq
        errors: list[str] = []
        for base in self.servers_for(sender):
            try:
                if may_have_reached and seq is not None:
                    found = await self._replies_in_tracker(base, sender, seq)
                    if found is not None:
                        log.info(
                            "message %s of %s was already processed; replies read back from the tracker",
                            seq,
                            sender[:8],
                        )
                        return found
                return await self._post_turn(base, body)
            except ActionsUnavailable:
                raise  # another Rasa server would reach the same action server
            except _Dropped as exc:
                self._suspect(base)
                may_have_reached = True
                errors.append(f"{base}: {exc}")
                log.warning("%s dropped message %s of %s (%s); trying the next server", base, seq, sender[:8], exc)
            except aiohttp.ClientConnectorError as exc:  # refused: nothing was sent, nothing processed
                self._suspect(base)
                errors.append(f"{base}: {exc}")
                log.warning("%s refused message %s of %s; trying the next server", base, seq, sender[:8])
            except RasaUnavailable as exc:
                raise RasaUnavailable(f"{base}: {exc}") from exc
        raise RasaUnavailable("; ".join(errors) or "no Rasa server answered")

    async def _post_turn(self, base: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        with _transport_errors():
            url = f"{base}/webhooks/rest/webhook"
            async with self._session.post(
                url, json=body, timeout=self._timeout, headers=self._channel_headers
            ) as response:
                if response.status >= 500:
                    raise _Dropped(f"HTTP {response.status}")
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                data = await response.json(content_type=None)
        if not isinstance(data, list):
            raise RasaUnavailable("Rasa answered with something other than a list of messages")
        messages = [item for item in data if isinstance(item, dict)]
        if any((m.get("custom") or {}).get("type") == ACTIONS_UNAVAILABLE for m in messages):
            raise ActionsUnavailable("Rasa could not reach the action server; the turn was not saved")
        return messages

    async def _replies_in_tracker(self, base: str, sender: str, seq: int) -> list[dict[str, Any]] | None:
        """The bot messages of the turn of message `seq` if Rasa's tracker has it (the turn ran, its reply was
        lost), else None. Raises like a turn would when the server cannot be asked."""
        with _transport_errors():
            async with self._session.get(
                f"{base}/conversations/{sender}/tracker",
                params={"token": self._token, "include_events": "AFTER_RESTART"},
                timeout=self._timeout,
            ) as response:
                if response.status >= 500:
                    raise _Dropped(f"HTTP {response.status} to the tracker")
                if response.status != 200:
                    # Cannot check (a wrong token, an API turned off): answering at least once beats never.
                    log.warning("cannot read Rasa's tracker (HTTP %s); sending the message again", response.status)
                    return None
                tracker = await response.json(content_type=None)
        return turn_replies(tracker.get("events") if isinstance(tracker, dict) else None, seq)

    async def resume(self, sender: str, token: str) -> None:
        """Un-pause a conversation paused for a human handoff (Rasa's tracker events API). A paused turn ends
        without `action_listen`; adding it lets the next message start a normal turn (rules match again)."""
        try:
            async with self._session.post(
                f"{self.servers_for(sender)[0]}/conversations/{sender}/tracker/events",
                params={"token": token, "include_events": "NONE"},
                json=[{"event": "resume"}, {"event": "action", "name": "action_listen"}],
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status} to resume")
        except aiohttp.ClientConnectorError as exc:
            self._suspect(self.servers_for(sender)[0])
            raise RasaUnavailable(str(exc) or exc.__class__.__name__) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RasaUnavailable(str(exc) or exc.__class__.__name__) from exc

    async def server_health(self) -> dict[str, bool]:
        """Whether each Rasa server answers, by name ("rasa", "rasa-2", …)."""
        checks = await asyncio.gather(*(self._answers(base) for base in self._bases))
        return {rasa_server_name(number): ok for number, ok in enumerate(checks, start=1)}

    async def _answers(self, base: str) -> bool:
        try:
            async with self._session.get(f"{base}/", timeout=aiohttp.ClientTimeout(total=3)) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False


def turn_replies(events: object, seq: int) -> list[dict[str, Any]] | None:
    """From tracker events: the bot messages that followed the user message carrying `seq`, in the REST channel's
    shape; None when no user event carries it (the turn never reached the tracker)."""
    if not isinstance(events, list):
        return None
    replies: list[dict[str, Any]] | None = None
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "user":
            if replies is not None:
                break  # the next turn began
            if (event.get("metadata") or {}).get(SEQ_KEY) == seq:
                replies = []
        elif kind == "bot" and replies is not None:
            data = event.get("data") or {}
            message: dict[str, Any] = {"text": event.get("text")} if event.get("text") else {}
            for name in ("buttons", "custom", "image"):
                if data.get(name):
                    message[name] = data[name]
            if message:
                replies.append(message)
    return replies


def bot_items(rasa_messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None]]:
    """Rasa REST output → transcript entries (text, payload). Buttons and custom payloads stay structured."""
    items: list[tuple[str, dict[str, Any] | None]] = []
    for message in rasa_messages:
        payload: dict[str, Any] = {}
        if isinstance(message.get("buttons"), list):
            payload["buttons"] = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in message["buttons"]
                if isinstance(b, dict)
            ]
        if isinstance(message.get("custom"), dict):
            payload["custom"] = message["custom"]
        if message.get("image"):
            payload["image"] = str(message["image"])
        raw_text = message.get("text")
        text = raw_text if isinstance(raw_text, str) else ""
        if text or payload:
            items.append((text, payload or None))
    return items
