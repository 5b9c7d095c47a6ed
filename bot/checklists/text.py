"""A checklist as one plain-text message, for channels without the widget."""

from __future__ import annotations

from typing import Any


def as_text(payload: dict[str, Any]) -> str:
    """Plain-text rendering for channels without the widget (one message: no blank lines)."""
    zh = payload["lang"] == "zh"
    lines = [f"**{payload['title']}**"]
    for number, item in enumerate(payload["items"], start=1):
        lines.append(f"{number}. {item['name']}: {item['note']}")
        for mistake in item["common_mistakes"]:
            lines.append(("   常见问题：" if zh else "   Often sent back: ") + mistake)
    lines.append(("打印版：" if zh else "Print version: ") + payload["print_url"])
    return "\n".join(lines)
