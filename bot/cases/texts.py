"""What the assistant says about cases: which sentence fits the data is decided here, the words are in
bot/texts/cases.yml."""

from __future__ import annotations

from datetime import datetime

from bot.cases.checks import CheckView
from bot.cases.identifiers import number_description, number_example
from bot.cases.lookup import CaseStatus
from bot.core import payload
from bot.core.workdays import SHANGHAI
from bot.handoff.texts import handoff_button
from bot.texts import t

__all__ = ["handoff_button"]  # re-exported: the case actions offer the one handoff button


def retry_button(lang: str) -> dict[str, str]:
    return {"title": t("cases.retry", lang), "payload": "/check_status"}


def other_ways_title(lang: str) -> str:
    """Label of the button to the guide's section on following a case without the number."""
    return t("cases.other_ways", lang)


def ask_number(lang: str) -> str:
    """Names the format only when the operator configured and confirmed one (the real one is not published)."""
    example = number_example()
    if example:
        return t("cases.ask_number_example", lang, example=example)
    return t("cases.ask_number_plain", lang)


def bad_number(lang: str) -> str:
    """Never repeats what was typed: it may have been a passport number."""
    example = number_example()
    if example:
        return t("cases.bad_number_example", lang, shape=number_description(lang), example=example)
    return t("cases.bad_number_plain", lang)


def slow_down(lang: str) -> str:
    """Too many recent failed checks on this number (by anyone): a short wait, never a lockout."""
    return t("cases.slow_down", lang)


def give_up_number(lang: str) -> str:
    return t("cases.give_up_number", lang)


def ask_passport(lang: str) -> str:
    return t("cases.ask_passport", lang)


def verify_request(check: CheckView, lang: str) -> dict[str, object]:
    """Tells the gateway (and the widget) that a passport check is due for the number behind `ref`; the number
    itself is shown masked and never sent (it may have been a passport typed in the wrong field)."""
    return {
        "type": payload.VERIFY_REQUEST,
        "case": check.masked,
        "ref": check.ref,
        "fields": ["passport"],
        "lang": lang,
    }


def _time(moment: datetime | None, lang: str) -> str:
    if moment is None:
        return t("cases.when_later", lang)
    return t("cases.when_after", lang, moment=moment.astimezone(SHANGHAI))


def locked(lang: str, until: datetime | None) -> str:
    return t("cases.locked", lang, when=_time(until, lang))


def denied(lang: str) -> str:
    return t("cases.denied", lang)


def expired(lang: str) -> str:
    return t("cases.expired", lang)


def status_text(status: CaseStatus, lang: str) -> str:
    lines = [
        t(
            "cases.status.stage",
            lang,
            case=status.case,
            stage=status.stage_label[lang],
            since=status.stage_since.isoformat(),
        )
    ]
    if status.due is not None and status.next_step_label is not None:
        estimate = t("cases.status.estimated", lang) if status.due_estimated else ""
        step = status.next_step_label[lang]
        lines.append(t("cases.status.promise", lang, step=step, due=status.due.isoformat(), estimate=estimate))
        lines.append(t("cases.status.on_time" if status.on_time else "cases.status.late", lang))
    if status.due is not None and status.due_rule:
        lines.append(status.due_rule[lang])
    if status.missing:
        lines.append(t("cases.status.missing", lang))
        lines.extend(f"- {item}" for item in status.missing)
    if status.next_action:
        lines.append(t("cases.status.next", lang, action=status.next_action[lang]))
    return "\n".join(lines)
