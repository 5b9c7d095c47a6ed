"""`make eval`: how well the assistant finds the right guide section for held-out real-style questions.

Each question goes, as a fresh conversation, through the trained model and the action server (Rasa REST), and
the machine-readable payload of the reply says what the user got. Printed per language (en, zh, mixed):
- accuracy: the right section answered directly, or offered among the choice buttons (one click away);
- strict: the right section answered directly;
- clarify rate, wrong-answer rate (a wrong section answered directly), no-answer rate;
- language: answers in the language of the question;
plus, for questions the guide does not cover, how often the bot still answered a section, and the intent
F1 of `rasa test nlu` on the same questions. A report goes to results/eval/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.evaluation.questions import Outcome, Question, load_questions
from bot.rasa_config import channel_headers
from bot.settings import PROJECT_ROOT, load_settings

RESULTS = PROJECT_ROOT / "results" / "eval"
LANGS = ("en", "zh", "mixed")


async def ask_all(questions: list[Question], rasa_url: str, concurrency: int = 4) -> list[Outcome]:
    semaphore = asyncio.Semaphore(concurrency)
    # Rasa's REST channel answers only with the gateway's token (bot/rasa_channel.py), derived from SECRET_KEY.
    async with aiohttp.ClientSession(headers=channel_headers(load_settings())) as session:

        async def ask(question: Question) -> Outcome:
            async with semaphore:
                body = {"sender": "eval-" + uuid.uuid4().hex, "message": question.text}
                async with session.post(f"{rasa_url}/webhooks/rest/webhook", json=body) as response:
                    response.raise_for_status()
                    return Outcome.from_rasa(await response.json())

        return list(await asyncio.gather(*(ask(q) for q in questions)))


def summarize(questions: list[Question], outcomes: list[Outcome]) -> dict[str, Any]:
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for question, outcome in zip(questions, outcomes, strict=True):
        if not question.covered:
            group = groups["not_covered"]
            group["n"] += 1
            group["answered_anyway"] += outcome.kind == "answer"
            group["clarified"] += outcome.kind == "clarify"
            continue
        group = groups[question.lang]
        expected = set(question.expect)
        group["n"] += 1
        right_answer = outcome.kind == "answer" and outcome.sections[0] in expected
        right_choice = outcome.kind == "clarify" and bool(expected & set(outcome.sections))
        group["strict"] += right_answer
        group["accuracy"] += right_answer or right_choice
        group["clarify"] += outcome.kind == "clarify"
        group["wrong_answer"] += outcome.kind == "answer" and not right_answer
        group["no_answer"] += outcome.kind == "none"
        if outcome.lang is not None:
            group["lang_checked"] += 1
            group["lang_ok"] += outcome.lang == question.answer_language
    summary: dict[str, Any] = {}
    for name, group in groups.items():
        n = group["n"] or 1
        if name == "not_covered":
            summary[name] = {
                "n": int(group["n"]),
                "answered_anyway": group["answered_anyway"] / n,
                "clarified": group["clarified"] / n,
            }
        else:
            summary[name] = {
                "n": int(group["n"]),
                "accuracy": group["accuracy"] / n,
                "strict": group["strict"] / n,
                "clarify_rate": group["clarify"] / n,
                "wrong_answer_rate": group["wrong_answer"] / n,
                "no_answer_rate": group["no_answer"] / n,
                "language_ok": group["lang_ok"] / (group["lang_checked"] or 1),
            }
    return summary


def nlu_file(questions: list[Question]) -> str:
    """The questions in Rasa NLU test format; the first expected section is the gold label."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for question in questions:
        intent = "out_of_scope" if not question.covered else f"faq/{question.expect[0]}"
        by_intent[intent].append(question.text)
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in sorted(by_intent.items()):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend("    - " + " ".join(t.replace("[", "(").replace("]", ")").split()) for t in texts)
    return "\n".join(lines) + "\n"


def rasa_test_nlu(questions: list[Question], model: Path) -> dict[str, float]:
    """Weighted F1 of `rasa test nlu` for intents (faq vs the rest) and for guide sections (retrieval)."""
    out = RESULTS / "rasa_test_nlu"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "eval_nlu.yml"
        data.write_text(nlu_file(questions), encoding="utf-8")
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(PROJECT_ROOT)}
        subprocess.run(
            [
                str(Path(sys.executable).with_name("rasa")),
                "test",
                "nlu",
                "--nlu",
                str(data),
                "--model",
                str(model),
                "--out",
                str(out),
                "--no-plot",
                "--no-errors",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    scores = {}
    for name, file in (("intent_f1", "intent_report.json"), ("section_f1", "response_selection_report.json")):
        path = out / file
        if path.exists():
            scores[name] = json.loads(path.read_text())["weighted avg"]["f1-score"]
    return scores


def render(summary: dict[str, Any], nlu: dict[str, float]) -> str:
    lines = [
        f"{'lang':<8}{'n':>5}{'accuracy':>10}{'strict':>9}{'clarify':>9}{'wrong':>8}{'no ans':>8}{'lang ok':>9}",
    ]
    for lang in LANGS:
        if lang in summary:
            s = summary[lang]
            lines.append(
                f"{lang:<8}{s['n']:>5}{s['accuracy']:>10.1%}{s['strict']:>9.1%}{s['clarify_rate']:>9.1%}"
                f"{s['wrong_answer_rate']:>8.1%}{s['no_answer_rate']:>8.1%}{s['language_ok']:>9.1%}"
            )
    if "not_covered" in summary:
        s = summary["not_covered"]
        lines.append(
            f"not covered by the guide: n={s['n']}, answered a section anyway {s['answered_anyway']:.1%}, "
            f"offered a choice {s['clarified']:.1%}"
        )
    if nlu:
        lines.append("rasa test nlu: " + ", ".join(f"{k} {v:.3f}" for k, v in nlu.items()))
    return "\n".join(lines)


def write_report(
    questions: list[Question], outcomes: list[Outcome], summary: dict[str, Any], nlu: dict[str, float]
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    misses = [
        {"q": q.text, "lang": q.lang, "expect": list(q.expect), "got": o.kind, "sections": list(o.sections)}
        for q, o in zip(questions, outcomes, strict=True)
        if (q.covered and not set(q.expect) & set(o.sections)) or (not q.covered and o.kind == "answer")
    ]
    (RESULTS / "report.json").write_text(json.dumps({"summary": summary, "rasa_test_nlu": nlu}, indent=2))
    (RESULTS / "misses.yml").write_text(yaml.safe_dump(misses, allow_unicode=True, sort_keys=False))
    report = RESULTS / "report.md"
    report.write_text(f"# Evaluation\n\n```\n{render(summary, nlu)}\n```\n\n{len(misses)} misses: see misses.yml\n")
    return report


def main(path: str, fail_below: float | None = None, with_nlu_test: bool = True) -> int:
    from bot.supervisor import private_stack
    from bot.training import MODEL

    questions = load_questions(PROJECT_ROOT / path)
    # The questions go to Rasa's REST channel of one server directly, so one is all the evaluation needs.
    one_rasa = {"RASA_PROCESSES": "1"}
    with tempfile.TemporaryDirectory(prefix="etown-eval-") as var_dir, private_stack(Path(var_dir), one_rasa) as stack:
        outcomes = asyncio.run(ask_all(questions, stack.settings.rasa_url))
    summary = summarize(questions, outcomes)
    nlu = rasa_test_nlu(questions, MODEL) if with_nlu_test else {}
    report = write_report(questions, outcomes, summary, nlu)
    print(render(summary, nlu))
    print(f"report: {report.relative_to(PROJECT_ROOT)}")
    if fail_below is not None:
        failing = [lang for lang in LANGS if lang in summary and summary[lang]["accuracy"] < fail_below]
        if failing:
            print(f"FAIL: section accuracy below {fail_below:.0%} for {', '.join(failing)}", file=sys.stderr)
            return 1
    return 0
