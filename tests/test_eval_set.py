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
