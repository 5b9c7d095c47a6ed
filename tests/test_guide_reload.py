"""Editors' loop: an answer-text edit in knowledge/ replaces the served guide after the guide-check logic passes;
a broken or inconsistent edit is refused and the previous text stays served."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from bot.guide import answers, loader
from bot.guide.reload import GuideReloader

EN_OLD = "The **work permit itself is free of charge**"
EN_NEW = "The **work permit itself costs nothing**"


@pytest.fixture
def knowledge(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "knowledge"
    shutil.copytree(loader.KNOWLEDGE_DIR, root)
    loader.replace_guide(loader.load_guide(root))
    yield root
    loader.replace_guide(None)  # the project's own guide again for the other tests


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def served_fees_text() -> str:
    guide = loader.default_guide()
    return answers.answer(guide, guide.sections["fees"], "en").text


def test_a_text_edit_goes_live_and_a_broken_one_is_refused(knowledge: Path) -> None:
    fees = knowledge / "sections" / "fees.yml"
    reloader = GuideReloader(knowledge, interval=0.1)
    assert reloader.check_once() == "unchanged"
    assert "free of charge" in served_fees_text()

    edit(fees, EN_OLD, EN_NEW)
    assert reloader.check_once() == "reloaded"
    assert "costs nothing" in served_fees_text()

    # Broken YAML: refused, the last good text stays served.
    edit(fees, "answer:\n", "answer: [\n")
    assert reloader.check_once() == "refused"
    assert "fees.yml" in reloader.last_error
    assert "costs nothing" in served_fees_text()
    edit(fees, "answer: [\n", "answer:\n")
    assert reloader.check_once() == "reloaded"

    # A number in one language only fails the guide-check: refused as well.
    edit(fees, EN_NEW, EN_NEW + " (42 offices agree)")
    assert reloader.check_once() == "refused"
    assert "42" in reloader.last_error
    assert "42 offices" not in served_fees_text()

