"""Talks to the Rasa server over its REST channel only; the gateway never reaches into Rasa internals."""

from __future__ import annotations

import zlib
from typing import Any, Sequence

import aiohttp


class RasaUnavailable(RuntimeError):
    """Rasa did not answer (down, restarting, overloaded); the user's message stays stored for a retry."""


class RasaClient:
    """Sends each conversation always to the same one of the Rasa servers (a stable hash of its id), so Rasa's
    per-server conversation locks keep turns of one conversation in order however many servers share the load."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_urls: str | Sequence[str],
        timeout_s: float = 30.0,
        channel_headers: dict[str, str] | None = None,
    ) -> None:
        self._session = session
        # The shared secret Rasa's REST channel asks for (bot.rasa_channel): only the gateway gets an answer.
        self._channel_headers = dict(channel_headers or {})
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("at least one Rasa URL is needed")
        self._bases = [url.rstrip("/") for url in urls]
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def server_for(self, sender: str) -> str:
        return self._bases[zlib.crc32(sender.encode("utf-8")) % len(self._bases)]

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One user turn; returns Rasa's bot messages (text, buttons, custom…) in order."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        try:
            async with self._session.post(
                f"{self.server_for(sender)}/webhooks/rest/webhook",
                json=body,
                timeout=self._timeout,
                headers=self._channel_headers,
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(str(exc) or exc.__class__.__name__) from exc
        if not isinstance(data, list):
            raise RasaUnavailable("Rasa answered with something other than a list of messages")
        return [item for item in data if isinstance(item, dict)]

    async def resume(self, sender: str, token: str) -> None:
        """Un-pause a conversation paused for a human handoff (Rasa's tracker events API). A paused turn ends
        without `action_listen`; adding it lets the next message start a normal turn (rules match again)."""
        try:
            async with self._session.post(
                f"{self.server_for(sender)}/conversations/{sender}/tracker/events",
                params={"token": token, "include_events": "NONE"},
                json=[{"event": "resume"}, {"event": "action", "name": "action_listen"}],
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status} to resume")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(str(exc) or exc.__class__.__name__) from exc

    async def healthy(self) -> bool:
        """True when every Rasa server answers (a conversation may be on any of them)."""
        for base in self._bases:
            try:
                async with self._session.get(f"{base}/", timeout=aiohttp.ClientTimeout(total=3)) as response:
                    if response.status != 200:
                        return False
            except (aiohttp.ClientError, TimeoutError):
                return False
        return True


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
        text = message.get("text") if isinstance(message.get("text"), str) else ""
        if text or payload:
            items.append((text, payload or None))
    return items
