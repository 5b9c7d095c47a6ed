"""No passport number in clear, whatever the user types and wherever: typed at the number prompt (the wrong
field), in unusual formats, beside the number, outside the form next to case words; through the WebSocket, the
socket.io path and a resend after a failed insert. Every table of the assistant's database and every log line
is searched, with a positive control proving the search finds a planted value."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from bot.conversations import store
from bot.db import Database
from bot.gateway.keys import DB
from tests.gateway_support import ChatClient
from tests.test_gateway_cases import add_case, case_form, start
from tests.test_socketio import WEBCHAT_SITE, Webchat

PASSPORT = "E12345678"
# Passports in the shapes applicants have (8 digits, three letters + 7 digits, letter + 8, lower case, spaced).
ODD_SHAPES = ["87654321", "ABC1234567", "G76543210", "k55501234", "P 7654 3210"]


def folded(value: str) -> str:
    return value.replace(" ", "").upper()


def everything(db: Database, caplog: pytest.LogCaptureFixture, skip: tuple[str, ...] = ()) -> str:
    """Every row of every table (but `skip`), every log record: where a passport must not be."""
    dumps = []
    with db.engine.connect() as connection:
        for table in sa.inspect(db.engine).get_table_names():
            if table in skip:
                continue
            dumps.append(repr(connection.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall()))
    dumps.extend(record.getMessage() for record in caplog.records)
    return "\n".join(dumps).upper().replace(" ", "")


def assert_nowhere(values: list[str], haystack: str, rasa) -> None:  # type: ignore[no-untyped-def]
    forwarded = json.dumps(rasa.received).upper().replace(" ", "")
    for value in values:
        assert folded(value) not in haystack, value
        assert folded(value) not in forwarded, value


def test_the_search_finds_a_planted_value(sqlite_db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """Positive control: the same search sees a passport stored in clear or logged."""
    conversation = store.open_conversation(sqlite_db, None).id
    store.record_user_message(sqlite_db, conversation, "planted g 7654 3210", None)
    logging.getLogger("bot.test").warning("logged %s", "ABC1234567")
    haystack = everything(sqlite_db, caplog)
    assert folded("G 7654 3210") in haystack and "ABC1234567" in haystack


async def test_passports_typed_in_the_wrong_field_and_odd_shapes_are_never_stored(gateway, rasa, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    add_case(gateway)
    rasa.reply = case_form
    # the passport typed at the number prompt (an easy mix-up), then in an odd shape beside the number
    client, conversation = await start(gateway, PASSPORT)
    await client.send({"type": "message", "id": "p1", "text": "sorry: WP2026000001, passport 87654321"})
    await client.next("typing", active=False)
    # outside the form, next to case words, in every shape
    for i, shape in enumerate(ODD_SHAPES):
        await client.send({"type": "message", "id": f"o{i}", "text": f"my passport number is {shape}"})
        await client.next("typing", active=False)
        await client.send({"type": "message", "id": f"s{i}", "text": f"application status? {shape.lower()}"})
        await client.next("typing", active=False)
    haystack = everything(gateway.app[DB], caplog)
    assert_nowhere([PASSPORT, *ODD_SHAPES], haystack, rasa)
    assert "WHEREISMYAPPLICATION?" in haystack  # the search does read what was stored


async def test_the_whole_case_form_stores_identifiers_masked(gateway, rasa, caplog) -> None:  # type: ignore[no-untyped-def]
    """Everything typed into the form is an identifier: even a number that is not passport-shaped is stored
    masked and reaches Rasa only as a reference."""
    caplog.set_level(logging.DEBUG)
    add_case(gateway)
    rasa.reply = case_form
    client, conversation = await start(gateway, "WP2026000001 E12345678")
    await client.send({"type": "message", "id": "p", "text": "E 1234 5678"})
    await client.next("typing", active=False)
    assert rasa.received[-1]["message"].startswith("/case_verified")
    # the case's own row holds its number, of course; nothing else may
    assert_nowhere([PASSPORT, "WP2026000001"], everything(gateway.app[DB], caplog, skip=("cases",)), rasa)


async def test_a_resend_after_a_failed_insert_is_still_masked_and_checked(gateway, rasa, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The check stays pending until the masked message is stored (one transaction): the first insert fails,
    the resend with the same client id is masked and checked, and stored once."""
    caplog.set_level(logging.DEBUG)
    add_case(gateway)
    rasa.reply = case_form
    client, conversation = await start(gateway)
    real = store.add_user_message
    failures = []

    def failing_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "add_user_message", failing_once)
    await client.send({"type": "message", "id": "pp", "text": PASSPORT})
    await client.ws.receive()  # the connection ends with the failure (nothing was acknowledged)
    again = ChatClient(await gateway.ws_connect("/ws"))
    await again.hello(conversation)
    await again.send({"type": "message", "id": "pp", "text": PASSPORT})
    ack = await again.next("ack", id="pp")
    await again.next("typing", active=False)
    assert failures and not ack["duplicate"]
    assert rasa.received[-1]["message"].startswith("/case_verified")
    stored = [m for m in store.history(gateway.app[DB], conversation) if m.client_id == "pp"]
    assert len(stored) == 1 and stored[0].text == "•••••••78"
    assert_nowhere([PASSPORT], everything(gateway.app[DB], caplog), rasa)


async def test_socketio_path_masks_the_same_way(gateway_factory, rasa, caplog) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(SOCKETIO_ORIGINS=WEBCHAT_SITE)
    caplog.set_level(logging.DEBUG)
    add_case(gateway)
    rasa.reply = case_form
    url = str(gateway.make_url("")).rstrip("/")
    chat = Webchat()
    session = await chat.start(url)
    await chat.say(session, "where is my application?")
    await chat.next()
    await chat.next()
    await chat.say(session, "G76543210")  # a passport at the number prompt
    await chat.next()
    await chat.next()
    await chat.say(session, "passport: e 1234 5678")
    assert (await chat.next())["text"] == "result"
    await chat.say(session, "and my passport is ABC1234567")
    await chat.next()
    await chat.client.disconnect()
    assert rasa.received[-2]["message"].startswith("/case_verification_failed")  # no case has that number
    assert_nowhere([PASSPORT, "G76543210", "ABC1234567"], everything(gateway.app[DB], caplog), rasa)


async def test_a_passport_typed_again_alone_after_the_check_is_still_masked(gateway, rasa, caplog) -> None:  # type: ignore[no-untyped-def]
    """Just out of the form (a failed check), a bare passport number with no case word around is still masked."""
    add_case(gateway)
    rasa.reply = case_form
    client, _ = await start(gateway)
    await client.send({"type": "verify", "id": "v", "passport": "X0000000"})
    await client.next("typing", active=False)
    await client.send({"type": "message", "id": "again", "text": PASSPORT})
    await client.next("typing", active=False)
    assert_nowhere([PASSPORT], everything(gateway.app[DB], caplog), rasa)
