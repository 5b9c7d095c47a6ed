"""How a reply is graded against a real-voice question: one verdict and one table, shared by `make eval` (through
Rasa and the action server) and the offline development loop (`python -m bot.evaluation.offline`), so that a figure
means the same thing in both."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bot.evaluation.floors import LONG
from bot.evaluation.questions import LANGS, Outcome, Question

REAL_VOICE = "tests/eval/real_voice.yml"
# Posts longer than this many characters are also reported (and bounded) as their own group.
LONG_CHARS = 150


def verdict(question: Question, outcome: Outcome) -> str:
    """One word for what happened: correct | incomplete | wrong | clarify_right | clarify_wrong | no_answer
    (covered questions), declined | answered_anyway | clarified (questions the guide does not cover)."""
    expected = set(question.expect)
    if not question.covered:
        return {"answer": "answered_anyway", "clarify": "clarified"}.get(outcome.kind, "declined")
    if outcome.kind == "answer":
        if outcome.primary not in expected:
            return "wrong"
        missing = question.missing_facts(outcome.text) or question.missing_parts(outcome.answered)
        return "incomplete" if missing else "correct"
    if outcome.kind == "clarify":
        return "clarify_right" if expected & set(outcome.sections) else "clarify_wrong"
    return "no_answer"


def summarize_real(questions: list[Question], outcomes: list[Outcome]) -> dict[str, Any]:
    """Figures of the real-voice set per language, plus the questions the guide does not cover."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for question, outcome in zip(questions, outcomes, strict=True):
        # Each question counts in its language, and long posts (the hard case of issue #13) once more in "long".
        groups = [counts[question.lang]] + ([counts[LONG]] if len(question.text) > LONG_CHARS else [])
        what = verdict(question, outcome)
        for group in groups:
            if question.needs_person:
                group["person_n"] += 1
                group["person"] += outcome.person
            elif question.covered:
                # The other side of "person offered": a figure that offering staff everywhere would inflate.
                group["unneeded_n"] += 1
                group["unneeded"] += outcome.person
            if outcome.lang is not None:
                group["lang_checked"] += 1
                group["lang_ok"] += outcome.lang == question.answer_language
            if question.covered:
                group["n"] += 1
                group[what] += 1
                group["among"] += bool(set(question.expect) & set(outcome.sections))
        if not question.covered:
            nc = counts["not_covered"]
            nc["n"] += 1
            nc[what] += 1
    summary: dict[str, Any] = {}
    for lang in (*LANGS, LONG):
        if lang not in counts:
            continue
        c = counts[lang]
        n = c["n"] or 1
        summary[lang] = {
            "n": int(c["n"]),
            "correct": c["correct"] / n,
            "incomplete": c["incomplete"] / n,
            "among_choices": c["among"] / n,
            "clarify_rate": (c["clarify_right"] + c["clarify_wrong"]) / n,
            "wrong_rate": c["wrong"] / n,
            "no_answer_rate": c["no_answer"] / n,
            "person_n": int(c["person_n"]),
            "person_offered": c["person"] / (c["person_n"] or 1),
            "person_unneeded": c["unneeded"] / (c["unneeded_n"] or 1),
            "language_ok": c["lang_ok"] / (c["lang_checked"] or 1),
        }
    if "not_covered" in counts:
        c = counts["not_covered"]
        n = c["n"] or 1
        summary["not_covered"] = {
            "n": int(c["n"]),
            "answered_anyway": c["answered_anyway"] / n,
            "clarified": c["clarified"] / n,
            "declined": c["declined"] / n,
        }
    return summary


def render_real(summary: dict[str, Any], path: str = REAL_VOICE) -> str:
    lines = [
        f"REAL-VOICE SET ({path}): questions modelled on public posts and FAQs",
        f"{'lang':<7}{'n':>4}{'correct':>9}{'incomplete':>11}{'in choices':>11}{'clarify':>9}{'wrong':>7}"
        f"{'no ans':>8}{'person':>13}{'unneeded':>10}{'lang ok':>9}",
    ]
    for lang in (*LANGS, LONG):
        if lang in summary:
            s = summary[lang]
            person = f"{s['person_offered']:.1%} /{s['person_n']}" if s["person_n"] else "-"
            lines.append(
                f"{lang:<7}{s['n']:>4}{s['correct']:>9.1%}{s['incomplete']:>11.1%}{s['among_choices']:>11.1%}"
                f"{s['clarify_rate']:>9.1%}{s['wrong_rate']:>7.1%}{s['no_answer_rate']:>8.1%}{person:>13}"
                f"{s['person_unneeded']:>10.1%}{s['language_ok']:>9.1%}"
            )
    if "not_covered" in summary:
        s = summary["not_covered"]
        lines.append(
            f"not covered by the guide: n={s['n']}, answered a section anyway {s['answered_anyway']:.1%}, "
            f"offered a choice {s['clarified']:.1%}, declined {s['declined']:.1%}"
        )
    lines.append(
        "correct = right section answered directly with its key facts (and every part of a multi-part post); "
        "incomplete = right section, a key fact or a part missing; "
        "person = a person offered where one is needed (/n such questions, covered or not); "
        "unneeded = a person offered on a covered question that does not need one; "
        f"long = posts over {LONG_CHARS} characters, all languages"
    )
    return "\n".join(lines)
