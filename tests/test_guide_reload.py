"""Editors' loop: an answer-text edit in knowledge/ replaces the served guide after the guide-check logic passes;
a broken or inconsistent edit is refused and the previous text stays served."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from bot import checklists
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
    checklists.replace_catalogue(None)  # and its checklists


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


def test_checklists_are_read_once_and_follow_a_reload(knowledge: Path) -> None:
    served = checklists.current()
    assert checklists.current() is served  # every form step reads the same catalogue, no file is read again
    extension = knowledge / "checklists" / "extension.yml"
    first = served.every["extension"].items[0]
    reloader = GuideReloader(knowledge, interval=0.1)

    edit(extension, first.name.en, first.name.en + " (original)")
    assert reloader.check_once() == "reloaded"
    built = checklists.build("extension", checklists.Answers(category="B"), "en")
    assert built["items"][0]["name"] == first.name.en + " (original)"

    # A checklist that breaks the loader's rules is refused; the last good list stays served.
    edit(extension, "procedure: extension", "procedure: extension_typo")
    assert reloader.check_once() == "refused"
    assert "extension" in checklists.all_checklists()
    assert checklists.build("extension", checklists.Answers(category="B"), "en")["items"][0]["name"].endswith(
        "(original)"
    )



@pytest.mark.slow
def test_a_text_edit_goes_live_in_the_running_stack_without_retraining(tmp_path: Path) -> None:
    """The real stack (trained model, action server, Rasa) on a copy of knowledge/: the edit is served within
    seconds, then a broken edit is refused (the action server says so in var/guide-reload.json) and the old text
    stays served."""
    import json
    import time

    import requests

    from bot.processes.stack import private_stack
    from bot.rasa.endpoints import channel_headers
    from bot.rasa.training import MODEL

    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it first)")
    copy = tmp_path / "knowledge"
    shutil.copytree(loader.KNOWLEDGE_DIR, copy)
    fees = copy / "sections" / "fees.yml"
    var = tmp_path / "var"
    env = {"KNOWLEDGE_DIR": str(copy), "GUIDE_RELOAD_SECONDS": "0.5", "OFFICE_HOURS": "always", "RASA_PROCESSES": "1"}

    headers: dict[str, str] = {}

    def fees_answer(rasa_url: str) -> str:
        body = {"sender": "reload-" + str(time.monotonic_ns()), "message": "How much does the work permit cost?"}
        # Rasa's REST channel answers only the gateway's token (bot.rasa.channel).
        replies = requests.post(f"{rasa_url}/webhooks/rest/webhook", json=body, headers=headers, timeout=30).json()
        sections = [(r.get("custom") or {}).get("section") for r in replies]
        assert "fees" in sections, replies
        return "\n".join(r.get("text") or "" for r in replies)

    def wait_for(condition, what: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.25)
        pytest.fail(f"timed out waiting for {what}")

    def status() -> dict | None:  # type: ignore[type-arg]
        try:
            return json.loads((var / "guide-reload.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    with private_stack(var, env) as stack:
        rasa_url = stack.settings.rasa_url.split(",")[0]
        headers.update(channel_headers(stack.settings))
        assert "free of charge" in fees_answer(rasa_url)
        edit(fees, EN_OLD, EN_NEW)
        started = time.monotonic()
        wait_for(lambda: "costs nothing" in fees_answer(rasa_url), "the edited text to be served")
        print(f"edit live after {time.monotonic() - started:.1f} s")
        assert (status() or {}).get("outcome") == "reloaded"
        edit(fees, "answer:\n", "answer: [\n")
        refused = wait_for(lambda: (s := status()) and s["outcome"] == "refused" and s, "the refusal")
        assert "fees.yml" in refused["error"]
        assert "costs nothing" in fees_answer(rasa_url)
