"""`make eval`: how well the assistant answers questions it has never seen.

Two sets, each question a fresh conversation through the trained model and the action server (Rasa REST); the
machine-readable payload of the reply says what the user got.

1. The real-voice set (tests/eval/real_voice.yml), printed first: questions modelled on public posts and FAQ
   entries, in the askers' own words. Per language (en, zh, mixed), over the questions the guide covers:
   - correct: a direct answer whose first section is an accepted one AND whose reply text contains every
     `facts` entry of the question (a right section that buries or lacks the key fact is not a correct answer);
   - incomplete: the right section answered directly, but a required fact is not in the reply, or a part of a
     multi-part post (`parts`) is left unanswered (its own
     column, so that "right section" and "right answer" can be told apart; counted neither correct nor wrong);
   - among choices: an accepted section answered or behind a button (choice or "Related"), one click away;
   - clarify: the bot asked "which of these?" instead of answering;
   - wrong: the first section answered directly is not an accepted one;
   - no answer: "not covered" or "please rephrase";
   - person: for questions where a person is the right outcome (needs_person, covered or not), a handoff
     button or the handoff itself was in the reply;
   - language: the reply is in the language of the question (mixed questions: their dominant language).
   For questions the guide does not cover: how often the bot answered a section anyway.
2. The synthetic set (tests/eval/questions.yml), a regression check on short, clean questions: section accuracy
   (answered or among the choices), strict, clarify, wrong, language, and the intent F1 of `rasa test nlu`.

Reports go to results/eval/: report.md (figures), report.json, and real_voice.yml with every real-voice
question's outcome and reply text, so a person can read the transcripts.

The ratchet: tests/eval/floors.yml holds a floor for each figure where higher is better and a ceiling where lower
is better. `--check-floors` fails when a figure is worse than its bound by more than one question's worth (the
tolerance absorbs run-to-run noise of training; it never widens with repeated runs); `--raise-floors` moves
every bound to today's figure where today's is better, and never loosens one.
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

from bot.core.settings import PROJECT_ROOT, load_settings
from bot.evaluation import diff as eval_diff
from bot.evaluation.floors import (
    FLOORS,
    LONG,
    check_floors,
    figures,
    load_floors,
    raised,
    write_floors,
)
from bot.evaluation.grading import REAL_VOICE, render_real, summarize_real, verdict
from bot.evaluation.questions import LANGS, Outcome, Question, load_questions
from bot.rasa.endpoints import channel_headers

RESULTS = PROJECT_ROOT / "results" / "eval"
SYNTHETIC = "tests/eval/questions.yml"


async def ask_all(questions: list[Question], rasa_url: str, concurrency: int = 4) -> list[Outcome]:
    semaphore = asyncio.Semaphore(concurrency)
    # Rasa's REST channel answers only with the gateway's token (bot/rasa/channel.py), derived from SECRET_KEY.
    async with aiohttp.ClientSession(headers=channel_headers(load_settings())) as session:

        async def ask(question: Question) -> Outcome:
            async with semaphore:
                body = {"sender": "eval-" + uuid.uuid4().hex, "message": question.text}
                async with session.post(f"{rasa_url}/webhooks/rest/webhook", json=body) as response:
                    response.raise_for_status()
                    return Outcome.from_rasa(await response.json())

        return list(await asyncio.gather(*(ask(q) for q in questions)))


def summarize_synthetic(questions: list[Question], outcomes: list[Outcome]) -> dict[str, Any]:
    """The old figures of the synthetic set: the right section answered or offered (accuracy), answered (strict)."""
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
        right_answer = outcome.kind == "answer" and outcome.primary in expected
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
                "wrong_rate": group["wrong_answer"] / n,
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


def render_synthetic(summary: dict[str, Any], nlu: dict[str, float]) -> str:
    lines = [
        "SYNTHETIC SET (tests/eval/questions.yml), regression check: short questions in the training voice",
        f"{'lang':<8}{'n':>5}{'accuracy':>10}{'strict':>9}{'clarify':>9}{'wrong':>8}{'no ans':>8}{'lang ok':>9}",
    ]
    for lang in LANGS:
        if lang in summary:
            s = summary[lang]
            lines.append(
                f"{lang:<8}{s['n']:>5}{s['accuracy']:>10.1%}{s['strict']:>9.1%}{s['clarify_rate']:>9.1%}"
                f"{s['wrong_rate']:>8.1%}{s['no_answer_rate']:>8.1%}{s['language_ok']:>9.1%}"
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


def transcripts(questions: list[Question], outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Every real-voice question with what the bot did, for a person to read."""
    rows = []
    for question, outcome in zip(questions, outcomes, strict=True):
        rows.append(
            {
                "q": question.text,
                "lang": question.lang,
                "source": question.source,
                "expect": list(question.expect),
                "needs_person": question.needs_person,
                "facts": ["|".join(f) for f in question.facts],
                "verdict": verdict(question, outcome),
                "got": outcome.kind,
                "answered": list(outcome.answered),
                "offered": list(outcome.offered),
                "missing_facts": question.missing_facts(outcome.text) if outcome.kind == "answer" else [],
                "missing_parts": question.missing_parts(outcome.answered) if outcome.kind == "answer" else [],
                "person_offered": outcome.person,
                "reply_lang": outcome.lang,
                "reply": outcome.text,
            }
        )
    return rows


def write_report(
    real: dict[str, Any],
    synthetic: dict[str, Any],
    nlu: dict[str, float],
    rows: list[dict[str, Any]],
    synthetic_misses: list[dict[str, Any]],
    results: Path = RESULTS,
    real_path: str = REAL_VOICE,
) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    (results / "report.json").write_text(
        json.dumps({"real_voice": real, "synthetic": synthetic, "rasa_test_nlu": nlu}, indent=2)
    )
    (results / "real_voice.yml").write_text(yaml.safe_dump(rows, allow_unicode=True, sort_keys=False, width=120))
    (results / "misses.yml").write_text(yaml.safe_dump(synthetic_misses, allow_unicode=True, sort_keys=False))
    report = results / "report.md"
    report.write_text(
        "# Evaluation\n\n```\n"
        f"{render_real(real, real_path)}\n\n{render_synthetic(synthetic, nlu)}\n"
        "```\n\nReal-voice transcripts (question, expected, got, reply): real_voice.yml. "
        f"Synthetic misses: misses.yml ({len(synthetic_misses)}).\n"
    )
    return report


def main(
    real_path: str = REAL_VOICE,
    synthetic_path: str = SYNTHETIC,
    check: bool = False,
    raise_floors: bool = False,
    with_nlu_test: bool = True,
) -> int:
    from bot.processes.stack import private_stack
    from bot.rasa.training import MODEL

    # The floors are recorded for the held-out sets: another set (the development set, say) is measured and
    # reported in a folder of its own, and never checked against them nor raises them.
    default = (real_path, synthetic_path) == (REAL_VOICE, SYNTHETIC)
    if (check or raise_floors) and not default:
        print(f"the floors hold for {REAL_VOICE} and {SYNTHETIC} only; run without --check-floors/--raise-floors")
        return 2
    results = RESULTS if default else RESULTS / Path(real_path).stem
    real_questions = load_questions(PROJECT_ROOT / real_path)
    synthetic_questions = load_questions(PROJECT_ROOT / synthetic_path)
    # The questions go to Rasa's REST channel of one server directly, so one is all the evaluation needs.
    one_rasa = {"RASA_PROCESSES": "1"}
    with tempfile.TemporaryDirectory(prefix="etown-eval-") as var_dir, private_stack(Path(var_dir), one_rasa) as stack:
        real_outcomes = asyncio.run(ask_all(real_questions, stack.settings.rasa_url))
        synthetic_outcomes = asyncio.run(ask_all(synthetic_questions, stack.settings.rasa_url))
    real = summarize_real(real_questions, real_outcomes)
    synthetic = summarize_synthetic(synthetic_questions, synthetic_outcomes)
    nlu = rasa_test_nlu(synthetic_questions, MODEL) if with_nlu_test else {}
    misses = [
        {"q": q.text, "lang": q.lang, "expect": list(q.expect), "got": o.kind, "sections": list(o.sections)}
        for q, o in zip(synthetic_questions, synthetic_outcomes, strict=True)
        if (q.covered and not set(q.expect) & set(o.sections)) or (not q.covered and o.kind == "answer")
    ]
    rows = transcripts(real_questions, real_outcomes)
    report = write_report(real, synthetic, nlu, rows, misses, results, real_path)
    print(render_real(real, real_path))
    print()
    print(render_synthetic(synthetic, nlu))
    verdicts = {
        name: {eval_diff.key(q.lang, q.text): verdict(q, o) for q, o in zip(qs, os_, strict=True)}
        for name, qs, os_ in (
            ("real_voice", real_questions, real_outcomes),
            ("synthetic", synthetic_questions, synthetic_outcomes),
        )
    }
    change = eval_diff.compare_and_save(results / "verdicts.json", verdicts)
    print(change.render() if change else "no earlier run to compare with (verdicts saved for the next one)")
    shown = (results / "real_voice.yml").relative_to(PROJECT_ROOT)
    print(f"report: {report.relative_to(PROJECT_ROOT)} (transcripts: {shown})")
    current = figures(real, synthetic)
    sizes = {
        "real_voice": {
            **{lang: real[lang]["n"] for lang in (*LANGS, LONG) if lang in real},
            **({"not_covered": real["not_covered"]["n"]} if "not_covered" in real else {}),
        },
        "synthetic": {lang: synthetic[lang]["n"] for lang in LANGS if lang in synthetic},
    }
    for lang in (*LANGS, LONG):
        if lang in real and real[lang]["person_n"]:
            sizes["real_voice"][f"{lang}:person"] = real[lang]["person_n"]
    if raise_floors:
        bounds = raised(current, load_floors())
        write_floors(bounds)
        print(f"floors: {FLOORS.relative_to(PROJECT_ROOT)} raised to today's figures where better")
    if check:
        bounds = load_floors()
        failures = check_floors(current, sizes, bounds) if bounds else [f"no floors recorded in {FLOORS}"]
        if failures:
            print("FAIL: worse than the recorded floors (tests/eval/floors.yml):", file=sys.stderr)
            for failure in failures:
                print("  " + failure, file=sys.stderr)
            return 1
        print("floors: every figure at or above its floor (tests/eval/floors.yml)")
    return 0
