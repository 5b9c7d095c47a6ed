"""Files derived from knowledge/ are generated, committed, and must be current."""

from __future__ import annotations

import json

from bot.guide.loader import load_guide
from bot.rasa.generate import GENERATED_DIR, stale_generated


def test_generated_files_are_up_to_date() -> None:
    assert stale_generated() == [], "run `make generate` and commit the result"


def test_every_section_and_glossary_term_is_in_the_generated_files() -> None:
    guide = load_guide()
    training = (GENERATED_DIR / "guide_nlu.yml").read_text(encoding="utf-8")
    for section in guide.sections.values():
        assert f"- intent: faq/{section.id}\n" in training
        assert f"  utter_faq/{section.id}:\n" in training
    patterns = [json.loads(line) for line in (GENERATED_DIR / "entity_patterns.jsonl").read_text().splitlines()]
    phrases = {p.get("phrase") for p in patterns}
    for term in guide.terms.values():
        assert set(term.en) | set(term.zh) <= phrases
    dictionary = (GENERATED_DIR / "jieba" / "userdict.txt").read_text(encoding="utf-8")
    assert "Z字签证 20000 n" in dictionary and "工作许可证 20000 n" in dictionary


def test_a_changed_guide_makes_the_files_stale(tmp_path, monkeypatch) -> None:
    from bot.rasa import generate

    guide = load_guide()
    section = next(iter(guide.sections.values()))
    section.examples["en"] = section.examples["en"] + ("a brand new way to ask",)
    assert generate.stale_generated(guide) != []
