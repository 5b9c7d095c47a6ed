"""Apply the Alembic migrations to a database (`python -m bot migrate`, run by `make run`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", totp_encryption_key: str | None = None) -> None:
    """`totp_encryption_key` seals existing TOTP secrets (0006); by default the one settings give."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = alembic_config(url)
    if totp_encryption_key:
        config.attributes["totp_encryption_key"] = totp_encryption_key
    command.upgrade(config, revision)
