"""Demo cases in every stage, for the embedded default (`make run` seeds them into an empty database).

All names and passport numbers are invented; the README lists them so anyone can try a lookup."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.cases.identifiers import PassportHasher
from bot.cases.service import Clock, NewCase, create_case, move_case, request_materials
from bot.db import Database
from bot.db.models import Case, utcnow


def _stopped_at(moment: datetime) -> Clock:
    """A clock that always says `moment`: each demo step is dated in the past, not stamped with now."""
    return lambda: moment


# (number, passport, procedure, category, name, nationality, path of stages after `submitted`, days back)
DEMO_CASES = [
    ("WP2026000101", "E10000101", "notification_letter", "B", "Anna Müller", "Germany", [], 0),
    ("WP2026000102", "E10000102", "notification_letter", "A", "Kenji Sato", "Japan", ["preliminary_review"], 0),
    ("WP2026000103", "E10000103", "work_permit_after_entry", "B", "Maria Garcia", "Spain", ["preliminary_review"], 3),
    (
        "WP2026000104",
        "E10000104",
        "extension",
        "B",
        "John Smith",
        "United Kingdom",
        ["preliminary_review", "materials_requested"],
        2,
    ),
    (
        "WP2026000105",
        "E10000105",
        "apply_inside_china",
        "C",
        "Olga Ivanova",
        "Russia",
        ["preliminary_review", "accepted"],
        0,
    ),
    (
        "WP2026000106",
        "E10000106",
        "change_employer",
        "B",
        "Lucas Silva",
        "Brazil",
        ["preliminary_review", "accepted", "under_review"],
        1,
    ),
    (
        "WP2026000107",
        "E10000107",
        "extension",
        "A",
        "Emma Dubois",
        "France",
        ["preliminary_review", "accepted", "under_review"],
        8,
    ),
    (
        "WP2026000108",
        "E10000108",
        "notification_letter",
        "B",
        "Ahmed Hassan",
        "Egypt",
        ["preliminary_review", "accepted", "under_review", "approved"],
        2,
    ),
    (
        "WP2026000109",
        "E10000109",
        "change_info",
        "B",
        "Sofia Rossi",
        "Italy",
        ["preliminary_review", "accepted", "under_review", "approved", "card_ready"],
        1,
    ),
    (
        "WP2026000110",
        "E10000110",
        "work_permit_after_entry",
        "C",
        "Park Min-jun",
        "Korea",
        ["preliminary_review", "accepted", "under_review", "approved", "card_ready", "collected"],
        5,
    ),
    (
        "WP2026000111",
        "E10000111",
        "notification_letter",
        "C",
        "David Cohen",
        "Israel",
        ["preliminary_review", "accepted", "under_review", "not_approved"],
        4,
    ),
    (
        "WP2026000112",
        "E10000112",
        "cancellation",
        "B",
        "Chloe Martin",
        "Canada",
        ["preliminary_review", "accepted", "cancelled"],
        1,
    ),
    (
        "WP2026000113",
        "E10000113",
        "replacement",
        "B",
        "Liam Wilson",
        "Australia",
        ["preliminary_review", "accepted", "card_ready"],
        0,
    ),
]
DEMO_MISSING = {
    "WP2026000104": [
        "Criminal record certificate issued within the last 6 months",
        "Chinese translation of the degree certificate with the employer's seal",
    ]
}


def seed_demo(db: Database, hasher: PassportHasher, now: datetime | None = None) -> int:
    """Create the demo cases if the database has none; returns how many were created."""
    with db.transaction() as session:
        if session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one():
            return 0
    now = now or utcnow()
    for number, passport, procedure, category, name, nationality, path, days_back in DEMO_CASES:
        start = now - timedelta(days=days_back, hours=len(path) + 1)
        create_case(
            db,
            NewCase(
                number,
                procedure,
                name,
                passport,
                category,
                nationality,
                "Demo Robotics (Beijing) Co., Ltd.",
                "91110302DEMO00001X",
                stage_since=start,
                submitted_at=start,
            ),
            hasher,
            actor="demo-seed",
            clock=_stopped_at(start),
        )
        for step, stage in enumerate(path, start=1):
            moment = start + timedelta(hours=step)
            if stage == "materials_requested":
                request_materials(db, number, DEMO_MISSING[number], "demo-seed", clock=_stopped_at(moment))
            else:
                move_case(db, number, stage, "demo-seed", clock=_stopped_at(moment))
    return len(DEMO_CASES)
