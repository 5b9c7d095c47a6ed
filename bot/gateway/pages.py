"""Pages and static assets served to browsers."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
routes = web.RouteTableDef()


@routes.get("/")
async def demo(request: web.Request) -> web.FileResponse:
    """A page that looks like the bureau's website, with the widget embedded by one script tag."""
    return web.FileResponse(STATIC / "demo.html")


@routes.get("/chat")
async def chat_page(request: web.Request) -> web.FileResponse:
    """A plain full-page chat (no widget), handy for trying the bot."""
    return web.FileResponse(STATIC / "chat.html")


@routes.get("/widget.js")
async def widget(request: web.Request) -> web.FileResponse:
    """The loader that host pages embed with one tag: it draws only the launcher and an iframe of /widget/frame,
    so no script of the host page can reach the conversation or the passport field (another origin)."""
    response = web.FileResponse(STATIC / "widget.js", headers={"Cache-Control": "public, max-age=300"})
    response.content_type = "text/javascript"
    return response


@routes.get("/widget/frame")
async def widget_frame(request: web.Request) -> web.FileResponse:
    """The chat panel, on the gateway's own origin inside the loader's iframe; the conversation id lives in this
    origin's storage. Only ALLOWED_ORIGINS may frame it (middleware sets frame-ancestors)."""
    return web.FileResponse(STATIC / "widget_frame.html", headers={"Cache-Control": "no-cache"})


routes.static("/static", STATIC, append_version=False)
