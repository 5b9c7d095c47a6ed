"""`python -m bot staff …`: staff accounts from a terminal (passwords are prompted, never taken from arguments)."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path

from bot.core.settings import Settings, load_settings
from bot.db import Database
from bot.handoff import staff_accounts, totp
from bot.handoff.staff_accounts import AccountError

DEMO_USER = "demo"


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def staff_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    db = Database(settings.database_url)
    try:
        if args.action == "create":
            staff = staff_accounts.create_staff(
                db, args.username, args.name or args.username, _password(args), args.role
            )
            print(f"created {staff.role} {staff.username}")
        elif args.action == "totp-enrol":
            secret = staff_accounts.enrol_totp(db, args.username, totp.SecretBox(settings.totp_encryption_key))
            print("Add this account to an authenticator app; from now on a login needs its 6-digit code.")
            print(f"  secret: {secret}")
            print(f"  URI:    {totp.provisioning_uri(secret, args.username.strip().lower())}")
        elif args.action == "totp-remove":
            staff_accounts.remove_totp(db, args.username)
            print(f"one-time codes no longer needed for {args.username}")
        else:
            staff_accounts.set_password(db, args.username, _password(args))
            print(f"password changed for {args.username}")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


def demo_password_file(settings: Settings) -> Path:
    return settings.var_dir / "demo_staff_password"


def ensure_demo_staff(settings: Settings) -> str | None:
    """For the embedded default: a `demo` staff account with a random password kept in var/ (printed by make run)."""
    path = demo_password_file(settings)
    db = Database(settings.database_url)
    try:
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        try:
            staff_accounts.create_staff(db, DEMO_USER, "Demo Staff", password, "admin")
        except AccountError:
            return None  # an account named demo exists already and its password is not ours to print
        path.write_text(password)
        path.chmod(0o600)
        return password
    finally:
        db.dispose()


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff = sub.add_parser("staff", help="staff accounts for the console")
    staff.add_argument(
        "action",
        choices=["create", "set-password", "totp-enrol", "totp-remove"],
        help="totp-enrol: require a one-time code (RFC 6238) at login, recommended for admins",
    )
    staff.add_argument("username")
    staff.add_argument("--name", help="display name shown to applicants")
    staff.add_argument("--role", choices=["staff", "admin"], default="staff")
    staff.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    staff.set_defaults(func=staff_command)
