"""The optional second factor of staff logins: RFC 6238 time-based one-time codes (pyotp), 30-second steps.

A code is accepted for its own step and the neighbouring ones (clock drift of the phone), and each step only once:
the caller stores the last accepted step, so a code seen over someone's shoulder cannot be replayed."""

from __future__ import annotations

from datetime import datetime

import pyotp

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
