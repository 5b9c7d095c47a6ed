"""The print-friendly checklist page (/checklist/<procedure>?lang=…&category=…), built by the same code as the
bot's checklist payload. Rendered by Jinja2 with autoescape on, so every name and note is text; there is no script
on the page."""

from __future__ import annotations

from aiohttp import web

from bot import checklists
from bot.gateway.rendering import TEMPLATES
from bot.guide.loader import default_guide
from bot.nlu.language import normalize_language

routes = web.RouteTableDef()
PAGE = TEMPLATES.get_template("checklist.html")

LABELS = {
    "en": {
        "mistakes": "Often sent back when",
        "print": "Print",
        "reviewed": "Reviewed",
        "note": "Checklist from the E-Town work-permit assistant. Confirm with the bureau before you submit.",
        "category": "Category",
        "location": "Applicant",
        "situations": "Situations",
    },
    "zh": {
        "mistakes": "常见退件原因",
        "print": "打印",
        "reviewed": "审核日期",
        "note": "本清单由经开区外国人工作许可助手生成，提交前请与审批局确认。",
        "category": "人才类别",
        "location": "申请人所在地",
        "situations": "特殊情况",
    },
}


def render(payload: dict, lang: str) -> str:  # type: ignore[type-arg]
    """The page for one built checklist; the answers it was built for are listed above the items as text."""
    text = LABELS[lang]
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
    lang = normalize_language(request.query.get("lang")) or "en"
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
