"""What the assistant says about cases, in both languages (one place for the wording)."""

from __future__ import annotations

from datetime import datetime

from bot.cases.checks import CheckView
from bot.cases.identifiers import number_description, number_example
from bot.cases.lookup import CaseStatus
from bot.core import payload
from bot.core.workdays import SHANGHAI


def handoff_button(lang: str) -> dict[str, str]:
    return {"title": "转人工" if lang == "zh" else "Talk to a person", "payload": "/human_handoff"}


def retry_button(lang: str) -> dict[str, str]:
    return {"title": "重新查询" if lang == "zh" else "Try again", "payload": "/check_status"}


def other_ways_title(lang: str) -> str:
    """Label of the button to the guide's section on following a case without the number."""
    return "没有编号？其他查询方式" if lang == "zh" else "No number? Other ways to check"


def ask_number(lang: str) -> str:
    """Names the format only when the operator configured and confirmed one (the real one is not published)."""
    example = number_example()
    if lang == "zh":
        hint = f"（格式如 {example}）" if example else "（即申请的回执编号，可在工作许可系统的申请记录中找到）"
        return f"请提供申请编号{hint}。"
    hint = (
        f" It looks like {example}."
        if example
        else " It is the receipt number of the application, in the application record of the online system."
    )
    return f"What is the application number?{hint}"


def bad_number(lang: str) -> str:
    """Never repeats what was typed: it may have been a passport number."""
    example, shape = number_example(), number_description(lang)
    if lang == "zh":
        if example:
            return f"这不像申请编号：编号为{shape}，例如 {example}（空格、全角字符、大小写都可以）。请再输一次。"
        return (
            "这不像申请编号：请输入6–32位字母和数字（可含空格或连字符），"
            "编号可在工作许可系统的申请记录中找到。请再输一次。"
        )
    if example:
        return (
            f"That does not look like an application number: it is {shape}, for example {example} "
            "(spaces, full-width characters and lower case are fine). Please try again."
        )
    return (
        "That does not look like an application number: I expect 6-32 letters and digits (spaces and dashes are "
        "fine). You can find it in the application record of the online system. Please try again."
    )


def slow_down(lang: str) -> str:
    """Too many recent failed checks on this number (by anyone): a short wait, never a lockout."""
    if lang == "zh":
        return "该编号近期核验失败次数较多，为保护申请人，请稍候（最多约一分钟）再试，或转人工。"
    return (
        "There have been several failed checks on this number recently, so checks on it are slowed down to protect "
        "the applicant. Please try again in a minute, or talk to a person."
    )


def give_up_number(lang: str) -> str:
    if lang == "zh":
        return "编号仍然无法识别。可以在工作许可系统的申请记录中找到编号，或者转人工由工作人员帮您查询。"
    return (
        "I still cannot read an application number. You can find it in the application record of the online "
        "system, or a staff member can look the case up with you."
    )


def ask_passport(lang: str) -> str:
    if lang == "zh":
        return (
            "为保护隐私，请在下方安全表单中输入申请时使用的护照号码，它不会显示在对话中。"
            "如果看不到表单，也可以直接输入，系统会自动隐藏。"
        )
    return (
        "To protect your privacy, please enter the passport number used in the application in the secure form below; "
        "it is never shown in the chat. If you cannot see a form, type it here and it will be hidden."
    )


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
        return "稍后" if lang == "zh" else "a while"
    local = moment.astimezone(SHANGHAI).strftime("%H:%M")
    return f"北京时间 {local} 之后" if lang == "zh" else f"after {local} Beijing time"


def locked(lang: str, until: datetime | None) -> str:
    if lang == "zh":
        return f"为保护申请人信息，核验失败次数过多，查询已暂时锁定，请{_time(until, lang)}再试，或转人工。"
    return (
        "To protect applicants, lookups are locked for now after too many failed checks. "
        f"Please try again {_time(until, lang)}, or talk to a person."
    )


def denied(lang: str) -> str:
    if lang == "zh":
        return "无法查到与该申请编号和护照号码相符的申请。请核对后重试，或转人工。"
    return (
        "I could not find an application matching that number and passport number. "
        "Please check both and try again, or talk to a person."
    )


def expired(lang: str) -> str:
    if lang == "zh":
        return "核验已过期，请重新查询。"
    return "That check has expired; please ask for the status again."


def status_text(status: CaseStatus, lang: str) -> str:
    zh = lang == "zh"
    lines = [
        (f"申请 {status.case}：{status.stage_label['zh']}（自 {status.stage_since.isoformat()} 起）")
        if zh
        else f"Application {status.case}: {status.stage_label['en']} (since {status.stage_since.isoformat()})."
    ]
    if status.due is not None and status.next_step_label is not None:
        estimate = (
            ("（估算日期）" if zh else " (estimated: the official holiday calendar for that year is not published yet)")
            if status.due_estimated
            else ""
        )
        if zh:
            lines.append(f"按承诺，{status.next_step_label['zh']}应在 {status.due.isoformat()} 前完成{estimate}。")
            lines.append("目前在承诺时限内。" if status.on_time else "已超过承诺时限，可转人工询问原因。")
        else:
            lines.append(f"The bureau promised {status.next_step_label['en']} by {status.due.isoformat()}{estimate}.")
            lines.append(
                "The case is on time."
                if status.on_time
                else "The promised date has passed; a staff member can tell you why."
            )
    if status.due is not None and status.due_rule:
        lines.append(status.due_rule[lang])
    if status.missing:
        lines.append("需补正的材料：" if zh else "Materials requested:")
        lines.extend(f"- {item}" for item in status.missing)
    if status.next_action:
        lines.append(("下一步：" if zh else "Next: ") + status.next_action[lang])
    return "\n".join(lines)
