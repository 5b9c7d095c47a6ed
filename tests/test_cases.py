"""Cases on a real database (SQLite and PostgreSQL): stages, history, material requests, two-factor lookups,
lockouts without enumeration, CSV import all-or-nothing, concurrent updates."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bot.cases import checks, lookup, service
from bot.cases.csv_import import import_csv
from bot.cases.identifiers import (
    FormatError,
    NumberKeyer,
    PassportHasher,
    mask_identifiers,
    mask_passports,
    normalize_application_number,
    number_description,
    number_example,
    number_format,
)
from bot.cases.service import CaseError, NewCase
from bot.cases.stages import default_procedures
from bot.core.workdays import WorkCalendar
from bot.db import Database
from bot.db.models import PROCEDURES, STAGES, Case, LookupAttempt

HASHER = PassportHasher("test-secret")
KEYER = NumberKeyer("test-secret")
# 2026-09-28 is a Monday before the National Day holiday (1-7 Oct 2026).
MONDAY = datetime(2026, 9, 28, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing


def clock_at(moment: datetime):  # type: ignore[no-untyped-def]
    return lambda: moment


def make_case(db: Database, number: str = "WP2026000001", passport: str = "E12345678", **kw) -> service.CaseView:  # type: ignore[no-untyped-def]
    data = NewCase(number, kw.pop("procedure", "extension"), "Test Person", passport, **kw)
    return service.create_case(db, data, HASHER, "tester", clock=clock_at(MONDAY))


def test_stage_list_matches_the_knowledge_file() -> None:
    procedures = default_procedures()
    assert set(procedures.stage_labels) == set(STAGES)
    assert set(procedures.flow_of) == set(PROCEDURES)


@pytest.mark.parametrize(
    "typed",
    ["WP2026000123", "wp2026000123", " WP 2026 000 123 ", "ＷＰ２０２６０００１２３", "WP-2026-000-123"],
)
def test_lookalike_application_numbers_normalise(typed: str) -> None:
    assert normalize_application_number(typed) == "WP2026000123"


@pytest.mark.parametrize("typed", ["", "WP123", "ABCDEFGH", "'; DROP TABLE cases;--", "X" * 40 + "1", 42])
def test_implausible_application_numbers_are_refused(typed: object) -> None:
    with pytest.raises(FormatError):
        normalize_application_number(typed)


@pytest.mark.parametrize("typed", ["WP20260001234", "XX2026000123", "BJ-2026-0042", "e12345678", "20261201"])
def test_any_plausible_receipt_number_is_accepted_while_the_format_is_unknown(typed: str) -> None:
    """The real format is not published (dossier §7): no format is invented, none is described."""
    assert normalize_application_number(typed) == typed.replace("-", "").upper()
    assert number_example() == "" and number_description("en") == ""


def test_an_operator_pattern_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLICATION_NUMBER_PATTERN", r"^WP\d{10}$")
    number_format.cache_clear()
    try:
        assert normalize_application_number("wp 2026 000 123") == "WP2026000123"
        with pytest.raises(FormatError):
            normalize_application_number("XX2026000123")
        # a token in the configured format is a case number, not a passport, and makes a passport beside it a lookup
        assert mask_passports("WP2026000123 E10000104") == ("WP2026000123 •••••••", ["E10000104"])
    finally:
        monkeypatch.delenv("APPLICATION_NUMBER_PATTERN")
        number_format.cache_clear()


def test_flow_moves_and_history(db: Database) -> None:
    make_case(db)
    for stage in ("preliminary_review", "accepted", "under_review", "approved", "card_ready", "collected"):
        view = service.move_case(db, "WP2026000001", stage, "officer-1", clock=clock_at(MONDAY))
    assert view.stage == "collected"
    assert [(e["kind"], e["to"]) for e in view.events][:2] == [
        ("created", "submitted"),
        ("stage", "preliminary_review"),
    ]
    assert all(e["actor"] in ("tester", "officer-1") for e in view.events)


@pytest.mark.parametrize(
    ("current", "wanted"), [("submitted", "approved"), ("submitted", "flying"), ("submitted", "cancelled")]
)
def test_invalid_transitions_are_refused_clearly(db: Database, current: str, wanted: str) -> None:
    make_case(db)
    with pytest.raises(CaseError) as caught:
        service.move_case(db, "WP2026000001", wanted, "officer-1")
    assert caught.value.code == "invalid_transition" and "preliminary_review" in str(caught.value)
    assert service.get_case(db, "WP2026000001").stage == current


def test_cancellation_has_its_own_shorter_flow(db: Database) -> None:
    make_case(db, procedure="cancellation")
    for stage in ("preliminary_review", "accepted", "cancelled"):
        service.move_case(db, "WP2026000001", stage, "officer-1")
    with pytest.raises(CaseError):
        service.move_case(db, "WP2026000001", "collected", "officer-1")


def test_material_request_and_resolution(db: Database) -> None:
    make_case(db)
    service.move_case(db, "WP2026000001", "preliminary_review", "officer-1")
    view = service.request_materials(db, "WP2026000001", ["Criminal record certificate", "  "], "officer-1")
    assert view.stage == "materials_requested" and [m["item"] for m in view.missing] == ["Criminal record certificate"]
    view = service.resolve_materials(db, "WP2026000001", "officer-1")
    assert view.missing == []
    with pytest.raises(CaseError):
        service.request_materials(db, "WP2026000001", ["", " "], "officer-1")


def test_hostile_values_are_stored_as_given_and_validated(db: Database) -> None:
    view = make_case(db, nationality="<script>alert(1)</script>", employer_name="'; DROP TABLE cases; --")
    assert view.nationality == "<script>alert(1)</script>" and view.employer == "'; DROP TABLE cases; --"
    with pytest.raises(CaseError) as caught:
        make_case(db, number="WP2026000002", procedure="visa_lottery")
    assert caught.value.code == "bad_procedure"
    with pytest.raises(CaseError):
        make_case(db, number="WP2026000003", category="Z")
    with pytest.raises(CaseError) as duplicate:
        make_case(db)
    assert duplicate.value.code == "duplicate"


def test_concurrent_stage_updates_let_exactly_one_win(db: Database) -> None:
    make_case(db)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            service.move_case(db, "WP2026000001", "preliminary_review", "officer", expected="submitted")
            results.append("ok")
        except CaseError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 1
    assert set(results) <= {"ok", "conflict", "invalid_transition"}
    view = service.get_case(db, "WP2026000001")
    assert [e["to"] for e in view.events].count("preliminary_review") == 1


def test_passport_is_only_stored_as_a_hash(db: Database) -> None:
    make_case(db, passport="E98765432")
    with db.transaction() as session:
        stored = session.execute(sa.select(Case.passport_hash)).scalar_one()
    assert "E98765432" not in stored and stored.startswith("$argon2id$")


def check_for(db: Database, conversation_id: str, number: str) -> checks.CheckView:
    """The case form as the gateway fills it: the number typed, keyed; the passport step next."""
    ref = checks.enter_number(db, KEYER, conversation_id, number, clock=clock_at(MONDAY))
    checks.expect_passport(db, conversation_id, ref, clock=clock_at(MONDAY))
    entry = checks.entry(db, conversation_id, ref)
    assert entry is not None
    return entry


def verify(db: Database, conversation_id: str, number: str, passport: str, at: datetime = MONDAY, **limits):  # type: ignore[no-untyped-def]
    return lookup.verify(
        db, HASHER, check_for(db, conversation_id, number), passport, clock=clock_at(at), limits=lookup.Limits(**limits)
    )


def new_conversations(db: Database, count: int) -> list[str]:
    from bot.conversations import store

    return [store.open_conversation(db, None).id for _ in range(count)]


def test_two_factors_give_a_token_and_the_status(db: Database) -> None:
    make_case(db, passport="E12345678")
    one, other = new_conversations(db, 2)
    result = verify(db, one, "wp 2026 000 001", "e1234 5678")
    assert result.outcome == "ok" and result.token
    status = lookup.status_for_token(db, result.token, one, clock=clock_at(MONDAY), calendar=WorkCalendar())
    assert status is not None and status.case == "WP2026••••01" and status.stage == "submitted"
    assert lookup.status_for_token(db, result.token, other, clock=clock_at(MONDAY)) is None
    later = MONDAY + timedelta(hours=2)
    assert lookup.status_for_token(db, result.token, one, clock=clock_at(later)) is None


def test_unknown_number_and_wrong_passport_look_the_same(db: Database) -> None:
    make_case(db)
    a, b = new_conversations(db, 2)
    wrong = verify(db, a, "WP2026000001", "X0000000")
    unknown = verify(db, b, "WP2026009999", "E12345678")
    assert wrong == unknown == lookup.Verification("denied", attempts_left=2)


def test_unknown_number_costs_the_same_argon2_work_as_a_wrong_passport(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Timing: the hash comparison runs against a dummy hash when there is no case (counted, not timed)."""
    make_case(db)
    calls: list[str | None] = []
    real = PassportHasher.verify
    monkeypatch.setattr(PassportHasher, "verify", lambda self, stored, p: calls.append(stored) or real(self, stored, p))
    a, b = new_conversations(db, 2)
    verify(db, a, "WP2026000001", "X0000000")
    verify(db, b, "WP2026009999", "X0000000")
    assert len(calls) == 2 and calls[0] is not None and calls[1] is None  # None → the dummy hash inside verify


def test_three_failures_in_a_conversation_lock_only_that_conversation(db: Database) -> None:
    make_case(db)
    x, y = new_conversations(db, 2)
    for _ in range(3):
        result = verify(db, x, "WP2026000001", "X0000000")
    assert result.outcome == "locked" and result.locked_until > MONDAY
    assert verify(db, x, "WP2026000001", "E12345678").outcome == "locked"  # even the right passport
    # another conversation is not locked (the number only asks for a short pause after three failures)
    assert verify(db, y, "WP2026000001", "E12345678", at=MONDAY + timedelta(seconds=3)).outcome == "ok"
    after = MONDAY + timedelta(minutes=31)
    assert verify(db, x, "WP2026000001", "E12345678", at=after).outcome == "ok"


def test_a_flood_of_failures_on_a_case_slows_it_down_but_never_locks_the_owner_out(db: Database) -> None:
    make_case(db)
    attackers = new_conversations(db, 12)
    outcomes = [verify(db, c, "WP2026000001", "X0000000", at=MONDAY).outcome for c in attackers]
    # three free failures, then the number waits (2 s, 4 s, … up to the ceiling) and refuses without checking
    assert outcomes[:3] == ["denied"] * 3 and set(outcomes[4:]) == {"wait"}
    (owner,) = new_conversations(db, 1)
    soon = verify(db, owner, "WP2026000001", "E12345678", at=MONDAY + timedelta(seconds=1))
    assert soon.outcome == "wait" and 0 < soon.retry_after_s <= 60
    # after at most the backoff ceiling, the owner gets in (the flood bought a delay, not a lockout)
    later = verify(db, owner, "WP2026000001", "E12345678", at=MONDAY + timedelta(seconds=61))
    assert later.outcome == "ok"
    with db.transaction() as session:
        outcomes = session.execute(sa.select(LookupAttempt.outcome)).scalars().all()
    assert "pending" not in outcomes and outcomes.count("wait") >= 8


def test_backoff_doubles_up_to_its_ceiling() -> None:
    limits = lookup.Limits(free_per_number=3, backoff_base_s=2, backoff_max_s=60)
    assert [lookup.backoff_s(n, limits) for n in (0, 2, 3, 4, 5, 8, 30)] == [0, 0, 2, 4, 8, 60, 60]


def test_parallel_checks_cannot_exceed_the_conversation_limit(db: Database) -> None:
    """Serialised per number and counted as `pending` while Argon2 runs: 8 parallel wrong passports in one
    conversation get exactly 3 real checks (the rest are refused as locked)."""
    make_case(db)
    (attacker,) = new_conversations(db, 1)
    entry = check_for(db, attacker, "WP2026000001")
    barrier = threading.Barrier(8)
    results: list[str] = []

    def attempt() -> None:
        barrier.wait()
        results.append(
            lookup.verify(
                db, HASHER, entry, "X0000000", clock=clock_at(MONDAY), limits=lookup.Limits(free_per_number=50)
            ).outcome
        )

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.transaction() as session:
        checked = session.execute(
            sa.select(sa.func.count()).select_from(LookupAttempt).where(LookupAttempt.outcome == "mismatch")
        ).scalar_one()
    assert checked == 3 and results.count("locked") >= 5


def test_a_number_typed_in_the_form_is_kept_only_as_a_keyed_hash(db: Database) -> None:
    (one,) = new_conversations(db, 1)
    verify(db, one, "E98765432", "E98765432")  # a passport typed as the number, and as the passport
    everything = dump(db)
    assert "98765432" not in everything
    assert KEYER.key("E98765432") in everything  # the search does see what is stored


def dump(db: Database) -> str:
    rows = []
    with db.engine.connect() as connection:
        for table in sa.inspect(db.engine).get_table_names():
            rows.append(repr(connection.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall()))
    return "\n".join(rows)


def status_at(db: Database, now: datetime) -> lookup.CaseStatus:
    (one,) = new_conversations(db, 1)
    token = verify(db, one, "WP2026000001", "E12345678", at=now).token
    status = lookup.status_for_token(db, token, one, clock=clock_at(now))
    assert status is not None
    return status


def test_due_dates_skip_the_national_day_holiday(db: Database) -> None:
    make_case(db)
    wednesday = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)
    service.move_case(db, "WP2026000001", "preliminary_review", "o", clock=clock_at(wednesday))
    service.move_case(db, "WP2026000001", "accepted", "o", clock=clock_at(wednesday))
    service.move_case(db, "WP2026000001", "under_review", "o", clock=clock_at(wednesday))
    status = status_at(db, wednesday)
    # Accepted Wed 30 Sep; 1-7 Oct are holidays (8 Oct is a working day): 3 working days later is Fri 9 Oct... per
    # the official 2026 calendar, which the library knows; the test asserts the calendar's own answer.
    expected = WorkCalendar().working_days_after(wednesday.date(), 3)
    assert status.due == expected.day and status.due > datetime(2026, 10, 7).date()
    assert status.on_time and not status.due_estimated
    late = datetime(2026, 10, 20, 2, 0, tzinfo=timezone.utc)
    assert status_at(db, late).on_time is False


def test_due_dates_beyond_known_calendars_are_estimates(db: Database) -> None:
    make_case(db)
    december = datetime(2026, 12, 30, 2, 0, tzinfo=timezone.utc)
    service.move_case(db, "WP2026000001", "preliminary_review", "o", clock=clock_at(december))
    service.move_case(db, "WP2026000001", "accepted", "o", clock=clock_at(december))
    service.move_case(db, "WP2026000001", "under_review", "o", clock=clock_at(december))
    status = status_at(db, december)
    assert status.due.year == 2027 and status.due_estimated


def test_missing_materials_are_shown_and_the_clock_stops(db: Database) -> None:
    make_case(db)
    service.move_case(db, "WP2026000001", "preliminary_review", "o", clock=clock_at(MONDAY))
    service.request_materials(db, "WP2026000001", ["Degree authentication"], "o", clock=clock_at(MONDAY))
    status = status_at(db, MONDAY + timedelta(days=20))
    assert status.missing == ["Degree authentication"] and status.due is None and status.on_time


CSV_HEADER = "application_number,procedure,applicant_name,passport_number,category,stage,stage_since\n"


def test_csv_import_is_all_or_nothing_with_errors_by_row(db: Database) -> None:
    bad = CSV_HEADER + (
        "WP2026000010,extension,A,E1111111,B,submitted,2026-11-01\n"
        "WP2026000011,extension,B,,B,submitted,2026-11-01\n"
        "WP2026000012,extension,C,E3333333,B,submitted,not-a-date\n"
        "WP2026000013,teleport,D,E4444444,B,submitted,2026-11-01\n"
        "WP2026000010,extension,E,E5555555,B,submitted,2026-11-01\n"
    )
    result = import_csv(db, bad, HASHER, "importer")
    assert result.imported == 0
    assert [e["row"] for e in result.errors] == [3, 4, 5, 6]
    assert service.list_cases(db) == []
    good = (
        CSV_HEADER
        + "WP2026000010,extension,A,E1111111,B,under_review,2026-11-01\nWP2026000011,cancellation,B,E2222222,,,\n"
    )
    result = import_csv(db, good, HASHER, "importer")
    assert result.imported == 2 and result.errors == []
    assert service.get_case(db, "WP2026000010").stage == "under_review"


def test_csv_with_missing_columns_is_refused(db: Database) -> None:
    result = import_csv(db, "application_number,procedure\nWP2026000010,extension\n", HASHER, "importer")
    assert result.imported == 0 and result.errors[0]["row"] == 1 and "applicant_name" in result.errors[0]["field"]


def test_csv_row_clashing_with_an_existing_case_imports_nothing(db: Database) -> None:
    make_case(db, number="WP2026000011")
    csv_text = CSV_HEADER + "WP2026000010,extension,A,E1111111,B,,\nWP2026000011,extension,B,E2222222,B,,\n"
    result = import_csv(db, csv_text, HASHER, "importer")
    assert result.imported == 0 and result.errors[0]["row"] == 3
    assert [v.application_number for v in service.list_cases(db)] == ["WP2026000011"]


@pytest.mark.parametrize(
    ("text", "expecting", "masked"),
    [
        ("my passport number is E12345678", False, "my passport number is •••••••"),
        ("护照号：G1234567，谢谢", False, "护照号：•••••••，谢谢"),
        ("E12345678", True, "•••••••"),
        ("E12345678", False, "E12345678"),
        ("case WP2026000123 please", True, "case WP2026000123 please"),
        ("call me at 13912345678", True, "call me at 13912345678"),
        ("ｅ１２３４５６７８", True, "•••••••"),
    ],
)
def test_passport_masking(text: str, expecting: bool, masked: str) -> None:
    assert mask_passports(text, expecting)[0] == masked


@pytest.mark.parametrize(
    ("text", "expecting", "masked", "number"),
    [
        ("it is E 1234 5678", True, "it is •••••••", "E12345678"),
        ("passport: G-123-4567 thanks", False, "passport: ••••••• thanks", "G1234567"),
        ("it is E 1234 5678", False, "it is E 1234 5678", None),
        ("room 12 floor 3", True, "room 12 floor 3", None),
    ],
)
def test_spaced_passports_are_masked(text: str, expecting: bool, masked: str, number: str | None) -> None:
    result, found = mask_passports(text, expecting)
    assert result == masked and found == ([number] if number else [])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my application status? 87654321", "my application status? •••••••"),
        ("passport ABC1234567 please", "passport ••••••• please"),
        ("case WP2026000104 e12345678", "case WP2026000104 •••••••"),
        ("WP2026000104 E10000104", "WP2026000104 •••••••"),  # a number beside it is a case word too
        ("护照号码 p 7654 3210", "护照号码 •••••••"),
        ("my application was filed 2026-11-30", "my application was filed 2026-11-30"),  # a date is no passport
        ("the weather on 12345678", "the weather on 12345678"),  # no case words: left alone
    ],
)
def test_passport_shapes_near_case_words_are_masked(text: str, masked: str) -> None:
    assert mask_passports(text)[0] == masked


def test_in_the_form_every_identifier_is_masked() -> None:
    masked, found = mask_identifiers("it is WP2026000104, passport e 1234 5678, room 12")
    assert masked == "it is ••••••••••04, passport •••••••78, room 12"
    assert found == ["WP2026000104", "E12345678"]


def test_the_progress_path_comes_from_the_procedure_flow() -> None:
    procedures = default_procedures()
    standard = ("submitted", "preliminary_review", "accepted", "under_review", "approved", "card_ready", "collected")
    assert procedures.progress("extension") == standard
    assert procedures.progress("cancellation") == ("submitted", "preliminary_review", "accepted", "cancelled")
    assert procedures.progress_step("extension", "materials_requested") == 1  # back to the preliminary review
    assert procedures.progress_step("extension", "not_approved") is None
    assert procedures.progress_step("extension", "collected") == 6
    assert tuple(procedures.stage_labels) == STAGES  # the schema's stages are the knowledge folder's
