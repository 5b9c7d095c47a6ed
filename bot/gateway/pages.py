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
    """The embeddable widget: one file, no build step; host pages load it cross-origin."""
    response = web.FileResponse(STATIC / "widget.js", headers={"Cache-Control": "public, max-age=300"})
    response.content_type = "text/javascript"
    return response


routes.static("/static", STATIC, append_version=False)
