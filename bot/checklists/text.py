"""A checklist as one plain-text message, for channels without the widget."""

from __future__ import annotations

from typing import Any

from bot.texts import t


def as_text(payload: dict[str, Any]) -> str:
    """Plain-text rendering for channels without the widget (one message: no blank lines)."""
    lang = payload["lang"]
    lines = [f"**{payload['title']}**"]
    for number, item in enumerate(payload["items"], start=1):
        lines.append(f"{number}. {item['name']}: {item['note']}")
        for mistake in item["common_mistakes"]:
            lines.append(t("checklists.often_sent_back", lang, mistake=mistake))
    lines.append(t("checklists.print_version", lang, url=payload["print_url"]))
    return "\n".join(lines)
