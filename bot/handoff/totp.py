"""The optional second factor of staff logins: RFC 6238 time-based one-time codes (pyotp), 30-second steps.

A code is accepted for its own step and the neighbouring ones (clock drift of the phone), and each step only once:
the caller stores the last accepted step, so a code seen over someone's shoulder cannot be replayed.

The secrets are stored sealed (SecretBox): whoever reads the database (a backup, a stray dump) gets no codes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ISSUER = "E-Town work-permit assistant"
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def accepted_step(secret: str, code: str | None, now: datetime, last_step: int | None) -> int | None:
    """The time step the code belongs to, or None when it is wrong, expired, or that step was already used."""
    if not isinstance(code, str):
        return None
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    generator = pyotp.TOTP(secret)
    current = generator.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if pyotp.utils.strings_equal(generator.generate_otp(step), code):
            return step
    return None


class SecretUnreadable(ValueError):
    """A stored TOTP secret that this key cannot open (another TOTP_ENCRYPTION_KEY, a moved or edited value)."""


class SecretBox:
    """AES-256-GCM for TOTP secrets at rest. The key is SHA-256 of TOTP_ENCRYPTION_KEY (which defaults to one
    derived from SECRET_KEY); each value is bound to its account's id, so a sealed secret copied onto another
    account does not open there. Stored as `gcm1:` + base64url(nonce + ciphertext + tag), 83 characters."""

    PREFIX = "gcm1:"

    def __init__(self, key_material: str) -> None:
        if not key_material:
            raise ValueError("the TOTP encryption key is empty")
        self._aead = AESGCM(hashlib.sha256(("totp-secret-box:" + key_material).encode()).digest())

    @staticmethod
    def _context(user_id: int) -> bytes:
        return f"staff_users.totp_secret:{user_id}".encode()

    @classmethod
    def is_sealed(cls, stored: str) -> bool:
        return stored.startswith(cls.PREFIX)

    def seal(self, secret: str, user_id: int) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, secret.encode(), self._context(user_id))
        return self.PREFIX + base64.urlsafe_b64encode(sealed).decode()

    def open(self, stored: str, user_id: int) -> str:
        """The secret; SecretUnreadable for anything not sealed by this key for this account (a value in clear
        included: after the migration none should be left, and one that appears is not trusted)."""
        if not self.is_sealed(stored):
            raise SecretUnreadable("the stored TOTP secret is not sealed")
        try:
            sealed = base64.urlsafe_b64decode(stored.removeprefix(self.PREFIX).encode())
            return self._aead.decrypt(sealed[:12], sealed[12:], self._context(user_id)).decode()
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise SecretUnreadable("the stored TOTP secret does not open with this key") from exc
