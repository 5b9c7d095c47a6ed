"""An applicant's own conversation: download it (JSON) or delete it, from the widget.

Authorised by the conversation's own token (its id, which only that browser holds) in `Authorization: Bearer …`;
a wrong or unknown token gets the same 404, so the endpoints tell nothing about other conversations."""

from __future__ import annotations

import asyncio
import json
from typing import TypeVar

from aiohttp import web

from bot.conversations import retention, store
from bot.gateway.http import json_exception
from bot.gateway.keys import CHAT, DB, SETTINGS

routes = web.RouteTableDef()
# _cors hands back the response it was given, of the same type.
AnyResponse = TypeVar("AnyResponse", bound=web.StreamResponse)
PATHS = ("/api/conversation/export", "/api/conversation")


def _cors(request: web.Request, response: AnyResponse) -> AnyResponse:
    """The widget runs on the bureau's pages (ALLOWED_ORIGINS): those origins may call these two endpoints.
    No cookies are involved (the token is a header), so no credentials are allowed."""
    origin = (request.headers.get("Origin") or "").rstrip("/")
    allowed = request.app[SETTINGS].allowed_origins
    if origin and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


async def preflight(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, DELETE"
    response.headers["Access-Control-Allow-Headers"] = "Authorization"
    response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


for _path in PATHS:
    routes.options(_path)(preflight)


def _conversation(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not store.valid_conversation_id(token):
        raise json_exception(web.HTTPNotFound, "not_found", "no such conversation")
    return token


@routes.get("/api/conversation/export")
async def export(request: web.Request) -> web.Response:
    conversation = _conversation(request)
    data = await asyncio.to_thread(retention.export, request.app[DB], conversation)
    if data is None:
        raise json_exception(web.HTTPNotFound, "not_found", "no such conversation")
    response = web.json_response(data, dumps=_dumps)
    response.headers["Content-Disposition"] = 'attachment; filename="conversation.json"'
    response.headers["Cache-Control"] = "no-store"
    return _cors(request, response)


@routes.delete("/api/conversation")
async def delete(request: web.Request) -> web.Response:
    conversation = _conversation(request)
    settings = request.app[SETTINGS]
    deleted = await asyncio.to_thread(retention.delete, request.app[DB], settings.tracker_store_url, conversation)
    if not deleted:
        raise json_exception(web.HTTPNotFound, "not_found", "no such conversation")
    # Other tabs of this conversation hear that it is gone (and start afresh).
    await request.app[CHAT].hub.publish(conversation, {"type": "deleted"})
    return _cors(request, web.json_response({"deleted": True}, headers={"Cache-Control": "no-store"}))


def _dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
