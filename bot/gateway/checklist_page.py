"""The print-friendly checklist page (/checklist/<procedure>?lang=…&category=…), built by the same code as the
bot's checklist payload. Everything is escaped; there is no script on the page."""

from __future__ import annotations

from html import escape
from typing import Any

from aiohttp import web

from bot import checklists
from bot.guide.loader import default_guide
from bot.nlu.language import reply_language
from bot.texts import t

routes = web.RouteTableDef()


def render(payload: dict[str, Any], lang: str) -> str:
    def text(key: str) -> str:
        return t(f"checklists.page.{key}", lang)

    options = checklists.question_options()
    facts = []
    if payload["category"]:
        facts.append(f"{text('category')}: {options['category'][payload['category']].get(lang)}")
    if payload["location"]:
        facts.append(f"{text('location')}: {options['location'][payload['location']].get(lang)}")
    if payload["situations"]:
        names = "、".join(options["situations"][s].get(lang) for s in payload["situations"])
        facts.append(f"{text('situations')}: {names}")
    items = []
    for item in payload["items"]:
        mistakes = "".join(f"<li>{escape(m)}</li>" for m in item["common_mistakes"])
        block = f'<p class="mistakes">{escape(text("mistakes"))}:</p><ul>{mistakes}</ul>' if mistakes else ""
        items.append(
            f'<li class="item"><label><input type="checkbox"> <strong>{escape(item["name"])}</strong></label>'
            f"<p>{escape(item['note'])}</p>{block}</li>"
        )
    facts_html = "".join(f"<li>{escape(f)}</li>" for f in facts)
    footer = f"{escape(text('reviewed'))} {escape(payload['reviewed'])}. {escape(text('note'))}"
    return f"""<!doctype html>
<html lang="{text("html_lang")}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(payload["title"])}</title><link rel="stylesheet" href="/static/checklist.css"></head>
<body><main><h1>{escape(payload["title"])}</h1><ul class="facts">{facts_html}</ul>
<ol class="items">{"".join(items)}</ol>
<p class="footer">{footer}</p></main></body></html>"""


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
