"""`python -m bot cases …` and `python -m bot api-token …`: staff operations from a terminal."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from bot.cases import service, tokens
from bot.cases.csv_import import import_csv
from bot.cases.demo import seed_demo
from bot.cases.identifiers import PassportHasher
from bot.cases.service import CaseError, NewCase
from bot.core.settings import load_settings
from bot.db import Database


def _context() -> tuple[Database, PassportHasher]:
    settings = load_settings()
    return Database(settings.database_url), PassportHasher(settings.secret_key)


def _print(view: service.CaseView) -> None:
    print(json.dumps(view.as_json(), ensure_ascii=False, indent=2))


def cases_command(args: argparse.Namespace) -> int:
    db, hasher = _context()
    actor = args.actor or f"cli:{getpass.getuser()}"
    try:
        if args.action == "create":
            passport = args.passport or getpass.getpass("passport number (not echoed): ")
            _print(
                service.create_case(
                    db,
                    NewCase(
                        args.number,
                        args.procedure,
                        args.name,
                        passport,
                        args.category,
                        args.nationality,
                        args.employer,
                        args.credit_code,
                        args.stage,
                    ),
                    hasher,
                    actor,
                )
            )
        elif args.action == "move":
            _print(service.move_case(db, args.number, args.stage, actor, args.note or "", args.expected))
        elif args.action == "missing":
            _print(service.request_materials(db, args.number, args.items, actor))
        elif args.action == "resolve":
            _print(service.resolve_materials(db, args.number, actor))
        elif args.action == "show":
            _print(service.get_case(db, args.number))
        elif args.action == "list":
            for view in service.list_cases(db):
                print(f"{view.application_number}  {view.procedure:<24} {view.stage:<20} {view.applicant_name}")
        elif args.action == "import":
            result = import_csv(db, Path(args.file).read_text(encoding="utf-8-sig"), hasher, actor)
            for error in result.errors:
                print(f"row {error['row']}: {error['field']}: {error['message']}", file=sys.stderr)
            print(f"imported {result.imported} case(s)" if not result.errors else "nothing imported")
            return 1 if result.errors else 0
    except CaseError as exc:
        print(f"error ({exc.code}): {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


def token_command(args: argparse.Namespace) -> int:
    db, _ = _context()
    try:
        if args.action == "create":
            print(tokens.create_token(db, args.name))
            print("keep this token: it is not stored and cannot be shown again", file=sys.stderr)
        else:
            print(f"revoked {tokens.revoke_token(db, args.name)} token(s)")
    finally:
        db.dispose()
    return 0


def demo_requested(args: argparse.Namespace) -> bool:
    """Demo data (cases whose passports the README prints, a `demo` admin) only when explicitly asked for."""
    return bool(args.demo) or os.environ.get("DEMO", "") == "1"


def seed_command(args: argparse.Namespace) -> int:
    """Demo cases and a demo staff account: `make run` asks for them (`--demo`); nothing else seeds them."""
    from bot.handoff.cli import ensure_demo_staff

    if not demo_requested(args):
        print("not seeding: demo data is added only with --demo (or DEMO=1), as `make run` does", file=sys.stderr)
        return 2
    db, hasher = _context()
    try:
        created = seed_demo(db, hasher)
    finally:
        db.dispose()
    print(f"seeded {created} demo case(s)" if created else "cases already present; no demo cases added")
    if ensure_demo_staff(load_settings()):
        print("demo staff account: demo (password in var/demo_staff_password)")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cases = sub.add_parser("cases", help="create, move and inspect cases")
    cases.add_argument("--actor", help="who is acting (default cli:<user>)")
    actions = cases.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create")
    create.add_argument("--number", required=True)
    create.add_argument("--procedure", required=True)
    create.add_argument("--name", required=True, help="applicant display name")
    create.add_argument("--passport", help="prompted without echo when omitted")
    create.add_argument("--category", default="unknown")
    create.add_argument("--nationality", default="")
    create.add_argument("--employer", default="")
    create.add_argument("--credit-code", default="")
    create.add_argument("--stage", default="submitted")
    move = actions.add_parser("move")
    move.add_argument("number")
    move.add_argument("stage")
    move.add_argument("--note")
    move.add_argument("--expected", help="refuse if the case is not at this stage now")
    missing = actions.add_parser("missing", help="record missing materials (补正)")
    missing.add_argument("number")
    missing.add_argument("items", nargs="+")
    actions.add_parser("resolve", help="mark requested materials as received").add_argument("number")
    actions.add_parser("show").add_argument("number")
    actions.add_parser("list")
    actions.add_parser("import", help="import a CSV export (all or nothing)").add_argument("file")
    cases.set_defaults(func=cases_command)

    token = sub.add_parser("api-token", help="tokens for the cases JSON API")
    token.add_argument("action", choices=["create", "revoke"])
    token.add_argument("name")
    token.set_defaults(func=token_command)

    seed = sub.add_parser("seed-demo", help="add the demo cases and the demo admin (only with --demo)")
    seed.add_argument("--demo", action="store_true", help="yes, add the invented demo cases and a demo admin")
    seed.set_defaults(func=seed_command)
