"""Staff JSON API for cases (token in `Authorization: Bearer …`). Handlers only translate HTTP to the case
service and its errors to status codes."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.cases import service, tokens
from bot.cases.csv_import import import_csv, parse_moment
from bot.cases.identifiers import PassportHasher
from bot.cases.service import CaseError, NewCase
from bot.gateway.http import json_body, json_error, json_exception
from bot.gateway.keys import DB, SETTINGS

routes = web.RouteTableDef()


async def _actor(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    owner = await asyncio.to_thread(tokens.token_owner, request.app[DB], token)
    if owner is None:
        raise json_exception(
            web.HTTPUnauthorized,
            "unauthorized",
            "a valid API token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return f"api:{owner}"


def _new_case(body: dict[str, Any]) -> NewCase:
    """Every field of the request is text (the dates are parsed by the caller); a missing stage is `submitted`."""
    return NewCase(
        application_number=_text(body, "application_number"),
        procedure=_text(body, "procedure"),
        applicant_name=_text(body, "applicant_name"),
        passport_number=_text(body, "passport_number"),
        category=_text(body, "category"),
        nationality=_text(body, "nationality"),
        employer_name=_text(body, "employer_name"),
        employer_credit_code=_text(body, "employer_credit_code"),
        stage=_text(body, "stage", "submitted"),
    )


def _text(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise CaseError("bad_type", f"{name} must be a string")
    return value


async def _run(function: Any, *args: Any, **kwargs: Any) -> web.Response:
    """Runs a case service off the event loop; a CaseError becomes a JSON error in the errors middleware."""
    result = await asyncio.to_thread(function, *args, **kwargs)
    return web.json_response(result.as_json())


@routes.get("/api/cases")
async def list_cases(request: web.Request) -> web.Response:
    await _actor(request)
    views = await asyncio.to_thread(service.list_cases, request.app[DB])
    return web.json_response({"cases": [v.as_json() for v in views]})


@routes.post("/api/cases")
async def create(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await json_body(request)
    data = _new_case(body)
    try:
        data.stage_since = parse_moment(_text(body, "stage_since"))
        data.submitted_at = parse_moment(_text(body, "submitted_at"))
    except CaseError:
        raise
    except ValueError:
        return json_error("bad_date", "stage_since and submitted_at must be ISO dates")
    hasher = PassportHasher(request.app[SETTINGS].secret_key)
    response = await _run(service.create_case, request.app[DB], data, hasher, actor)
    if response.status == 200:
        response.set_status(201)
    return response


@routes.get("/api/cases/{number}")
async def show(request: web.Request) -> web.Response:
    await _actor(request)
    return await _run(service.get_case, request.app[DB], request.match_info["number"])


@routes.post("/api/cases/{number}/stage")
async def move(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await json_body(request)
    stage, note = _text(body, "stage"), _text(body, "note")
    expected = _text(body, "expected") or None
    return await _run(service.move_case, request.app[DB], request.match_info["number"], stage, actor, note, expected)


@routes.post("/api/cases/{number}/missing")
async def missing(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await json_body(request)
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return json_error("bad_items", "items must be a list of strings")
    return await _run(service.request_materials, request.app[DB], request.match_info["number"], items, actor)


@routes.post("/api/cases/{number}/missing/resolve")
async def resolve(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return await _run(service.resolve_materials, request.app[DB], request.match_info["number"], actor)


@routes.post("/api/cases/import")
async def import_cases(request: web.Request) -> web.Response:
    actor = await _actor(request)
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return json_error("bad_encoding", "the CSV must be UTF-8")
    hasher = PassportHasher(request.app[SETTINGS].secret_key)
    result = await asyncio.to_thread(import_csv, request.app[DB], text, hasher, actor)
    if result.errors:
        return web.json_response({"imported": 0, "errors": result.errors}, status=422)
    return web.json_response({"imported": result.imported, "errors": []})
