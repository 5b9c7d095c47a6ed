"""Handoff services on real databases: office hours with a fixed clock, staff accounts, tickets and the claim race."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.conversations import store
from bot.core.workdays import SHANGHAI
from bot.db import Database
from bot.handoff import gaps, staff_accounts, tickets, webhook
from bot.handoff.office_hours import OfficeHours, OfficeHoursError
from bot.handoff.staff_accounts import AccountError
from bot.handoff.tickets import TicketError


def beijing(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


HOURS = OfficeHours.parse("workdays 09:00-12:00,13:30-17:00")


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (beijing(2026, 9, 29, 10, 0), True),  # Tuesday morning
        (beijing(2026, 9, 29, 12, 30), False),  # lunch
        (beijing(2026, 9, 29, 17, 0), False),  # closing time
        (beijing(2026, 10, 1, 10, 0), False),  # National Day
        (beijing(2026, 10, 3, 10, 0), False),  # a Saturday inside the holiday
    ],
)
def test_office_hours_follow_chinese_working_days(moment: datetime, open_: bool) -> None:
    assert HOURS.is_open(moment) is open_


def test_adjusted_working_weekend_is_open() -> None:
    import chinese_calendar

    saturdays = [
        d
        for d in (datetime(2026, 1, 1) + timedelta(days=i) for i in range(365))
        if d.weekday() >= 5 and chinese_calendar.is_workday(d.date())
    ]
    assert saturdays, "2026 has adjusted working weekends"
    day = saturdays[0]
    assert HOURS.is_open(beijing(day.year, day.month, day.day, 10, 0))
    assert not OfficeHours.parse("mon-fri 09:00-17:00").is_open(beijing(day.year, day.month, day.day, 10, 0))


def test_next_open_skips_lunch_nights_and_holidays() -> None:
    assert HOURS.next_open(beijing(2026, 9, 29, 12, 30)) == beijing(2026, 9, 29, 13, 30)
    assert HOURS.next_open(beijing(2026, 9, 30, 18, 0)).date() > beijing(2026, 10, 7, 0, 0).date()
    assert HOURS.next_open(beijing(2026, 9, 29, 10, 0)) == beijing(2026, 9, 29, 10, 0)


@pytest.mark.parametrize(
    "spec", ["sometimes", "mon-fri 9-17", "workdays 17:00-09:00", "xyz 09:00-10:00", "workdays 25:00-26:00"]
)
def test_bad_office_hours_are_refused(spec: str) -> None:
    with pytest.raises(OfficeHoursError):
        OfficeHours.parse(spec)


def test_passwords_are_hashed_and_repeated_failures_lock(db: Database) -> None:
    staff_accounts.create_staff(db, "Li.Wei", "Li Wei", "correct horse battery", "staff")
    assert staff_accounts.authenticate(db, "li.wei", "correct horse battery").display_name == "Li Wei"
    now = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
    for _ in range(staff_accounts.MAX_FAILURES):
        with pytest.raises(AccountError):
            staff_accounts.authenticate(db, "li.wei", "wrong", clock=lambda: now)
    with pytest.raises(AccountError):
        staff_accounts.authenticate(db, "li.wei", "correct horse battery", clock=lambda: now)
    later = now + timedelta(minutes=staff_accounts.LOCK_MINUTES + 1)
    assert staff_accounts.authenticate(db, "li.wei", "correct horse battery", clock=lambda: later)
    with pytest.raises(AccountError) as unknown:
        staff_accounts.authenticate(db, "nobody", "whatever")
    assert "Wrong username or password" in str(unknown.value)
    with pytest.raises(AccountError):
        staff_accounts.create_staff(db, "short", "S", "tiny")


def test_sessions_expire_and_close(db: Database) -> None:
    staff = staff_accounts.create_staff(db, "wang", "Wang", "a long enough password")
    token, csrf = staff_accounts.open_session(db, staff)
    session = staff_accounts.session_for(db, token)
    assert session is not None and session.csrf_token == csrf and session.staff.username == "wang"
    future = datetime.now(timezone.utc) + timedelta(hours=staff_accounts.SESSION_HOURS + 1)
    assert staff_accounts.session_for(db, token, clock=lambda: future) is None
    staff_accounts.close_session(db, token)
    assert staff_accounts.session_for(db, token) is None
    assert staff_accounts.session_for(db, "forged") is None


def conversation_with_question(db: Database, text: str = "My employer refuses to cancel my permit") -> str:
    conversation = store.open_conversation(db, None)
    store.record_user_message(db, conversation.id, text, "c1")
    return conversation.id


def test_ticket_lifecycle(db: Database) -> None:
    staff = staff_accounts.create_staff(db, "zhang", "Zhang", "a long enough password")
    conversation = conversation_with_question(db)
    ticket, created = tickets.open_ticket(db, conversation, "asked", "en", "employer_dispute", True)
    again, created_again = tickets.open_ticket(db, conversation, "asked", "en", None, True)
    assert created and not created_again and again.id == ticket.id
    assert "employer refuses" in ticket.summary and store.get_conversation(db, conversation).state == "queued"
    assert tickets.queue_info(db, ticket.id).position == 1
    with pytest.raises(TicketError) as early:
        tickets.check_can_reply(db, ticket.id, staff.id, "hello")
    assert early.value.code == "not_claimed"
    tickets.claim(db, ticket.id, staff.id)
    assert store.get_conversation(db, conversation).state == "assigned"
    assert tickets.check_can_reply(db, ticket.id, staff.id, "  hello  ") == (conversation, "hello")
    tickets.add_note(db, ticket.id, staff.id, "asked for the contract")
    resolved = tickets.resolve(
        db, ticket.id, staff.id, "answered", "explained the cancellation duty", guide_gap=True
    ).ticket
    assert resolved.status == "resolved" and resolved.guide_gap
    assert store.get_conversation(db, conversation).state == "resolved"  # until the gateway has resumed Rasa
    store.mark_resumed(db, conversation)
    assert store.get_conversation(db, conversation).state == "bot"
    with pytest.raises(TicketError) as late:
        tickets.check_can_reply(db, ticket.id, staff.id, "one more thing")
    assert late.value.code == "resolved"
    with pytest.raises(TicketError):
        tickets.resolve(db, ticket.id, staff.id, "answered")
    assert tickets.record_satisfaction(db, conversation, 4) and not tickets.record_satisfaction(db, conversation, 9)


def test_only_one_of_simultaneous_claims_wins(db: Database) -> None:
    members = [staff_accounts.create_staff(db, f"staff{i}", f"Staff {i}", "a long enough password") for i in range(5)]
    ticket, _ = tickets.open_ticket(db, conversation_with_question(db), "asked", "zh", None, True)
    barrier = threading.Barrier(len(members))
    outcomes: list[str] = []

    def attempt(staff_id: int) -> None:
        barrier.wait()
        try:
            tickets.claim(db, ticket.id, staff_id)
            outcomes.append("won")
        except TicketError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt, args=(m.id,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("won") == 1 and outcomes.count("already_claimed") == len(members) - 1
    view = tickets.get_ticket(db, ticket.id)
    assert view.status == "assigned" and view.assigned_to in {m.display_name for m in members}


def test_requeue_and_other_staff_cannot_reply(db: Database) -> None:
    first = staff_accounts.create_staff(db, "first", "First", "a long enough password")
    second = staff_accounts.create_staff(db, "second", "Second", "a long enough password")
    ticket, _ = tickets.open_ticket(db, conversation_with_question(db), "asked", "en", None, True)
    tickets.claim(db, ticket.id, first.id)
    with pytest.raises(TicketError) as other:
        tickets.check_can_reply(db, ticket.id, second.id, "hi")
    assert other.value.code == "not_yours"
    tickets.requeue(db, ticket.id, first.id)
    claimed = tickets.claim(db, ticket.id, second.id).ticket
    assert claimed.assigned_to == "Second" and claimed.assignee_id == second.id


def test_queue_positions_and_waits(db: Database) -> None:
    opened = [
        tickets.open_ticket(db, conversation_with_question(db, f"q{i}"), "asked", "en", None, True)[0] for i in range(3)
    ]
    positions = tickets.queue_positions(db)
    assert [q.ticket for q in positions] == [t.id for t in opened]
    assert [q.position for q in positions] == [1, 2, 3]
    assert positions[2].estimated_wait_s > positions[0].estimated_wait_s > 0


def test_webhook_outbox_backs_off_and_delivers(db: Database) -> None:
    ticket, _ = tickets.open_ticket(db, conversation_with_question(db), "fallback", "zh", "fees", False)
    webhook.enqueue(db, ticket, "https://bot.example")
    now = datetime.now(timezone.utc)
    ((delivery_id, body, attempts),) = webhook.due(db, now)
    assert body["msgtype"] == "text" and f"#{ticket.id}" in body["text"]["content"] and attempts == 0
    webhook.record(db, delivery_id, False, "connection refused", now)
    assert webhook.due(db, now) == []  # waiting for the backoff
    assert webhook.due(db, now + timedelta(seconds=webhook.backoff(1) + 1))
    webhook.record(db, delivery_id, True, None, now)
    assert webhook.due(db, now + timedelta(days=1)) == []
    assert webhook.backoff(1) < webhook.backoff(3) <= webhook.MAX_DELAY_S


def test_a_webhook_delivery_is_claimed_by_one_gateway_at_a_time(db: Database) -> None:
    ticket, _ = tickets.open_ticket(db, conversation_with_question(db), "asked", "en", None, True)
    webhook.enqueue(db, ticket, "https://bot.example")
    now = datetime.now(timezone.utc)
    assert len(webhook.due(db, now)) == 1
    assert webhook.due(db, now) == []  # a second gateway polling now finds it taken
    # A gateway that died mid-send never records the attempt: the claim runs out and another one sends it.
    assert len(webhook.due(db, now + timedelta(seconds=webhook.CLAIM_S + 1))) == 1


def test_guide_gaps_group_similar_questions(db: Database) -> None:
    for text in ("Can I get permanent residence?", "how to get permanent residence in China", "怎么申请永久居留"):
        conversation = store.open_conversation(db, None)
        user, _ = store.record_user_message(db, conversation.id, text, "u")
        store.record_replies(
            db,
            conversation.id,
            user.seq,
            "bot",
            [("not covered", {"custom": {"type": "clarify", "reason": "not_covered", "options": []}})],
        )
    staff = staff_accounts.create_staff(db, "editor", "Editor", "a long enough password")
    conversation = conversation_with_question(db, "=cmd|' /C calc'!A0 my employer keeps my passport")
    ticket, _ = tickets.open_ticket(db, conversation, "asked", "en", None, True)
    tickets.claim(db, ticket.id, staff.id)
    store.record_messages(
        db, conversation, "staff", [("Please contact the labour inspectorate.", None)], author="Editor"
    )
    tickets.resolve(db, ticket.id, staff.id, "referred", guide_gap=True)
    groups = gaps.report(db)
    english = next(g for g in groups if "permanent residence" in g.label.lower())
    assert english.count == 2
    marked = next(g for g in groups if g.questions[0].source == "marked")
    assert marked.questions[0].staff_answers == ["Please contact the labour inspectorate."]
    csv_text = gaps.to_csv(groups)
    assert "\n" in csv_text and ",\"'=cmd" in csv_text  # formula-looking cells are defused
