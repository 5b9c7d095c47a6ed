"""The held-out evaluation set is big enough, labelled with real sections, and never used for training."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from bot.evaluation.questions import NONE, load_questions
from bot.guide.loader import load_guide, normalize_question

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "eval" / "questions.yml"


def training_texts() -> set[str]:
    texts = set()
    for path in (ROOT / "data").rglob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu", []) or []:
            for line in str(item.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    texts.add(normalize_question(line.strip()[2:]))
    for section in load_guide().sections.values():
        for lang in ("en", "zh"):
            texts |= {normalize_question(t) for t in section.examples[lang]}
    return texts


def test_size_and_languages() -> None:
    questions = load_questions(QUESTIONS)
    counts = Counter(q.lang for q in questions)
    assert len(questions) >= 250 and counts["zh"] >= 100 and counts["mixed"] >= 20


def test_labels_are_real_sections() -> None:
    sections = set(load_guide().sections)
    for question in load_questions(QUESTIONS):
        assert set(question.expect) <= sections or question.expect == (NONE,), question.text


def test_no_evaluation_question_is_a_training_example() -> None:
    train = training_texts()
    overlap = [q.text for q in load_questions(QUESTIONS) if normalize_question(q.text) in train]
    assert overlap == []


DEV_SET = ROOT / "tests" / "eval" / "real_voice_dev.yml"


def test_the_development_set_is_labelled_sourced_and_not_trained_on() -> None:
    """The tuning set of the answer policy: real sections, a public source each, no question copied into training
    (nor a near copy: 80 % of its word 3-grams)."""
    raw = yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))["questions"]
    sections = set(load_guide().sections)
    counts = Counter(item["lang"] for item in raw)
    assert len(raw) >= 100 and counts["zh"] >= 40
    train = training_texts()

    def grams(text: str) -> set[str]:
        import jieba

        words = [w for w in jieba.lcut(text.lower()) if w.strip() and any(c.isalnum() for c in w)]
        return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}

    train_grams = [grams(t) for t in training_texts_raw()]
    for item in raw:
        assert set(item["expect"]) <= sections, item["q"]
        assert str(item["source"]).startswith(("http://", "https://")) and isinstance(item["needs_person"], bool)
        assert normalize_question(item["q"]) not in train, item["q"]
        mine = grams(item["q"])
        if len(mine) >= 5:
            assert all(len(mine & other) < 0.8 * len(mine) for other in train_grams), item["q"]


def training_texts_raw() -> list[str]:
    texts = []
    for section in load_guide().sections.values():
        for lang in ("en", "zh"):
            texts += list(section.examples[lang])
    return texts
