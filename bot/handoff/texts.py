"""What the assistant says around a handoff, in both languages (one place for the wording)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core import payload
from bot.core.workdays import SHANGHAI


def _when(moment: datetime, lang: str) -> str:
    local = moment.astimezone(SHANGHAI)
    if lang == "zh":
        return f"{local.month}月{local.day}日 {local:%H:%M}（北京时间）"
    return f"{local:%A %d %B, %H:%M} Beijing time"


def _minutes(seconds: int) -> int:
    return max(1, round(seconds / 60))


def queued(lang: str, position: int, wait_s: int) -> str:
    if lang == "zh":
        return (
            f"已为您转接工作人员。您目前排在第 {position} 位，预计等待约 {_minutes(wait_s)} 分钟。"
            "工作人员接入后会在这里回复您，您也可以先关闭页面，回来后可看到回复。"
        )
    return (
        f"I have asked a staff member to take over. You are number {position} in the queue; the estimated wait is "
        f"about {_minutes(wait_s)} minutes. Their replies will appear here, also if you close the page and come back."
    )


def closed(lang: str, next_open: datetime) -> str:
    if lang == "zh":
        return f"工作人员目前不在线，将于 {_when(next_open, lang)} 回来。请留下您的问题和联系方式，工作人员会回复您。"
    return (
        f"Staff are not in right now; they are back {_when(next_open, lang)}. "
        "Leave your question and a way to reach you, and they will reply."
    )


def message_left(lang: str, next_open: datetime) -> str:
    if lang == "zh":
        return f"已收到您的留言。工作人员将于 {_when(next_open, lang)} 起处理，回复会显示在这里。"
    return (
        f"Your message is with the staff. They will pick it up from {_when(next_open, lang)}; replies will appear here."
    )


def question_needed(lang: str) -> str:
    return "请写下您的问题。" if lang == "zh" else "Please write your question."


def bad_contact(lang: str) -> str:
    if lang == "zh":
        return "这看起来不像电子邮箱或电话号码，请再输入一次（例如 name@example.com 或 13800000000）。"
    return (
        "That does not look like an email address or a phone number; "
        "please try again (e.g. name@example.com or +86 138 0000 0000)."
    )


def no_channel(lang: str) -> str:
    if lang == "zh":
        return "转人工需要通过行政审批局网站上的对话窗口进行。"
    return "A staff member can only take over conversations started in the chat on the bureau's website."


def handoff_payload(
    ticket: int, position: int | None, wait_s: int | None, office_open: bool, next_open: datetime | None, lang: str
) -> dict[str, Any]:
    """The `handoff` payload of DESIGN.md."""
    return {
        "type": payload.HANDOFF,
        "ticket": ticket,
        "queue_position": position,
        "estimated_wait_s": wait_s,
        "office_open": office_open,
        "next_open": next_open.isoformat() if next_open else None,
        "lang": lang,
    }


def ask_rating(lang: str) -> str:
    return (
        "这次人工服务对您有帮助吗？请打分（1–5）。"
        if lang == "zh"
        else "How helpful was the staff member? Please rate 1 to 5."
    )


def rating_buttons(lang: str) -> list[dict[str, str]]:
    return [
        {"title": ("★" * i) if lang == "en" else f"{i}分", "payload": f'/rate{{"rating": "{i}"}}'} for i in range(1, 6)
    ]


def thanks_for_rating(lang: str) -> str:
    return (
        "谢谢您的评价！还有其他问题可以继续问我。"
        if lang == "zh"
        else "Thank you for the rating! Ask me anything else whenever you like."
    )


def rating_not_needed(lang: str) -> str:
    return "谢谢！" if lang == "zh" else "Thank you!"


# Notices the gateway itself posts into the conversation (system messages), bilingual in one line.
STAFF_JOINED = "{name} has joined the conversation. · 工作人员 {name} 已接入对话。"
REQUEUED = "You are back in the queue for the next staff member. · 您已重新进入排队，等待下一位工作人员。"
RESOLVED = (
    "The staff member has closed the conversation; the assistant is back. · "
    "工作人员已结束本次对话，智能助手继续为您服务。"
)
