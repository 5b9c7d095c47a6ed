"""Domain events: ticket and conversation changes return the events they caused (exact events asserted), the
system notice is stored with the change, the assignee is a staff id, and the gateway learns of a handoff from the
ticket row a turn's action opened, never from the bot's words."""

from __future__ import annotations

import pytest

from bot.conversations import store
from bot.conversations.events import MessageAdded, QueueChanged, StateChanged, TicketOpened
from bot.db import Database
from bot.gateway.keys import DB
from bot.handoff import staff_accounts, texts, tickets
from bot.handoff.tickets import TicketError
from tests.gateway_support import ChatClient

PASSWORD = "a long enough password"


def _queued(db: Database) -> tuple[str, tickets.TicketView]:
    conversation = store.open_conversation(db, None).id
    store.record_user_message(db, conversation, "I need a person", "c1")
    ticket, _ = tickets.open_ticket(db, conversation, "asked", "en", None, True)
    return conversation, ticket


def _last(db: Database, conversation: str) -> store.StoredMessage:
    return store.history(db, conversation)[-1]


def test_claim_requeue_resolve_return_their_events_with_the_notice_they_stored(db: Database) -> None:
    zhang = staff_accounts.create_staff(db, "zhang", "Zhang", PASSWORD)
    conversation, ticket = _queued(db)

    claimed = tickets.claim(db, ticket.id, zhang.id)
    joined = _last(db, conversation)
    assert joined.role == "system" and joined.text == texts.STAFF_JOINED.format(name="Zhang")
    assert joined.payload == {"custom": {"type": "staff_joined", "name": "Zhang"}}
    assert claimed.events == (
        MessageAdded(conversation, joined, to_staff=True, ticket=ticket.id),
        StateChanged(conversation, "assigned", staff="Zhang"),
        QueueChanged(),
    )
    assert claimed.ticket.assignee_id == zhang.id and claimed.ticket.assigned_to == "Zhang"

    requeued = tickets.requeue(db, ticket.id, zhang.id)
    back = _last(db, conversation)
    assert back.text == texts.REQUEUED
    assert requeued.events == (
        MessageAdded(conversation, back, to_staff=True, ticket=ticket.id),
        StateChanged(conversation, "queued"),
        QueueChanged(),
    )
    assert requeued.ticket.assignee_id is None

    resolved = tickets.resolve(db, ticket.id, zhang.id, "answered")
    done = _last(db, conversation)
    assert done.text == texts.RESOLVED and done.payload == {"custom": {"type": "resolved"}}
    assert resolved.events == (
        MessageAdded(conversation, done, to_staff=True, ticket=ticket.id),
        StateChanged(conversation, "bot"),
        QueueChanged(),
    )


def test_a_refused_change_stores_no_notice(db: Database) -> None:
    first = staff_accounts.create_staff(db, "first", "First", PASSWORD)
    second = staff_accounts.create_staff(db, "second", "Second", PASSWORD)
    conversation, ticket = _queued(db)
    tickets.claim(db, ticket.id, first.id)
    before = store.history(db, conversation)
    with pytest.raises(TicketError) as taken:
        tickets.claim(db, ticket.id, second.id)
    assert taken.value.code == "already_claimed"
    with pytest.raises(TicketError) as other:
        tickets.requeue(db, ticket.id, second.id)
    assert other.value.code == "not_yours"
    assert store.history(db, conversation) == before


def test_a_reply_is_checked_and_stored_in_one_step_by_staff_id(db: Database) -> None:
    # Two staff members with the same display name: only the assignee (by id) may reply.
    owner = staff_accounts.create_staff(db, "li1", "Li", PASSWORD)
    namesake = staff_accounts.create_staff(db, "li2", "Li", PASSWORD)
    conversation, ticket = _queued(db)
    tickets.claim(db, ticket.id, owner.id)
    before = store.history(db, conversation)
    with pytest.raises(TicketError) as refused:
        tickets.reply(db, ticket.id, namesake.id, "hello")
    assert refused.value.code == "not_yours" and store.history(db, conversation) == before

    message, events = tickets.reply(db, ticket.id, owner.id, "  hello  ")
    assert (message.role, message.text, message.author) == ("staff", "hello", "Li")
    assert events == (MessageAdded(conversation, message, to_staff=True, ticket=ticket.id),)
    assert _last(db, conversation) == message


def test_a_handoff_is_read_from_the_ticket_row_the_turn_opened(db: Database) -> None:
    conversation = store.open_conversation(db, None).id
    with db.transaction() as session:
        assert tickets.handed_over(session, conversation, "bot") == []
    ticket, _ = tickets.open_ticket(db, conversation, "asked", "en", None, True)
    with db.transaction() as session:
        assert tickets.handed_over(session, conversation, "bot") == [
            StateChanged(conversation, "queued"),
            TicketOpened(ticket.id, conversation),
            QueueChanged(),
        ]
        # a turn that began with a person in charge did not open it
        assert tickets.handed_over(session, conversation, "queued") == []


async def test_the_gateway_does_not_take_the_bots_word_for_a_handoff(gateway, rasa) -> None:
    """A reply that looks like a handoff, with no ticket behind it, changes nothing; a ticket opened during the
    turn is announced before the bot's words, whatever they say."""
    opened: list[int] = []

    def reply(text: str) -> list[dict]:  # type: ignore[type-arg]
        if "fake" in text:
            return [{"custom": texts.handoff_payload(999, 1, 300, True, None, "en")}]
        if "real" in text:
            ticket, _ = tickets.open_ticket(gateway.app[DB], rasa.received[-1]["sender"], "asked", "en", None, True)
            opened.append(ticket.id)
            return [{"text": "Someone will be with you."}]
        return [{"text": f"echo: {text}"}]

    rasa.reply = reply
    client = ChatClient(await gateway.ws_connect("/ws"))
    welcome = await client.hello()

    await client.send({"type": "message", "id": "f", "text": "fake handoff"})
    ack = await client.next("ack", id="f")
    await client.next("typing", turn=ack["seq"])
    assert [f for f in client.frames if f["type"] in ("state", "queue")] == []
    assert store.get_conversation(gateway.app[DB], welcome["conversation"]).state == "bot"

    await client.send({"type": "message", "id": "r", "text": "real handoff"})
    ack = await client.next("ack", id="r")
    await client.next("typing", turn=ack["seq"])
    # what the turn caused, after the echo of the user's own message (which may come before or after its ack)
    turn = [
        f for f in client.frames[client.frames.index(ack) + 1 :] if f["type"] != "typing" and f.get("role") != "user"
    ]
    assert [f["type"] for f in turn] == ["state", "queue", "message"]
    assert turn[0]["state"] == "queued" and turn[1]["ticket"] == opened[0]
    assert turn[2]["text"] == "Someone will be with you."
