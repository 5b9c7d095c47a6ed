"""Turning the model's ranking of guide sections into what the user sees: an answer, a choice, or a plain
"the guide does not cover this". Pure functions of their inputs, shared by the actions, the eval and tests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bot import checklists
from bot.guide.loader import FACT_REF, Guide
from bot.guide.models import GuideSection

# Answer when one section clearly leads (at least ANSWER_CONFIDENCE and LEAD times the runner-up); offer the
# leading few as buttons when the top one is plausible; below CLARIFY_CONFIDENCE the guide does not cover it.
# Set by reasoning about the ranker's probabilities, then checked (not fitted) on the held-out set.
ANSWER_CONFIDENCE = 0.35
LEAD = 2.0
CLARIFY_CONFIDENCE = 0.10
OPTION_SHARE = 0.25
OPTION_FLOOR = 0.05
CLARIFY_OPTIONS = 3

UNCONFIRMED = {
    "en": "not confirmed yet — please check with staff",
    "zh": "尚未确认，请向工作人员核实",
}
OPERATOR_NOTE = {"en": " (supplied by the bureau, not yet confirmed)", "zh": "（由行政审批局提供，尚未最终确认）"}
# A value taken from a public page is still unconfirmed until the bureau checks it (`confirmed: true`).
PUBLIC_NOTE = {
    "en": " (from a public source, not confirmed yet by the bureau)",
    "zh": "（来自公开资料，尚未经审批局确认）",
}
TEXTS = {
    "source": {"en": "Source", "zh": "出处"},
    "reviewed": {"en": "reviewed", "zh": "审核日期"},
    "clarify": {
        "en": "I am not sure which part of the guide you mean. Is it one of these?",
        "zh": "我不太确定您问的是指南的哪一部分，是下面其中之一吗？",
    },
    "none_of_these": {"en": "None of these", "zh": "都不是"},
    "not_covered": {
        "en": "I could not find this in the work-permit guide, and I would rather not guess. "
        "You can rephrase the question, or ask a staff member.",
        "zh": "工作许可指南中没有找到这个问题的答案，我不想随意猜测。您可以换个说法再问，或咨询工作人员。",
    },
    "staff_suggested": {
        "en": "Questions like this usually need a staff member to look at your situation.",
        "zh": "这类问题通常需要工作人员结合您的具体情况处理。",
    },
    "talk_to_person": {"en": "Talk to a person", "zh": "转人工"},
    "my_checklist": {"en": "Make my checklist for this", "zh": "生成我的材料清单"},
    "rephrase": {
        "en": "Sorry, I did not understand that. Could you say it another way, for example naming the procedure "
        "you are asking about (extension, cancellation, change of employer…)?",
        "zh": "抱歉，我没有理解。能换个说法吗？比如说明您问的是哪项业务（延期、注销、更换雇主等）。",
    },
}


@dataclass(frozen=True)
class Decision:
    kind: str  # "answer" | "clarify" | "not_covered"
    sections: tuple[str, ...] = ()


@dataclass
class Reply:
    """One bot turn: a text (with optional buttons) and the machine-readable payload DESIGN.md specifies."""

    text: str
    custom: dict[str, Any]
    buttons: list[dict[str, str]] = field(default_factory=list)


def ranking_from_parse(parse_data: dict[str, Any], retrieval_intent: str = "faq") -> list[tuple[str, float]]:
    """(section id, confidence) pairs, best first, from Rasa's ResponseSelector output."""
    selector = (parse_data.get("response_selector") or {}).get(retrieval_intent) or {}
    ranking = []
    for item in selector.get("ranking") or []:
        key = item.get("intent_response_key") or ""
        if key.startswith(f"{retrieval_intent}/"):
            ranking.append((key.split("/", 1)[1], float(item.get("confidence") or 0.0)))
    return sorted(ranking, key=lambda pair: pair[1], reverse=True)


def none_score(parse_data: dict[str, Any], retrieval_intent: str = "faq") -> float:
    """How strongly the ranker thinks the question is about none of the sections."""
    selector = (parse_data.get("response_selector") or {}).get(retrieval_intent) or {}
    return float(selector.get("none_of_the_sections") or 0.0)


def decide(ranking: list[tuple[str, float]], known: set[str] | None = None) -> Decision:
    """Answer when one section clearly leads, offer a choice when a few are plausible, else say it is not covered."""
    if known is not None:
        ranking = [(sid, conf) for sid, conf in ranking if sid in known]
    if not ranking:
        return Decision("not_covered")
    top_id, top = ranking[0]
    second = ranking[1][1] if len(ranking) > 1 else 0.0
    if top >= ANSWER_CONFIDENCE and top >= LEAD * second:
        return Decision("answer", (top_id,))
    if top >= CLARIFY_CONFIDENCE:
        return Decision("clarify", clarify_options(ranking))
    return Decision("not_covered")


def clarify_options(ranking: list[tuple[str, float]]) -> tuple[str, ...]:
    """The leading sections worth offering as buttons (at most CLARIFY_OPTIONS)."""
    if not ranking:
        return ()
    floor = max(OPTION_FLOOR, ranking[0][1] * OPTION_SHARE)
    return tuple(sid for sid, conf in ranking[:CLARIFY_OPTIONS] if conf >= floor)


def fill_facts(text: str, guide: Guide, lang: str) -> str:
    """Replace {fact:office.key} with the office fact; an unconfirmed fact says so wherever it appears."""

    def replace(match: Any) -> str:
        fact = guide.fact(match.group(1), match.group(2))
        if fact is None or fact.value is None:
            return UNCONFIRMED[lang]
        value = fact.value.get(lang)
        if not fact.confirmed:
            operator = fact.source is not None and fact.source.tag == "OPERATOR"
            value += (OPERATOR_NOTE if operator else PUBLIC_NOTE)[lang]
        return value

    return FACT_REF.sub(replace, text)


def single_bubble(text: str) -> str:
    """Rasa's channels split a text at blank lines into separate messages; an answer stays one message."""
    return re.sub(r"\n\s*\n+", "\n", text.strip())


def source_url(section: GuideSection) -> str | None:
    return section.official_url or (section.sources[0].url if section.sources else None)


def section_button(section: GuideSection, lang: str, title: str | None = None) -> dict[str, str]:
    return {"title": title or section.title.get(lang), "payload": "/faq" + json.dumps({"section": section.id})}


def handoff_button(lang: str) -> dict[str, str]:
    return {"title": TEXTS["talk_to_person"][lang], "payload": "/human_handoff"}


def answer(guide: Guide, section: GuideSection, lang: str) -> Reply:
    body = fill_facts(section.answer.get(lang), guide, lang)
    parts = [f"**{section.title.get(lang)}**", body]
    if section.caution:
        parts.append("⚠ " + fill_facts(section.caution.get(lang), guide, lang))
    if section.needs_staff:
        parts.append(TEXTS["staff_suggested"][lang])
    url = source_url(section)
    footer = (
        f"{TEXTS['source'][lang]}: {section.title.get(lang)} · {TEXTS['reviewed'][lang]} {section.reviewed.isoformat()}"
    )
    if url:
        footer += f"\n{url}"
    parts.append(footer)
    custom = {
        "type": "guide_answer",
        "section": section.id,
        "topic": section.topic,
        "lang": lang,
        "title": section.title.get(lang),
        "source_url": url,
        "reviewed": section.reviewed.isoformat(),
        "caution": section.caution is not None,
        "needs_staff": section.needs_staff,
        "sources": [{"url": s.url, "tag": s.tag} for s in section.sources],
    }
    buttons = [handoff_button(lang)] if section.needs_staff else []
    if section.procedure in checklists.all_checklists():
        # An answer about a procedure leads straight to the applicant's own list for it.
        payload = checklists.request_payload(section.procedure)
        buttons.insert(0, {"title": TEXTS["my_checklist"][lang], "payload": payload})
    return Reply(text=single_bubble("\n".join(parts)), custom=custom, buttons=buttons)


def clarify(guide: Guide, section_ids: tuple[str, ...], lang: str, offer_staff: bool = False) -> Reply:
    options = [section_button(guide.sections[sid], lang) for sid in section_ids if sid in guide.sections]
    options.append({"title": TEXTS["none_of_these"][lang], "payload": "/out_of_scope"})
    if offer_staff:
        options.append(handoff_button(lang))
    return Reply(
        text=TEXTS["clarify"][lang],
        custom={"type": "clarify", "lang": lang, "options": options},
        buttons=options,
    )


def rephrase(lang: str) -> Reply:
    return Reply(
        text=TEXTS["rephrase"][lang], custom={"type": "clarify", "lang": lang, "options": [], "reason": "rephrase"}
    )


def not_covered(lang: str) -> Reply:
    options = [handoff_button(lang)]
    return Reply(
        text=TEXTS["not_covered"][lang],
        custom={"type": "clarify", "lang": lang, "options": options, "reason": "not_covered"},
        buttons=options,
    )
