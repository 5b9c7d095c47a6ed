"""The print-friendly checklist page (/checklist/<procedure>?lang=…&category=…), built by the same code as the
bot's checklist payload. Rendered by Jinja2 with autoescape on, so every name and note is text; there is no script
on the page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import checklists
from bot.gateway.rendering import TEMPLATES
from bot.guide.loader import default_guide
from bot.nlu.language import reply_language
from bot.texts import t

routes = web.RouteTableDef()
PAGE = TEMPLATES.get_template("checklist.html")

PAGE_TEXTS = ("mistakes", "reviewed", "note", "category", "location", "situations", "html_lang")


def render(payload: dict[str, Any], lang: str) -> str:
    """The page for one built checklist; the answers it was built for are listed above the items as text."""
    text = {key: t(f"checklists.page.{key}", lang) for key in PAGE_TEXTS}
    options = checklists.question_options()
    facts = []
    if payload["category"]:
        facts.append(f"{text['category']}: {options['category'][payload['category']].get(lang)}")
    if payload["location"]:
        facts.append(f"{text['location']}: {options['location'][payload['location']].get(lang)}")
    if payload["situations"]:
        names = "、".join(options["situations"][s].get(lang) for s in payload["situations"])
        facts.append(f"{text['situations']}: {names}")
    return PAGE.render(
        lang=lang,
        title=payload["title"],
        facts=facts,
        items=payload["items"],
        reviewed=payload["reviewed"],
        text=text,
    )


@routes.get("/checklist/{procedure}")
async def checklist_page(request: web.Request) -> web.Response:
    lang = reply_language(explicit=request.query.get("lang"))
    procedure = request.match_info["procedure"]
    if procedure not in checklists.all_checklists():
        raise web.HTTPNotFound(text="No checklist for this procedure.")
    try:
        answers = checklists.parse_answers(dict(request.query))
    except checklists.ChecklistError as exc:
        raise web.HTTPBadRequest(text=f"Bad checklist address: {exc}") from exc
    payload = checklists.build(procedure, answers, lang)
    default_guide()  # the guide must load: a broken knowledge folder fails loudly here, not silently
    return web.Response(text=render(payload, lang), content_type="text/html")
