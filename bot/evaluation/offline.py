"""Fast answer-quality loop without Rasa: train the section ranker on the generated training data (seconds), run
the same answer policy the action runs (`bot.guide.answers.respond`), and print what users would get.

    python -m bot.evaluation.offline --set tests/eval/real_voice_dev.yml [--misses]

It leaves out Rasa's intent classifier (a guide question the classifier sends elsewhere is not modelled), so
confirm a change with `make train` and `make eval` before trusting it. The figures are `make eval`'s, from the
same grader (bot/evaluation/grading.py): the same reply is graded the same way in both.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bot.core.settings import PROJECT_ROOT
from bot.evaluation.grading import render_real, summarize_real, verdict
from bot.evaluation.questions import Outcome, load_questions
from bot.guide import answers
from bot.guide.loader import default_guide
from bot.nlu.guide_ranker import GuideSectionRanker, SectionModel, guide_term_index, rank_message, training_examples
from bot.nlu.guide_terms import GuideTermIndex
from bot.nlu.language import reply_language

USER_DICT = PROJECT_ROOT / "data" / "generated" / "jieba" / "userdict.txt"
CACHE_DIR = PROJECT_ROOT / "results" / "offline_ranker"
TRAINING_FILES = (PROJECT_ROOT / "data" / "generated" / "guide_nlu.yml", PROJECT_ROOT / "data" / "nlu.yml")


def _examples(path: Path) -> list[tuple[str, str | None, str | None]]:
    """(text, intent, response key) from a Rasa NLU file (plain YAML; no annotations in guide examples)."""
    triples = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
        name = block.get("intent")
        if not name:
            continue
        intent, key = (name.split("/", 1)[0], name) if "/" in name else (name, None)
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                triples.append((line[2:].strip(), intent, key))
    return triples


def _ranker_config() -> dict[str, Any]:
    """The ranker's options as `make train` uses them: its defaults, overridden by config.yml's entry."""
    pipeline = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8")).get("pipeline") or []
    name = f"{GuideSectionRanker.__module__}.{GuideSectionRanker.__name__}"
    entry: dict[str, Any] = next((step for step in pipeline if step.get("name") == name), {})
    return {**GuideSectionRanker.get_default_config(), **{k: v for k, v in entry.items() if k != "name"}}


def train_model() -> SectionModel:
    """The ranker as `make train` fits it; cached under results/ by training data, so policy changes rerun fast."""
    import hashlib
    import json

    import jieba
    import numpy as np

    jieba.load_userdict(str(USER_DICT))  # as the Rasa tokenizer does before the ranker runs
    triples = [t for path in TRAINING_FILES for t in _examples(path)]
    config = _ranker_config()
    texts, labels = training_examples(triples, config["retrieval_intent"], config["negative_intents"])
    key = hashlib.sha256(json.dumps([texts, labels, config["C"], USER_DICT.read_text()]).encode()).hexdigest()[:16]
    cache = CACHE_DIR / key
    if (cache / "meta.json").exists():
        with np.load(cache / "arrays.npz", allow_pickle=False) as arrays:
            return SectionModel.from_files(json.loads((cache / "meta.json").read_text()), dict(arrays))
    model = SectionModel.fit(texts, labels, float(config["C"]))
    meta, arrays = model.to_files()
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(cache / "arrays.npz", **arrays)
    (cache / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
    return model


def parse_data(
    model: SectionModel, text: str, index: GuideTermIndex | None = None, index_min_chars: int = 0
) -> dict[str, Any]:
    """What the ranker puts into Rasa's parse data for this text (the part the answer policy reads)."""
    result = rank_message(model, text, index=index, index_min_chars=index_min_chars)
    return {
        "text": text,
        "response_selector": {
            "faq": {
                "ranking": [{"intent_response_key": f"faq/{sid}", "confidence": conf} for sid, conf in result.ranking],
                "none_of_the_sections": result.none,
                "parts": [{"text": t, "ranking": [list(p) for p in part]} for t, part in result.parts],
            }
        },
    }


def evaluate(path: Path, show_misses: bool = False) -> dict[str, Any]:
    """Every question of the set through the ranker and the answer policy, graded as `make eval` grades them."""
    started = time.perf_counter()
    model = train_model()
    trained = time.perf_counter() - started
    guide = default_guide()
    config = _ranker_config()
    index = guide_term_index() if config["guide_terms"] else None
    min_chars = int(config["guide_terms_min_chars"])
    questions = load_questions(path)
    outcomes = []
    for question in questions:
        lang = reply_language(message=question.text)
        _, reply = answers.respond(guide, parse_data(model, question.text, index, min_chars), lang)
        outcome = Outcome.from_rasa(reply.messages())
        outcomes.append(outcome)
        what = verdict(question, outcome)
        if show_misses and what not in ("correct", "declined"):
            print(
                f"- [{what}] {question.text[:110]!r}\n    expect {list(question.expect)} got {list(outcome.answered)}"
                f" offered {list(outcome.offered)}{'' if outcome.person or not question.needs_person else ' NO PERSON'}"
            )
    summary = summarize_real(questions, outcomes)
    print(f"trained in {trained:.1f} s; {len(questions)} questions from {path}")
    print(render_real(summary, str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="tests/eval/real_voice_dev.yml")
    parser.add_argument("--misses", action="store_true", help="print every question not answered directly")
    args = parser.parse_args(argv)
    evaluate(PROJECT_ROOT / args.set, args.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
