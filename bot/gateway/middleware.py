"""Error pages and security headers for every response (the request-size limit is client_max_size)."""

from __future__ import annotations

import functools
import logging
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from bot.core.errors import ServiceError
from bot.core.settings import Settings
from bot.gateway.keys import SETTINGS

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Only the page that holds the chat panel may be framed, and only by the sites that embed the widget.
WIDGET_FRAME_PATH = "/widget/frame"
NO_STORE_PREFIXES = ("/staff", "/api/")


@functools.lru_cache(maxsize=8)
def content_security_policy(public_url: str, frame_ancestors: tuple[str, ...] = ("'self'",)) -> str:
    """Scripts, styles and connections only to the gateway's own origin (its ws/wss URL spelled out: a bare
    `ws: wss:` would let an injected script talk to any host); no inline script anywhere."""
    own = urlsplit(public_url)
    socket = ("wss://" if own.scheme == "https" else "ws://") + own.netloc
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {socket}; frame-ancestors {' '.join(frame_ancestors)}; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
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


def baseline_headers(settings: Settings, path: str | None) -> dict[str, str]:
    """The security headers of a response to `path`; None for a request aiohttp could not even parse (its own
    400 page, see bot.gateway.protocol), which gets the strictest set: not frameable, no script, no cache."""
    headers = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"}
    if path == WIDGET_FRAME_PATH:
        embedders = tuple(o for o in settings.allowed_origins if o != settings.public_url)  # 'self' says that one
        ancestors = ("*",) if "*" in embedders else ("'self'", *embedders)
        headers["Content-Security-Policy"] = content_security_policy(settings.public_url, ancestors)
    else:
        headers["Content-Security-Policy"] = content_security_policy(settings.public_url)
        headers["X-Frame-Options"] = "SAMEORIGIN"
    if path is None or path.startswith(NO_STORE_PREFIXES):
        # Staff pages and data (transcripts, cases) never stay in a browser's or a proxy's cache.
        headers["Cache-Control"] = "no-store"
    return headers


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response the application sends (an `on_response_prepare` hook, so error pages, aiohttp's own
    HTTP exceptions, files and WebSocket handshakes get them too, whichever middleware or handler made them).
    A handler's own value wins, except Cache-Control, which staff paths always get as no-store."""
    for name, value in baseline_headers(request.app[SETTINGS], request.path).items():
        if name == "Cache-Control":
            response.headers[name] = value
        else:
            response.headers.setdefault(name, value)
