"""Staff accounts under attack, on SQLite and PostgreSQL: parallel password guesses get no more than MAX_FAILURES
checks, a client address is throttled, a new password ends every session, idle sessions end, one-time codes are
required once enrolled and cannot be replayed; over HTTP, a forged Host/Origin pair is refused before any password
is checked."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
import sqlalchemy as sa

from bot.db import Database
from bot.db.models import StaffSession
from bot.gateway.keys import DB, SETTINGS
from bot.handoff import staff_accounts, totp
from bot.handoff.staff_accounts import AccountError

PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


class CountingChecks:
    """Wraps the Argon2 check to count the real password checks (the dummy one for locked accounts is not)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = 0
        self._lock = threading.Lock()
        original = staff_accounts._check

        def check(stored: str, password: str) -> bool:
            if stored != staff_accounts._DUMMY:
                with self._lock:
                    self.real += 1
            return original(stored, password)

        monkeypatch.setattr(staff_accounts, "_check", check)


def parallel(count: int, work) -> list[str]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count)
    outcomes: list[str] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            work(index)
            outcomes.append("ok")
        except AccountError:
            outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_parallel_guesses_get_no_more_than_max_failures_checks(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    staff_accounts.create_staff(db, "target", "Target", PASSWORD)
    checks = CountingChecks(monkeypatch)
    guesses = [f"guess number {i}" for i in range(20)]
    outcomes = parallel(20, lambda i: staff_accounts.authenticate(db, "target", guesses[i], clock=lambda: NOW))
    assert outcomes == ["refused"] * 20
    assert checks.real == staff_accounts.MAX_FAILURES  # the other 15 never reached Argon2
    # Locked now, even for the right password, until the lock period is over.
    with pytest.raises(AccountError):
        staff_accounts.authenticate(db, "target", PASSWORD, clock=lambda: NOW + timedelta(minutes=1))
    later = NOW + timedelta(minutes=staff_accounts.LOCK_MINUTES + 1)
    assert staff_accounts.authenticate(db, "target", PASSWORD, clock=lambda: later).username == "target"
    # The counter starts afresh after the lock: a single new failure does not lock again.
    with pytest.raises(AccountError):
        staff_accounts.authenticate(db, "target", "wrong again", clock=lambda: later)
    assert staff_accounts.authenticate(db, "target", PASSWORD, clock=lambda: later).username == "target"


def test_a_client_address_is_throttled_atomically(db: Database) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def attempt(_index: int) -> None:
        allowed = staff_accounts.throttle_address(db, "203.0.113.7", 10, clock=lambda: NOW)
        with lock:
            results.append(allowed)

    parallel(25, attempt)
    assert results.count(True) == 10 and results.count(False) == 15
    assert staff_accounts.throttle_address(db, "198.51.100.1", 10, clock=lambda: NOW)  # another address
    window = NOW + timedelta(minutes=staff_accounts.THROTTLE_MINUTES, seconds=1)
    assert staff_accounts.throttle_address(db, "203.0.113.7", 10, clock=lambda: window)  # a new window


def test_a_new_password_ends_every_session(db: Database) -> None:
    staff = staff_accounts.create_staff(db, "wu", "Wu", PASSWORD)
    other = staff_accounts.create_staff(db, "zhao", "Zhao", PASSWORD)
    tokens = [staff_accounts.open_session(db, staff)[0] for _ in range(3)]
    kept, _ = staff_accounts.open_session(db, other)
    staff_accounts.set_password(db, "wu", "a brand new long password")
    assert [staff_accounts.session_for(db, token) for token in tokens] == [None, None, None]
    assert staff_accounts.session_for(db, kept) is not None  # someone else's session is untouched
    with pytest.raises(AccountError):
        staff_accounts.authenticate(db, "wu", PASSWORD)
    assert staff_accounts.authenticate(db, "wu", "a brand new long password").username == "wu"


def test_an_idle_session_ends_and_use_keeps_it_alive(db: Database) -> None:
    staff = staff_accounts.create_staff(db, "qian", "Qian", PASSWORD)
    token, _ = staff_accounts.open_session(db, staff, clock=lambda: NOW)
    for minutes in (20, 40, 60):  # used every 20 minutes: alive an hour later
        assert staff_accounts.session_for(db, token, clock=lambda m=minutes: NOW + timedelta(minutes=m)) is not None
    # Looking without using (the console socket) does not keep it alive.
    peek = NOW + timedelta(minutes=80)
    assert staff_accounts.session_for(db, token, clock=lambda: peek, touch=False) is not None
    idle = NOW + timedelta(minutes=60 + staff_accounts.IDLE_MINUTES)
    assert staff_accounts.session_for(db, token, clock=lambda: idle) is None
    with db.transaction() as session:  # ended, not only refused
        assert session.execute(sa.select(sa.func.count()).select_from(StaffSession)).scalar_one() == 0


def test_csrf_comparison(db: Database) -> None:
    staff = staff_accounts.create_staff(db, "sun", "Sun", PASSWORD)
    token, csrf = staff_accounts.open_session(db, staff)
    session = staff_accounts.session_for(db, token)
    assert session is not None
    assert staff_accounts.csrf_matches(session, csrf)
    assert not staff_accounts.csrf_matches(session, csrf[:-1])
    assert not staff_accounts.csrf_matches(session, None)
    assert not staff_accounts.csrf_matches(session, "")


def test_a_one_time_code_is_needed_once_enrolled_and_is_never_accepted_twice(db: Database) -> None:
    staff_accounts.create_staff(db, "admin1", "Admin", PASSWORD, "admin")
    box = totp.SecretBox("test key for the one-time codes")
    secret = staff_accounts.enrol_totp(db, "admin1", box)
    code = pyotp.TOTP(secret).at(NOW)
    for missing in (None, "", "000000" if code != "000000" else "111111", "12345a"):
        with pytest.raises(AccountError):
            staff_accounts.authenticate(db, "admin1", PASSWORD, clock=lambda: NOW, otp=missing, box=box)
    staff_accounts.set_password(db, "admin1", PASSWORD)  # clears the failures above (they count like passwords)
    assert staff_accounts.authenticate(db, "admin1", PASSWORD, clock=lambda: NOW, otp=code, box=box).role == "admin"
    with pytest.raises(AccountError):  # replayed
        staff_accounts.authenticate(db, "admin1", PASSWORD, clock=lambda: NOW + timedelta(seconds=5), otp=code, box=box)
    later = NOW + timedelta(seconds=30)
    fresh = pyotp.TOTP(secret).at(later)
    assert staff_accounts.authenticate(db, "admin1", PASSWORD, clock=lambda: later, otp=fresh, box=box)
    with pytest.raises(AccountError):  # a right code with a wrong password
        staff_accounts.authenticate(db, "admin1", "not the password", clock=lambda: later, otp=code, box=box)
    staff_accounts.remove_totp(db, "admin1")
    assert staff_accounts.authenticate(db, "admin1", PASSWORD, clock=lambda: later).username == "admin1"


# -- over HTTP ------------------------------------------------------------------------------------------------------


async def test_a_forged_host_and_origin_pair_is_refused_before_the_password_check(gateway, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = gateway.app[DB]
    staff_accounts.create_staff(db, "agent", "Agent", PASSWORD)
    checked: list[str] = []
    original = staff_accounts.authenticate
    monkeypatch.setattr(staff_accounts, "authenticate", lambda *a, **k: checked.append("x") or original(*a, **k))
    forged = {"Host": "evil.example", "Origin": "http://evil.example"}
    refused = await gateway.post("/staff/login", json={"username": "agent", "password": PASSWORD}, headers=forged)
    assert refused.status == 403 and (await refused.json())["error"] == "csrf" and checked == []
    public = gateway.app[SETTINGS].public_url
    ok = await gateway.post(
        "/staff/login", json={"username": "agent", "password": PASSWORD}, headers={"Origin": public}
    )
    assert ok.status == 200 and checked == ["x"]
    csrf = (await ok.json())["csrf"]
    # The same forged pair on a write with a valid session and token: refused too.
    claim = await gateway.post("/staff/api/tickets/1/claim", json={}, headers={**forged, "X-CSRF-Token": csrf})
    assert claim.status == 403
    me = await gateway.get("/staff/api/me")
    assert me.headers["Cache-Control"] == "no-store"


async def test_logins_from_one_address_are_throttled(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(STAFF_LOGIN_ATTEMPTS_PER_ADDRESS="3")
    staff_accounts.create_staff(gateway.app[DB], "agent", "Agent", PASSWORD)
    statuses = []
    for name in ("a", "b", "c", "agent"):
        response = await gateway.post("/staff/login", json={"username": name, "password": PASSWORD})
        statuses.append(response.status)
    assert statuses == [401, 401, 401, 429]
    assert "Too many login attempts" in (await response.json())["message"]


async def test_the_login_throttle_honours_trusted_proxies_only(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    """Behind a trusted proxy each forwarded client has its own count (an office is not locked out by another);
    from any other peer, X-Forwarded-For is the client's own claim and cannot buy fresh attempts."""

    async def statuses(gateway, forwarded: list[str]) -> list[int]:  # type: ignore[no-untyped-def]
        out = []
        for address in forwarded:
            body = {"username": "nobody", "password": PASSWORD}
            response = await gateway.post("/staff/login", json=body, headers={"X-Forwarded-For": address})
            out.append(response.status)
        return out

    # The test client connects from 127.0.0.1: here that is the load balancer.
    trusted = await gateway_factory(STAFF_LOGIN_ATTEMPTS_PER_ADDRESS="2", TRUSTED_PROXIES="127.0.0.1")
    assert await statuses(trusted, ["203.0.113.5"] * 3) == [401, 401, 429]
    assert await statuses(trusted, ["198.51.100.9", "198.51.100.9"]) == [401, 401]  # another client behind it
    # A client may prepend hops of its own; the proxy's (last) entry is the one that counts.
    assert await statuses(trusted, ["10.9.9.9, 203.0.113.5"]) == [429]


async def test_the_login_throttle_ignores_forwarding_from_untrusted_peers(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    untrusted = await gateway_factory(STAFF_LOGIN_ATTEMPTS_PER_ADDRESS="2", TRUSTED_PROXIES="192.0.2.1")
    statuses = []
    for address in ("203.0.113.5", "198.51.100.9", "192.0.2.77"):  # a new claimed address each time
        body = {"username": "nobody", "password": PASSWORD}
        response = await untrusted.post("/staff/login", json=body, headers={"X-Forwarded-For": address})
        statuses.append(response.status)
    assert statuses == [401, 401, 429]  # all counted on the real peer, 127.0.0.1


async def test_a_password_change_logs_the_console_out(gateway) -> None:  # type: ignore[no-untyped-def]
    staff_accounts.create_staff(gateway.app[DB], "agent", "Agent", PASSWORD)
    login = await gateway.post("/staff/login", json={"username": "agent", "password": PASSWORD})
    assert login.status == 200
    assert (await gateway.get("/staff/api/me")).status == 200
    staff_accounts.set_password(gateway.app[DB], "agent", "another long password")
    assert (await gateway.get("/staff/api/me")).status == 401
