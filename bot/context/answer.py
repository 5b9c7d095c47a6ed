"""Turning a conversation's context into what the user sees: the answer to a follow-up (a section or a checklist
for the right procedure and situation), the deadlines of its dates, and the line that shows what was assumed
("For: extension · category B — Change")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from bot import checklists
from bot.context.state import Context, Heard, followup_content
from bot.core import payload
from bot.deadlines import service as deadlines
from bot.guide import answers
from bot.guide.answers import Reply
from bot.guide.loader import Guide
from bot.handoff.texts import handoff_button
from bot.texts import catalogue, t

RESET_PAYLOAD = "/reset_context"


@dataclass(frozen=True)
class Target:
    """What a follow-up is answered with: a guide section, or the checklist of a procedure."""

    section: str | None = None
    checklist: str | None = None


def procedure_name(guide: Guide, procedure: str, lang: str) -> str:
    term = guide.terms.get(procedure)
    if term is not None:
        return term.name(lang)
    section = guide.sections.get(procedure)
    return section.title.get(lang) if section else procedure


def assumed(guide: Guide, context: Context, lang: str) -> str:
    """'extension · category B · inside China' — what the bot took the question to be about."""
    parts = [procedure_name(guide, context.procedure, lang)] if context.procedure else []
    if context.category and context.category != "unknown":
        parts.append(t("context.category", lang, category=context.category))
    if context.location in ("inside", "outside"):
        parts.append(t(f"context.location.{context.location}", lang))
    labelled = [f"context.situation.{s}" for s in context.situations]
    parts += [t(key, lang) for key in labelled if key in catalogue()]
    return " · ".join(parts)


def section_for_procedure(guide: Guide, procedure: str | None) -> str | None:
    if procedure is None:
        return None
    if procedure in guide.sections:
        return procedure
    return next((s.id for s in guide.sections.values() if s.procedure == procedure), None)


def target(guide: Guide, context: Context, heard: Heard, follow_on: bool = True) -> Target | None:
    """What to answer a follow-up with, or None when the context cannot say (then the guide ranking decides).
    `follow_on`: the conversation was already about a procedure; a first question gets its section, not a list."""
    situations = followup_content().situations
    if "expired" in heard.situations:
        choices = situations["expired"].get("sections") or {}
        return Target(section=choices.get(context.procedure or "", choices.get("default")))
    if "family" in heard.situations:
        return Target(section=situations["family"].get("section"))
    procedure = checklists.resolve_procedure(context.procedure, context.location)
    if context.aspect == "materials" and procedure is not None and follow_on:
        return Target(checklist=procedure)
    if heard.category and not heard.procedure and not heard.situations:
        section = f"category_{heard.category.lower()}"
        if section in guide.sections:
            return Target(section=section)
    procedure_section = section_for_procedure(guide, context.procedure)
    return Target(section=procedure_section) if procedure_section else None


def render(guide: Guide, context: Context, goal: Target, lang: str, public_url: str) -> Reply:
    if goal.checklist:
        given = checklists.Answers(context.category, context.location, ())
        payload = checklists.build(goal.checklist, given, lang, public_url)
        return Reply(text=checklists.as_text(payload), custom=payload)
    section = guide.sections[goal.section or ""]
    reply = answers.answer(guide, section, lang)
    if "expired" in context.situations and followup_content().situations["expired"].get("needs_staff"):
        add_button(reply, handoff_button(lang))
    return reply


def add_button(reply: Reply, button: dict[str, str]) -> None:
    if all(b.get("payload") != button["payload"] for b in reply.buttons):
        reply.buttons.append(button)


def with_assumptions(reply: Reply, guide: Guide, context: Context, lang: str) -> Reply:
    """Show what the answer assumed, with a button to correct it."""
    what = assumed(guide, context, lang)
    if not what:
        return reply
    reply.text = f"{reply.text}\n{t('context.for', lang, what=what)}"
    reply.custom["context"] = {
        "procedure": context.procedure,
        "category": context.category,
        "location": context.location,
        "situations": list(context.situations),
        "label": what,
    }
    add_button(reply, {"title": t("context.change", lang), "payload": RESET_PAYLOAD})
    return reply


def with_deadlines(
    reply: Reply,
    heard: Heard,
    context: Context,
    today: date,
    lang: str,
    public_url: str,
    carried: bool,
) -> Reply:
    """Put the deadlines of this turn's dates (and, when the procedure changed, of dates heard before that
    concern it) first: a question with a date asks for that date. Deadlines of other procedures follow the answer."""
    report = deadlines.report(
        list(heard.dates),
        today,
        lang,
        procedure=context.procedure,
        carried=[m for m in context.dates if m not in heard.dates] if carried else None,
    )
    if not report.lines and not report.later:
        return reply
    reply.text = "\n".join(part for part in (report.text(), reply.text, report.later_text()) if part)
    if report.deadlines:
        reply.custom["deadlines"] = report.deadlines
        reply.custom["ics_url"] = deadlines.ics_url(report.deadlines, lang, public_url)
    if report.offer_person:
        add_button(reply, handoff_button(lang))
    return reply


def reset(guide: Guide, context: Context, lang: str) -> Reply:
    """Forget the assumptions and ask again, with the procedures as buttons."""
    what = assumed(guide, context, lang)
    text = t("context.reset", lang, what=what) if what else t("context.reset_nothing", lang)
    buttons = [
        {"title": procedure_name(guide, p, lang), "payload": "/follow_up" + json.dumps({"procedure": p})}
        for p in checklists.all_checklists()
    ]
    return Reply(text=text, custom=payload.clarify(lang, buttons, reason=payload.REASON_CONTEXT_RESET),
                 buttons=buttons)  # fmt: skip
