"""The gateway's side of cases: it checks the passport itself (never Rasa), masks typed passports before storing,
serves the staff JSON API behind a token, and the print page of a checklist."""

from __future__ import annotations

import json

from bot.cases import service, tokens
from bot.cases.identifiers import PassportHasher
from bot.cases.service import NewCase
from bot.conversations import store
from bot.gateway.keys import DB, SETTINGS
from tests.gateway_support import ChatClient


def case_form(text: str) -> list[dict]:  # type: ignore[type-arg]
    """The case form as the real actions drive it: ask for the number, then (given the gateway's reference to
    what was typed) ask for the passport; the outcome of the gateway's check ends it."""
    if text.startswith("/inform"):
        ref = json.loads(text[len("/inform") :])["application_number"]
        return [
            {"text": "Please enter the passport number."},
            {"custom": {"type": "verify_request", "case": "••••••••••01", "ref": ref, "fields": ["passport"]}},
        ]
    if text.startswith("/case_verified") or text.startswith("/case_verification_failed"):
        return [{"text": "result"}]
    return [
        {"text": "What is the application number?"},
        {"custom": {"type": "form_question", "form": "case_status", "slot": "application_number"}},
    ]


def add_case(gateway, passport: str = "E12345678") -> None:  # type: ignore[no-untyped-def]
    hasher = PassportHasher(gateway.app[SETTINGS].secret_key)
    service.create_case(
        gateway.app[DB], NewCase("WP2026000001", "extension", "Test Person", passport, "B"), hasher, "test"
    )


async def start(gateway, number: str = "WP2026000001") -> tuple[ChatClient, str]:  # type: ignore[no-untyped-def]
    client = ChatClient(await gateway.ws_connect("/ws"))
    welcome = await client.hello()
    await client.send({"type": "message", "id": "q", "text": "where is my application?"})
    await client.next("typing", active=False)
    await client.send({"type": "message", "id": "n", "text": number})
    await client.next("typing", active=False)
    return client, welcome["conversation"]


async def test_the_number_reaches_rasa_only_as_a_reference(gateway, rasa) -> None:
    add_case(gateway)
    rasa.reply = case_form
    client, conversation = await start(gateway, "wp 2026 000 001")
    forwarded = rasa.received[-1]["message"]
    assert forwarded.startswith('/inform{"application_number": "ref-') and "000001" not in forwarded
    echoed = [m for m in store.history(gateway.app[DB], conversation) if m.client_id == "n"][0]
    assert echoed.text == "••••••••••01"


async def test_secure_form_passport_is_checked_by_the_gateway(gateway, rasa) -> None:
    add_case(gateway)
    rasa.reply = case_form
    client, conversation = await start(gateway)
    await client.send({"type": "verify", "id": "v1", "passport": "E12345678"})
    await client.next("ack", id="v1")
    await client.next("typing", active=False)
    forwarded = rasa.received[-1]["message"]
    assert forwarded.startswith("/case_verified{") and "E12345678" not in forwarded
    history = store.history(gateway.app[DB], conversation)
    assert all("E12345678" not in (m.text + json.dumps(m.payload)) for m in history)
    assert "command" not in json.dumps([m.as_wire() for m in history])


async def test_typed_passport_is_masked_and_used_for_the_check(gateway, rasa) -> None:
    add_case(gateway)
    rasa.reply = case_form
    client, conversation = await start(gateway)
    await client.send({"type": "message", "id": "t1", "text": "it is E 1234 5678"})
    echoed = await client.next("message", role="user", id="t1")
    assert "1234" not in echoed["text"]
    await client.next("typing", active=False)
    assert rasa.received[-1]["message"].startswith("/case_verified{")
    assert all("12345678" not in json.dumps(body) for body in rasa.received)


async def test_the_number_typed_again_beside_the_passport_is_not_taken_for_it(gateway, rasa) -> None:
    add_case(gateway)
    rasa.reply = case_form
    client, _ = await start(gateway)
    await client.send({"type": "message", "id": "t1", "text": "WP2026000001 e12345678"})
    await client.next("typing", active=False)
    assert rasa.received[-1]["message"].startswith("/case_verified{")


async def test_wrong_passport_is_reported_as_a_failed_check(gateway, rasa) -> None:
    add_case(gateway)
    rasa.reply = case_form
    client, _ = await start(gateway)
    await client.send({"type": "verify", "id": "v1", "passport": "X0000000"})
    await client.next("typing", active=False)
    assert rasa.received[-1]["message"] == '/case_verification_failed{"reason": "denied", "language": "en"}'


async def test_unknown_number_is_reported_exactly_like_a_wrong_passport(gateway, rasa) -> None:
    add_case(gateway)
    rasa.reply = case_form
    client, _ = await start(gateway, "WP2026009999")
    await client.send({"type": "verify", "id": "v1", "passport": "E12345678"})
    await client.next("typing", active=False)
    assert rasa.received[-1]["message"] == '/case_verification_failed{"reason": "denied", "language": "en"}'


async def test_verify_without_a_request_is_refused(gateway, rasa) -> None:
    client = ChatClient(await gateway.ws_connect("/ws"))
    await client.hello()
    await client.send({"type": "verify", "id": "v", "passport": "E12345678"})
    assert (await client.next("error", id="v"))["code"] == "no_verification"


async def test_a_passport_mentioned_anytime_is_masked(gateway, rasa) -> None:
    client = ChatClient(await gateway.ws_connect("/ws"))
    welcome = await client.hello()
    await client.send({"type": "message", "id": "m", "text": "my passport number is G7654321, can I apply?"})
    await client.bot_reply()
    assert "G7654321" not in rasa.received[-1]["message"]
    assert all("G7654321" not in m.text for m in store.history(gateway.app[DB], welcome["conversation"]))


async def test_cases_api_needs_a_token_and_validates(gateway) -> None:
    assert (await gateway.get("/api/cases")).status == 401
    assert (await gateway.get("/api/cases", headers={"Authorization": "Bearer etk_wrong"})).status == 401
    token = tokens.create_token(gateway.app[DB], "ops")
    auth = {"Authorization": f"Bearer {token}"}
    created = await gateway.post(
        "/api/cases",
        json={
            "application_number": "wp 2026 000 777",
            "procedure": "extension",
            "applicant_name": "<b>Ann</b>",
            "passport_number": "E1234567",
            "category": "B",
        },
        headers=auth,
    )
    assert created.status == 201 and (await created.json())["application_number"] == "WP2026000777"
    bad = await gateway.post("/api/cases", data=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert bad.status == 400 and (await bad.json())["error"] == "bad_json"
    wrong_type = await gateway.post("/api/cases", json={"application_number": 5}, headers=auth)
    assert wrong_type.status == 400
    jump = await gateway.post("/api/cases/WP2026000777/stage", json={"stage": "collected"}, headers=auth)
    assert jump.status == 400 and (await jump.json())["error"] == "invalid_transition"
    moved = await gateway.post("/api/cases/WP2026000777/stage", json={"stage": "preliminary_review"}, headers=auth)
    assert (await moved.json())["stage"] == "preliminary_review"
    stale = await gateway.post(
        "/api/cases/WP2026000777/stage", json={"stage": "accepted", "expected": "submitted"}, headers=auth
    )
    assert stale.status == 409
    unknown = await gateway.get("/api/cases/WP2026000999", headers=auth)
    assert unknown.status == 404
    missing = await gateway.post(
        "/api/cases/WP2026000777/missing", json={"items": ["Degree authentication"]}, headers=auth
    )
    body = await missing.json()
    assert body["stage"] == "materials_requested" and body["missing"][0]["item"] == "Degree authentication"
    assert body["events"][-1]["actor"] == "api:ops"
    assert "passport" not in json.dumps(body).lower()


async def test_csv_import_over_the_api_reports_rows(gateway) -> None:
    token = tokens.create_token(gateway.app[DB], "ops")
    auth = {"Authorization": f"Bearer {token}"}
    csv_text = (
        "application_number,procedure,applicant_name,passport_number\n"
        "WP2026000900,extension,A,E1111111\nbad,extension,B,E2\n"
    )
    response = await gateway.post("/api/cases/import", data=csv_text.encode(), headers=auth)
    body = await response.json()
    assert response.status == 422 and body["imported"] == 0 and [e["row"] for e in body["errors"]] == [3]


async def test_print_page_escapes_and_follows_the_language(gateway) -> None:
    page = await gateway.get("/checklist/extension?lang=zh&category=B")
    html = await page.text()
    assert page.status == 200 and "工作许可延期" in html and "<script" not in html
    assert "Content-Security-Policy" in page.headers
    assert (await gateway.get("/checklist/extension?category=<script>")).status == 400
    assert (await gateway.get("/checklist/teleport")).status == 404
