"""The evaluation sets are big enough, labelled with real sections, and never used for training.

The real-voice set (tests/eval/real_voice.yml) is the measurement issue #13 rests on: no question may equal a
training example after normalisation, nor be a near-duplicate of one (character 4-gram Jaccard >= 0.6, or
most of its 4-grams inside a single training example). Training examples are every NLU example under data/,
every section's examples, and any list under an `examples` key anywhere in knowledge/ (so examples added in
new files are covered too).
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.evaluation.questions import LANGS, NONE, Question, load_questions
from bot.guide.loader import load_guide as _load_guide
from bot.guide.loader import normalize_question

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "tests" / "eval" / "questions.yml"
REAL_VOICE = ROOT / "tests" / "eval" / "real_voice.yml"
FLOORS = ROOT / "tests" / "eval" / "floors.yml"

# The C loader when PyYAML has it: the generated training data is large.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
JACCARD_LIMIT = 0.6
CONTAINMENT_LIMIT = 0.8
GRAM = 4
LONG = 150


@lru_cache(maxsize=1)
def load_guide():  # noqa: ANN201 - the loader's own type
    """The guide, read once for this module (reading it takes seconds)."""
    return _load_guide()


def _grams(text: str) -> frozenset[str]:
    norm = normalize_question(text)
    if len(norm) < GRAM:
        return frozenset({norm}) if norm else frozenset()
    return frozenset(norm[i : i + GRAM] for i in range(len(norm) - GRAM + 1))


def _examples_in(node: Any, under_examples: bool = False) -> list[str]:
    """Every string under an `examples` key (at any depth) of a YAML document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _examples_in(value, under_examples or "example" in str(key).lower())
    elif isinstance(node, list):
        for value in node:
            found += _examples_in(value, under_examples)
    elif isinstance(node, str) and under_examples:
        for line in node.splitlines():
            line = line.strip()
            if line.startswith("- "):
                found.append(line[2:])
            elif line and "\n" not in node:
                found.append(line)
    return found


@lru_cache(maxsize=1)
def training_texts() -> tuple[str, ...]:
    texts: list[str] = []
    for path in sorted((ROOT / "data").rglob("*.yml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER) or {}  # noqa: S506 - a safe loader
        for item in data.get("nlu", []) or []:
            for line in str(item.get("examples", "")).splitlines():
                if line.strip().startswith("- "):
                    texts.append(line.strip()[2:])
    for section in load_guide().sections.values():
        for lang in ("en", "zh"):
            texts += list(section.examples[lang])
    for path in sorted((ROOT / "knowledge").rglob("*.yml")):
        texts += _examples_in(yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER))  # noqa: S506
    return tuple(t for t in texts if t.strip())


def near_duplicates(questions: list[str], train: tuple[str, ...]) -> list[tuple[str, str, float, float]]:
    """(question, training example, jaccard, containment) for each question too close to a training example."""
    grams = [_grams(t) for t in train]
    found = []
    for question in questions:
        q = _grams(question)
        if not q:
            continue
        # Both tests need the example to have at least JACCARD_LIMIT * |q| grams: skip the ones that cannot match.
        for text, g in zip(train, grams, strict=True):
            if len(g) < JACCARD_LIMIT * len(q):
                continue
            common = len(q & g)
            jaccard = common / (len(q) + len(g) - common)
            containment = common / len(q)
            if jaccard >= JACCARD_LIMIT or (len(q) >= 12 and containment >= CONTAINMENT_LIMIT):
                found.append((question, text, round(jaccard, 2), round(containment, 2)))
                break
    return found


def real_voice() -> list[Question]:
    return load_questions(REAL_VOICE)


# ---------------------------------------------------------------- the synthetic set


def test_synthetic_size_and_languages() -> None:
    questions = load_questions(SYNTHETIC)
    counts = Counter(q.lang for q in questions)
    assert len(questions) >= 250 and counts["zh"] >= 100 and counts["mixed"] >= 20


def test_synthetic_labels_are_real_sections() -> None:
    sections = set(load_guide().sections)
    for question in load_questions(SYNTHETIC):
        assert set(question.expect) <= sections or question.expect == (NONE,), question.text


def test_no_synthetic_question_is_a_training_example() -> None:
    train = {normalize_question(t) for t in training_texts()}
    overlap = [q.text for q in load_questions(SYNTHETIC) if normalize_question(q.text) in train]
    assert overlap == []


# ---------------------------------------------------------------- the real-voice set


def test_real_voice_size_languages_and_lengths() -> None:
    questions = real_voice()
    counts = Counter(q.lang for q in questions)
    assert set(counts) <= set(LANGS)
    assert len(questions) >= 320
    assert counts["zh"] + counts["mixed"] >= 130 and counts["zh"] >= 100 and counts["mixed"] >= 15
    long = [q for q in questions if len(q.text) > LONG]
    assert len(long) * 3 >= len(questions), f"only {len(long)} of {len(questions)} longer than {LONG} characters"
    assert sum(q.needs_person for q in questions) >= 40


def test_real_voice_sources_are_spread() -> None:
    questions = real_voice()
    assert all(q.source and q.source.startswith(("http://", "https://")) for q in questions)
    sources = Counter(q.source for q in questions)
    assert len(sources) >= 60
    # No single post may dominate the measurement.
    assert max(sources.values()) <= 12, sources.most_common(3)


def test_real_voice_labels_are_real_sections() -> None:
    sections = set(load_guide().sections)
    for question in real_voice():
        assert question.expect, question.text
        assert set(question.expect) <= sections or question.expect == (NONE,), question.text
        assert not (question.facts and not question.covered), f"facts on an uncovered question: {question.text}"
        assert all(all(alt for alt in fact) for fact in question.facts), question.text
        # Every part names accepted sections, and a post has at most three parts (one reply's worth).
        assert all(part and set(part) <= set(question.expect) for part in question.parts), question.text
        assert len(question.parts) <= 3, question.text


def test_real_voice_questions_are_distinct() -> None:
    texts = [normalize_question(q.text) for q in real_voice()]
    assert len(texts) == len(set(texts))


def test_no_real_voice_question_is_a_training_example() -> None:
    train = {normalize_question(t) for t in training_texts()}
    overlap = [q.text for q in real_voice() if normalize_question(q.text) in train]
    assert overlap == []


def test_no_real_voice_question_is_near_a_training_example() -> None:
    found = near_duplicates([q.text for q in real_voice()], training_texts())
    assert found == [], found[:5]


def test_the_near_duplicate_check_catches_a_copied_example() -> None:
    """The check is not vacuous: a training example with a typo and changed punctuation is caught."""
    train = training_texts()
    example = next(t for t in train if len(normalize_question(t)) > 30)
    edited = example.replace(" ", "  ", 1).rstrip("?？") + "!!"
    edited = edited[:-4] + edited[-3:]  # drop a character near the end
    assert near_duplicates([edited], train)
    assert not near_duplicates(["completely unrelated words about cooking noodles at home tonight"], train)


def test_floors_cover_every_language_of_both_sets() -> None:
    floors = yaml.safe_load(FLOORS.read_text(encoding="utf-8"))["sets"]
    for lang in LANGS:
        assert {"correct", "among_choices", "clarify_rate", "wrong_rate", "language_ok", "person_offered"} <= set(
            floors["real_voice"][lang]
        )
        assert "accuracy" in floors["synthetic"][lang]
    assert "correct" in floors["real_voice"]["long"]


def test_real_voice_facts_are_in_the_accepted_answers() -> None:
    """Every fact a correct answer must contain is in the reply of an accepted section, in the question's answer
    language, so no label is impossible to satisfy. A multi-part post may need the facts of two accepted sections
    (a reply that answers both parts); all of them together must hold every fact."""
    from bot.guide import answers

    guide = load_guide()
    impossible = []
    for question in real_voice():
        if not question.facts:
            continue
        replies = [answers.answer(guide, guide.sections[s], question.answer_language).text for s in question.expect]
        if question.missing_facts("\n".join(replies)):
            impossible.append((question.text[:60], question.expect, question.missing_facts("\n".join(replies))))
    assert impossible == [], impossible


# ---------------------------------------------------------------- what a reply counts as (bot/evaluation)


def _answer(section: str, text: str, buttons: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    return [
        {"text": text, "buttons": buttons or []},
        {"custom": {"type": "guide_answer", "section": section, "lang": "en"}},
    ]


def test_a_direct_answer_is_correct_only_with_its_facts() -> None:
    from bot.evaluation.questions import Outcome
    from bot.evaluation.run import verdict

    question = Question("when can we renew", "en", ("extension",), facts=(("30",), ("90", "九十")))
    assert verdict(question, Outcome.from_rasa(_answer("extension", "between 30 and 90 days"))) == "correct"
    assert verdict(question, Outcome.from_rasa(_answer("extension", "at least 30 days before"))) == "incomplete"
    assert verdict(question, Outcome.from_rasa(_answer("cancellation", "30 90"))) == "wrong"
    # A post asking two things is answered correctly only when both parts are.
    two = Question(
        "renew? and RP?",
        "en",
        ("extension", "residence_permit_extension"),
        parts=(("extension",), ("residence_permit_extension",)),
    )
    one = Outcome.from_rasa(_answer("extension", "30 90"))
    assert verdict(two, one) == "incomplete"
    both = Outcome.from_rasa(_answer("extension", "30 90") + _answer("residence_permit_extension", "30"))
    assert both.answered == ("extension", "residence_permit_extension") and verdict(two, both) == "correct"
    # The same, as one payload that lists its sections, with related links as buttons.
    related = {"title": "Related", "payload": '/faq{"section": "fees"}'}
    one_payload = [
        {"text": "30 90 and 30"},
        {
            "custom": {
                "type": "guide_answer",
                "section": "extension",
                "sections": ["extension", "residence_permit_extension"],
                "related": [related],
            }
        },
    ]
    outcome = Outcome.from_rasa(one_payload)
    assert outcome.answered == ("extension", "residence_permit_extension") and outcome.offered == ("fees",)
    assert verdict(two, outcome) == "correct"


def test_facts_ignore_width_case_and_thousands_separators() -> None:
    question = Question("fine?", "en", ("overstay",), facts=(("10000", "1万"), ("cny",)))
    assert question.missing_facts("up to CNY 10,000") == []
    assert question.missing_facts("最高１万元") == ["cny"]


def test_choices_related_buttons_and_handoff_are_read_from_the_reply() -> None:
    from bot.evaluation.questions import Outcome
    from bot.evaluation.run import verdict
    from bot.handoff import texts

    related = {"title": "Related", "payload": '/faq{"section": "residence_permit_extension"}'}
    person = {"title": "Talk to a person", "payload": "/human_handoff"}
    outcome = Outcome.from_rasa(_answer("extension", "30 90", [related, person]))
    assert outcome.kind == "answer" and outcome.person
    assert outcome.sections == ("extension", "residence_permit_extension")
    choice = [
        {"text": "which one?"},
        {
            "custom": {
                "type": "clarify",
                "lang": "zh",
                "options": [{"payload": '/faq{"section": "overstay"}'}, {"payload": "/out_of_scope"}],
            }
        },
    ]
    outcome = Outcome.from_rasa(choice)
    assert outcome.kind == "clarify" and outcome.offered == ("overstay",) and not outcome.person
    assert verdict(Question("q", "zh", ("overstay",)), outcome) == "clarify_right"
    assert Outcome.from_rasa([{"text": texts.no_channel("zh")}]).person
    not_covered = [{"custom": {"type": "clarify", "reason": "not_covered", "options": [person]}}]
    outcome = Outcome.from_rasa(not_covered)
    assert outcome.kind == "none" and outcome.person
    assert verdict(Question("q", "en", (NONE,)), outcome) == "declined"
    # "Not in the guide", with the closest sections to open: still a decline (as /metrics counts it), but the
    # sections offered are reached.
    closest = {"payload": '/faq{"section": "family_visas"}'}
    with_closest = [{"custom": {"type": "clarify", "reason": "not_covered", "options": [person, closest]}}]
    outcome = Outcome.from_rasa(with_closest)
    assert outcome.kind == "none" and outcome.offered == ("family_visas",) and outcome.person
    assert verdict(Question("q", "en", (NONE,)), outcome) == "declined"
    assert verdict(Question("q", "en", ("family_visas",)), outcome) == "no_answer"


def test_the_ratchet_fails_on_a_drop_and_only_ever_tightens() -> None:
    from bot.evaluation.floors import check_floors, raised

    bounds = {"sets": {"real_voice": {"en": {"correct": 0.5, "clarify_rate": 0.2}}}}
    sizes = {"real_voice": {"en": 100}}
    ok = {"real_voice": {"en": {"correct": 0.495, "clarify_rate": 0.205}}}
    assert check_floors(ok, sizes, bounds) == []  # within one question of 100
    worse = {"real_voice": {"en": {"correct": 0.48, "clarify_rate": 0.25}}}
    assert len(check_floors(worse, sizes, bounds)) == 2
    assert check_floors({"real_voice": {}}, sizes, bounds)  # a bounded figure that is not measured fails
    # A bound is the measured figure rounded to 3 decimals: 2 of 116 was recorded as 0.017, and 3 of 116 (one
    # question more) passes; 4 of 116 does not.
    rounded = {"sets": {"real_voice": {"not_covered": {"answered_anyway": round(2 / 116, 3)}}}}
    nc_sizes = {"real_voice": {"not_covered": 116}}
    assert check_floors({"real_voice": {"not_covered": {"answered_anyway": 3 / 116}}}, nc_sizes, rounded) == []
    assert check_floors({"real_voice": {"not_covered": {"answered_anyway": 4 / 116}}}, nc_sizes, rounded)
    # A ceiling tighter than the level the issue accepts holds only at that level: "which one?" menus <= 15 %
    # (a wrong answer turned into a menu is what the issue asks for), wrong answers <= 3 %.
    tight = {"sets": {"real_voice": {"long": {"clarify_rate": 0.018, "wrong_rate": 0.01}}}}
    long_sizes = {"real_voice": {"long": 116}}
    assert check_floors({"real_voice": {"long": {"clarify_rate": 0.15, "wrong_rate": 0.03}}}, long_sizes, tight) == []
    too_many = {"real_voice": {"long": {"clarify_rate": 0.17, "wrong_rate": 0.05}}}
    assert len(check_floors(too_many, long_sizes, tight)) == 2
    up = raised({"real_voice": {"en": {"correct": 0.6, "clarify_rate": 0.3}}}, bounds)["sets"]["real_voice"]["en"]
    assert up == {"correct": 0.6, "clarify_rate": 0.2}
    down = raised(worse, bounds)["sets"]["real_voice"]["en"]
    assert down == {"correct": 0.5, "clarify_rate": 0.2}
    # A wrong-answer ceiling starts no tighter than the 3 % the issue accepts, and then only tightens.
    wrong = raised({"real_voice": {"zh": {"wrong_rate": 0.0}}}, {})["sets"]["real_voice"]["zh"]
    assert wrong == {"wrong_rate": 0.03}
    assert raised({"real_voice": {"zh": {"wrong_rate": 0.05}}}, {"sets": {"real_voice": {"zh": wrong}}})["sets"][
        "real_voice"
    ]["zh"] == {"wrong_rate": 0.03}


def test_another_set_is_never_held_to_nor_raises_the_floors() -> None:
    from bot.evaluation.run import main

    assert main("tests/eval/real_voice_dev.yml", check=True) == 2
    assert main("tests/eval/real_voice_dev.yml", raise_floors=True) == 2


def test_raising_the_floors_keeps_their_history(tmp_path: Path) -> None:
    from bot.evaluation.floors import write_floors

    path = tmp_path / "floors.yml"
    write_floors({"sets": {"real_voice": {"en": {"correct": 0.5}}}}, path)
    assert path.read_text(encoding="utf-8").startswith("# The ratchet")
    path.write_text("# why these bounds\n# 2 December: raised\nsets: {}\n", encoding="utf-8")
    write_floors({"sets": {"real_voice": {"en": {"correct": 0.6}}}}, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# why these bounds\n# 2 December: raised\nsets:")
    assert yaml.safe_load(text) == {"sets": {"real_voice": {"en": {"correct": 0.6}}}}


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
        # "none": the guide does not cover it (the question tests that the bot says so instead of guessing).
        assert item["expect"] == [NONE] or (item["expect"] and set(item["expect"]) <= sections), item["q"]
        assert str(item["source"]).startswith(("http://", "https://")) and isinstance(item["needs_person"], bool)
        assert normalize_question(item["q"]) not in train, item["q"]
        mine = grams(item["q"])
        if len(mine) >= 5:
            assert all(len(mine & other) < 0.8 * len(mine) for other in train_grams), item["q"]


def test_the_development_set_shares_no_source_with_the_held_out_set() -> None:
    """Tuning on a post's neighbour is tuning on the post: a source feeds one of the two sets, never both."""
    held_out = {str(q.source) for q in real_voice()}
    dev = {str(q["source"]) for q in yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))["questions"]}
    assert held_out and dev and not held_out & dev, sorted(held_out & dev)


def training_texts_raw() -> list[str]:
    texts = []
    for section in load_guide().sections.values():
        for lang in ("en", "zh"):
            texts += list(section.examples[lang])
    return texts
