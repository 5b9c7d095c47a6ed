"""Staff TOTP secrets are stored sealed (AES-256-GCM with TOTP_ENCRYPTION_KEY), on SQLite and PostgreSQL: the
database holds no secret in clear, a sealed value opens only with its key and on its own account, and migration
0006 seals the secrets an older version stored in clear (and a downgrade opens them again)."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pyotp
import pytest
import sqlalchemy as sa
from alembic import command

from bot.db import Database
from bot.db.migrate import alembic_config, upgrade
from bot.db.models import StaffUser
from bot.handoff import staff_accounts, totp
from bot.handoff.staff_accounts import AccountError

PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
KEY = "test key " + "k" * 40


def stored_secret(db: Database, username: str) -> str:
    with db.transaction() as session:
        return session.execute(sa.select(StaffUser.totp_secret).where(StaffUser.username == username)).scalar_one()


def test_an_enrolled_secret_is_stored_sealed_and_opens_only_with_its_key(db: Database) -> None:
    box = totp.SecretBox(KEY)
    staff_accounts.create_staff(db, "admin1", "Admin", PASSWORD, "admin")
    secret = staff_accounts.enrol_totp(db, "admin1", box)
    stored = stored_secret(db, "admin1")
    assert secret not in stored and stored.startswith("gcm1:") and len(stored) <= 255
    code = pyotp.TOTP(secret).at(NOW)
    # Another key, or none, cannot check the code: refused even with the right password and code.
    for wrong in (totp.SecretBox("another key " + "x" * 40), None):
        with pytest.raises(AccountError):
            staff_accounts.authenticate(db, "admin1", PASSWORD, clock=lambda: NOW, otp=code, box=wrong)
    staff_accounts.set_password(db, "admin1", PASSWORD)  # clears the failures counted above
    assert staff_accounts.authenticate(db, "admin1", PASSWORD, clock=lambda: NOW, otp=code, box=box).role == "admin"


def test_a_sealed_secret_copied_onto_another_account_does_not_open(db: Database) -> None:
    box = totp.SecretBox(KEY)
    staff_accounts.create_staff(db, "victim", "Victim", PASSWORD)
    staff_accounts.create_staff(db, "mallory", "Mallory", PASSWORD)
    victim_secret = staff_accounts.enrol_totp(db, "victim", box)
    staff_accounts.enrol_totp(db, "mallory", box)
    with db.transaction() as session:  # someone with write access to the table swaps the sealed values
        session.execute(
            sa.update(StaffUser).where(StaffUser.username == "mallory").values(totp_secret=stored_secret(db, "victim"))
        )
    with pytest.raises(AccountError):
        code = pyotp.TOTP(victim_secret).at(NOW)
        staff_accounts.authenticate(db, "mallory", PASSWORD, clock=lambda: NOW, otp=code, box=box)


def test_a_secret_in_clear_is_not_trusted(db: Database) -> None:
    """After the migration none is left; one written by anything else is refused, not used."""
    staff_accounts.create_staff(db, "clear", "Clear", PASSWORD)
    secret = pyotp.random_base32()
    with db.transaction() as session:
        session.execute(sa.update(StaffUser).where(StaffUser.username == "clear").values(totp_secret=secret))
    with pytest.raises(AccountError):
        code = pyotp.TOTP(secret).at(NOW)
        staff_accounts.authenticate(db, "clear", PASSWORD, clock=lambda: NOW, otp=code, box=totp.SecretBox(KEY))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (not migrated), on SQLite and on a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = "totp_privacy_" + secrets.token_hex(4)
    admin = sa.create_engine(base, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}?options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_the_migration_seals_secrets_stored_in_clear_and_a_downgrade_opens_them(empty_url: str) -> None:
    upgrade(empty_url, "0005_staff_security")
    db = Database(empty_url)
    try:
        staff_accounts.create_staff(db, "old.admin", "Old Admin", PASSWORD, "admin")
        staff_accounts.create_staff(db, "no.code", "No Code", PASSWORD)
        secret = pyotp.random_base32()
        with db.transaction() as session:  # what version 0005 stored
            session.execute(sa.update(StaffUser).where(StaffUser.username == "old.admin").values(totp_secret=secret))
        upgrade(empty_url, totp_encryption_key=KEY)
        stored = stored_secret(db, "old.admin")
        assert stored.startswith("gcm1:") and secret not in stored
        assert stored_secret(db, "no.code") is None  # nothing invented for accounts without a second factor
        box = totp.SecretBox(KEY)
        code = pyotp.TOTP(secret).at(NOW)  # the authenticator app the admin already has keeps working
        assert staff_accounts.authenticate(db, "old.admin", PASSWORD, clock=lambda: NOW, otp=code, box=box)
        upgrade(empty_url, totp_encryption_key=KEY)  # at head already: nothing sealed twice
        assert stored_secret(db, "old.admin") == stored
        config = alembic_config(empty_url)
        config.attributes["totp_encryption_key"] = KEY
        command.downgrade(config, "0005_staff_security")
        assert stored_secret(db, "old.admin") == secret
    finally:
        db.dispose()


async def test_the_console_login_opens_the_secret_with_the_configured_key(gateway) -> None:  # type: ignore[no-untyped-def]
    from bot.gateway.keys import DB, SETTINGS

    db, settings = gateway.app[DB], gateway.app[SETTINGS]
    staff_accounts.create_staff(db, "http.admin", "Admin", PASSWORD, "admin")
    secret = staff_accounts.enrol_totp(db, "http.admin", totp.SecretBox(settings.totp_encryption_key))
    body = {"username": "http.admin", "password": PASSWORD}
    assert (await gateway.post("/staff/login", json=body)).status == 401  # the code is needed
    login = await gateway.post("/staff/login", json={**body, "otp": pyotp.TOTP(secret).now()})
    assert login.status == 200 and (await login.json())["role"] == "admin"
