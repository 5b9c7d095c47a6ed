"""Settings, read from the environment once, with defaults that run the embedded setup (SQLite, no Redis).

Every variable here is listed in the README's configuration table; `tests/test_settings.py` checks that.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _list(name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, default).split(",") if item.strip())


def _secret_key(var_dir: Path) -> str:
    """SECRET_KEY from the environment; in the embedded setup, a random key kept in var/ across restarts."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    tracker_store_url: str
    redis_url: str
    # Several Rasa servers share the turns: the gateway keeps each conversation on one of them (in-memory locks
    # stay correct because no conversation is ever handled by two servers).
    rasa_urls: tuple[str, ...]
    action_endpoint: str
    gateway_host: str
    gateway_port: int
    rasa_port: int
    action_port: int
    public_url: str
    allowed_origins: tuple[str, ...]
    # Origins whose pages may use the rasa-webchat socket.io path; empty: the path is off (see socketio_compat).
    socketio_origins: tuple[str, ...]
    secret_key: str = field(repr=False)
    # Encrypts the staff TOTP secrets at rest (bot.handoff.totp.SecretBox).
    totp_encryption_key: str = field(repr=False)
    model_path: Path
    # How many user turns of a conversation Rasa loads per message (policies look at far fewer).
    tracker_window_turns: int
    max_message_chars: int
    messages_per_minute: int
    lookup_lock_minutes: int
    # Limits per client address (shared by every transport and, with Redis, every gateway); see the chat service.
    address_messages_per_minute: int
    frames_per_minute: int
    new_conversations_per_hour: int
    handoffs_per_hour: int
    lookups_per_hour: int
    lookup_backoff_max_seconds: int
    trusted_proxies: tuple[str, ...]
    retention_days: int
    office_hours: str
    staff_webhook_url: str
    # Hosts the staff webhook may post to (exact names or "*.domain"); the webhook is https-only.
    staff_webhook_hosts: tuple[str, ...]
    # Staff sessions end after this many idle minutes; login attempts per client address per 15 minutes.
    staff_idle_minutes: int
    staff_login_attempts_per_address: int
    log_level: str

    @property
    def rasa_url(self) -> str:
        """The first Rasa server (enough for anything that is not a user conversation through the gateway)."""
        return self.rasa_urls[0]


def rasa_processes() -> int:
    """RASA_PROCESSES; by default one Rasa server per core, at most two: a turn is CPU-bound and Rasa uses one
    core, while each server holds the model in ~1 GB of memory."""
    return max(1, _int("RASA_PROCESSES", min(2, os.cpu_count() or 1)))


def _rasa_urls(first_port: int) -> tuple[str, ...]:
    """RASA_URL (one URL or several, comma-separated), else RASA_PROCESSES local servers from RASA_PORT up."""
    listed = [url.strip().rstrip("/") for url in os.environ.get("RASA_URL", "").split(",") if url.strip()]
    if listed:
        return tuple(listed)
    return tuple(f"http://127.0.0.1:{first_port + i}" for i in range(rasa_processes()))


def load_settings() -> Settings:
    """Read the environment now (tests call this after changing variables)."""
    var_dir = Path(os.environ.get("VAR_DIR", PROJECT_ROOT / "var"))
    gateway_port = _int("GATEWAY_PORT", 8080)
    rasa_port = _int("RASA_PORT", 5005)
    action_port = _int("ACTION_PORT", 5055)
    public_url = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{gateway_port}").rstrip("/")
    secret_key = _secret_key(var_dir)
    return Settings(
        var_dir=var_dir,
        database_url=os.environ.get("DATABASE_URL", f"sqlite:///{var_dir / 'etown.db'}"),
        tracker_store_url=os.environ.get("TRACKER_STORE_URL", f"sqlite:///{var_dir / 'tracker.db'}"),
        redis_url=os.environ.get("REDIS_URL", ""),
        rasa_urls=_rasa_urls(rasa_port),
        action_endpoint=os.environ.get("ACTION_ENDPOINT", f"http://127.0.0.1:{action_port}/webhook"),
        gateway_host=os.environ.get("GATEWAY_HOST", "127.0.0.1"),
        gateway_port=gateway_port,
        rasa_port=rasa_port,
        action_port=action_port,
        public_url=public_url,
        # The gateway's own pages (the widget's frame, /chat) always connect from PUBLIC_URL.
        allowed_origins=tuple(dict.fromkeys((public_url, *_list("ALLOWED_ORIGINS", public_url)))),
        socketio_origins=_list("SOCKETIO_ORIGINS", ""),
        secret_key=secret_key,
        totp_encryption_key=os.environ.get("TOTP_ENCRYPTION_KEY")
        or hashlib.sha256(("totp-encryption:" + secret_key).encode()).hexdigest(),
        model_path=Path(os.environ.get("MODEL_PATH", PROJECT_ROOT / "models" / "etown.tar.gz")),
        tracker_window_turns=_int("TRACKER_WINDOW_TURNS", 5),
        max_message_chars=_int("MAX_MESSAGE_CHARS", 2000),
        messages_per_minute=_int("MESSAGES_PER_MINUTE", 30),
        lookup_lock_minutes=_int("LOOKUP_LOCK_MINUTES", 30),
        address_messages_per_minute=_int("ADDRESS_MESSAGES_PER_MINUTE", 4 * _int("MESSAGES_PER_MINUTE", 30)),
        frames_per_minute=_int("FRAMES_PER_MINUTE", max(120, 2 * _int("MESSAGES_PER_MINUTE", 30))),
        new_conversations_per_hour=_int("NEW_CONVERSATIONS_PER_HOUR", 30),
        handoffs_per_hour=_int("HANDOFFS_PER_HOUR", 10),
        lookups_per_hour=_int("LOOKUPS_PER_HOUR", 20),
        lookup_backoff_max_seconds=_int("LOOKUP_BACKOFF_MAX_SECONDS", 60),
        trusted_proxies=_list("TRUSTED_PROXIES", ""),
        retention_days=_int("RETENTION_DAYS", 180),
        office_hours=os.environ.get("OFFICE_HOURS", "workdays 09:00-12:00,13:30-17:00"),
        staff_webhook_url=os.environ.get("STAFF_WEBHOOK_URL", ""),
        staff_webhook_hosts=_list("STAFF_WEBHOOK_HOSTS", "qyapi.weixin.qq.com,oapi.dingtalk.com"),
        staff_idle_minutes=_int("STAFF_IDLE_MINUTES", 30),
        staff_login_attempts_per_address=_int("STAFF_LOGIN_ATTEMPTS_PER_ADDRESS", 20),
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    )
