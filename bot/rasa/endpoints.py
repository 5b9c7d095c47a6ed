"""The Rasa server's endpoints, derived from settings (one source of truth for URLs and stores)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.core.settings import PROJECT_ROOT, Settings

COMMITTED_ENDPOINTS = PROJECT_ROOT / "endpoints.yml"


def endpoints(settings: Settings) -> dict[str, Any]:
    """Actions URL, our windowed SQL tracker store (URL read from TRACKER_STORE_URL by the store itself), and a
    Redis lock store when REDIS_URL is set (needed to run several Rasa servers side by side)."""
    data: dict[str, Any] = {
        # Only `validate_*` form actions need the domain (Rasa sends it to them regardless); not sending the whole
        # domain, with every generated guide response, to each other action call saves serialising ~20 KB per call.
        # Rasa sends the token as the `token` query parameter of each action call; bot.rasa.action_server checks it.
        "action_endpoint": {
            "url": settings.action_endpoint,
            "enable_selective_domain": True,
            "token": action_token(settings),
        },
        "tracker_store": {"type": "bot.rasa.tracker_store.WindowedSQLTrackerStore"},
        "lock_store": {"type": "in_memory"},
    }
    if settings.redis_url:
        url = urlsplit(settings.redis_url)
        lock: dict[str, Any] = {"type": "redis", "url": url.hostname or "127.0.0.1", "port": url.port or 6379}
        lock["db"] = int(url.path.lstrip("/") or 1)
        if url.password:
            lock["password"] = url.password
        lock["key_prefix"] = "etownlock"
        data["lock_store"] = lock
    return data


def write_runtime_endpoints(settings: Settings) -> Path:
    path = settings.var_dir / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: Rasa servers starting side by side (a cluster) each render it.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(
        "# Rendered from settings by `python -m bot run`; edit the environment, not this file.\n"
        + yaml.safe_dump(endpoints(settings), sort_keys=True)
    )
    os.replace(partial, path)
    return path


def _derived(purpose: str, settings: Settings) -> str:
    return hashlib.sha256((purpose + ":" + settings.secret_key).encode()).hexdigest()[:40]


def rasa_token(settings: Settings) -> str:
    """Token for Rasa's HTTP API (tracker events for pause/resume), derived from SECRET_KEY."""
    return _derived("rasa-api", settings)


CHANNEL_TOKEN_HEADER = "X-Etown-Channel-Token"  # noqa: S105 - a header name, not a secret


def channel_token(settings: Settings) -> str:
    """What the gateway sends in CHANNEL_TOKEN_HEADER to Rasa's REST channel (bot.rasa.channel checks it)."""
    return _derived("rasa-channel", settings)


def channel_headers(settings: Settings) -> dict[str, str]:
    return {CHANNEL_TOKEN_HEADER: channel_token(settings)}


def action_token(settings: Settings) -> str:
    """What Rasa sends to the action server (endpoints.yml `token:`; bot.rasa.action_server checks it)."""
    return _derived("action-server", settings)
