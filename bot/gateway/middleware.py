"""Error pages, security headers and request-size limits for every response."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from bot.errors import ServiceError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Our own pages load scripts and styles only from this origin; no inline script anywhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure gets a clear answer (a refused request says why in JSON); internal errors are logged only."""
    try:
        return await handler(request)
    except ServiceError as exc:
        return web.json_response({"error": exc.code, "message": str(exc)}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_json(request) or exc.content_type == "application/json":
            raise
        return web.json_response(
            {"error": exc.reason.lower().replace(" ", "_"), "message": exc.text}, status=exc.status
        )
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json(request):
            return web.json_response(
                {"error": "internal_error", "message": "Something went wrong on our side."}, status=500
            )
        return web.Response(status=500, text="Something went wrong on our side.")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if isinstance(response, web.WebSocketResponse) or response.prepared:
        return response
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response
