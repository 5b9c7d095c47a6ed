"""Small JSON helpers shared by the gateway's APIs: one shape for errors, one way to read a JSON object body."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_error(code: str, message: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def json_exception(exc_class: type[web.HTTPException], code: str, message: str, **kwargs: Any) -> web.HTTPException:
    """An aiohttp HTTP exception whose body is our JSON error (to raise from helpers)."""
    return exc_class(text=json.dumps({"error": code, "message": message}), content_type="application/json", **kwargs)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a clear 400 (bad JSON, bad UTF-8, or not an object)."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise json_exception(web.HTTPBadRequest, "bad_json", "the body must be a JSON object")
    return body
