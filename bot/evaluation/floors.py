"""The ratchet of `make eval`: tests/eval/floors.yml holds a floor for each figure where higher is better and a
ceiling where lower is better; a run is checked against them, and `--raise-floors` tightens them, never loosens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.core.settings import PROJECT_ROOT
from bot.evaluation.questions import LANGS

# Posts longer than LONG_CHARS characters are also reported (and bounded) as their own group.
LONG = "long"

FLOORS = PROJECT_ROOT / "tests" / "eval" / "floors.yml"

# The figures of each set that the floors file bounds, and whether a higher value is better (floor) or a lower one
# (ceiling). "incomplete" is reported but not bounded: an answer that covers one part of a post is better than a
# menu, so it may rise while clarify falls.
REAL_FIGURES = {
    "correct": True,
    "among_choices": True,
    "clarify_rate": False,
    "wrong_rate": False,
    "person_offered": True,
    "language_ok": True,
}
# A ceiling is never tighter than the level issue #13 accepts (wrong answers <= 3 %, "which one?" menus <= 15 %):
# turning menus into answers may cost a wrong answer or two, and a model that is less sure of a wrong section asks
# instead; neither must fail `make test` while the figure stays acceptable. Until 4 December the clarify rate had
# no allowance and its ceiling had tightened to 2.9 % (en), so a change that turned a wrong answer into a menu
# failed the ratchet although the issue asks for exactly that trade.
CEILING_ALLOWANCE = {"wrong_rate": 0.03, "clarify_rate": 0.15}
SYNTHETIC_FIGURES = {"accuracy": True, "strict": True, "wrong_rate": False, "language_ok": True}
NOT_COVERED_FIGURES = {"answered_anyway": False}
# Bounds are recorded to this many decimals.
PRECISION = 3


def figures(real: dict[str, Any], synthetic: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """The figures the floors file bounds, in its shape: set -> group -> figure -> value."""
    out: dict[str, dict[str, dict[str, float]]] = {"real_voice": {}, "synthetic": {}}
    for lang in (*LANGS, LONG):
        if lang in real:
            out["real_voice"][lang] = {
                k: real[lang][k] for k in REAL_FIGURES if not (k == "person_offered" and not real[lang]["person_n"])
            }
        if lang in synthetic and lang != LONG:
            out["synthetic"][lang] = {k: synthetic[lang][k] for k in SYNTHETIC_FIGURES}
    if "not_covered" in real:
        out["real_voice"]["not_covered"] = {k: real["not_covered"][k] for k in NOT_COVERED_FIGURES}
    return out


def higher_is_better(name: str) -> bool:
    return {**REAL_FIGURES, **SYNTHETIC_FIGURES, **NOT_COVERED_FIGURES}[name]


def load_floors(path: Path = FLOORS) -> dict[str, Any]:
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def check_floors(
    current: dict[str, dict[str, dict[str, float]]], sizes: dict[str, dict[str, int]], bounds: dict[str, Any]
) -> list[str]:
    """Every figure worse than its recorded bound by more than one question's worth of its group."""
    failures = []
    for set_name, groups in (bounds.get("sets") or {}).items():
        for group, limits in (groups or {}).items():
            for name, bound in (limits or {}).items():
                if not higher_is_better(name):
                    bound = max(bound, CEILING_ALLOWANCE.get(name, 0.0))
                value = current.get(set_name, {}).get(group, {}).get(name)
                if value is None:
                    failures.append(f"{set_name}/{group}/{name}: bounded at {bound:.3f} but not measured")
                    continue
                # person_offered is a share of the needs_person questions: one of those is its tolerance.
                size_key = f"{group}:person" if name == "person_offered" else group
                # One question's worth, plus the half-step a bound lost when it was recorded to PRECISION decimals
                # (2 of 116 is recorded as 0.017: without the half-step, matching that run again by one question
                # more would fail).
                slack = 1 / max(1, sizes.get(set_name, {}).get(size_key, 1)) + 0.5 * 10**-PRECISION
                if higher_is_better(name) and value < bound - slack - 1e-9:
                    failures.append(f"{set_name}/{group}/{name}: {value:.3f} below its floor {bound:.3f}")
                elif not higher_is_better(name) and value > bound + slack + 1e-9:
                    failures.append(f"{set_name}/{group}/{name}: {value:.3f} above its ceiling {bound:.3f}")
    return failures


def raised(current: dict[str, dict[str, dict[str, float]]], bounds: dict[str, Any]) -> dict[str, Any]:
    """The bounds moved to today's figures where today's are better; a bound is never loosened, a new figure
    gets today's value (a ceiling no tighter than its allowance, see CEILING_ALLOWANCE)."""
    sets = {
        name: {group: dict(limits or {}) for group, limits in (groups or {}).items()}
        for name, groups in (bounds.get("sets") or {}).items()
    }
    for set_name, groups in current.items():
        for group, values in groups.items():
            limits = sets.setdefault(set_name, {}).setdefault(group, {})
            for name, value in values.items():
                value = round(value, PRECISION)
                if not higher_is_better(name):
                    value = max(value, CEILING_ALLOWANCE.get(name, 0.0))
                old = limits.get(name)
                if old is None:
                    limits[name] = value
                elif higher_is_better(name):
                    limits[name] = max(old, value)
                else:
                    limits[name] = min(old, value)
    return {**bounds, "sets": sets}


def write_floors(bounds: dict[str, Any], path: Path = FLOORS) -> None:
    header = (
        "# The ratchet of `make eval` (bot/evaluation/run.py). `make test` runs `python -m bot eval --check-floors`\n"
        "# and fails when a figure is worse than its bound here by more than one question's worth of its group.\n"
        "# Floors for figures where higher is better (correct, among_choices, person_offered, language_ok,\n"
        "# accuracy, strict), ceilings where lower is better (clarify_rate, wrong_rate, answered_anyway); a\n"
        "# ceiling holds no tighter than the level issue #13 accepts (wrong_rate 3 %, clarify_rate 15 %).\n"
        "# `python -m bot eval --raise-floors`\n"
        "# tightens them to the current figures, never loosens. Never lower a bound by hand to let a change pass.\n"
    )
    if path.exists():
        # The comments above the bounds are their history (why each was raised, the one time some were loosened):
        # a rewrite keeps them, and whoever raises the floors adds a line of their own.
        header = "".join(_leading_comments(path.read_text(encoding="utf-8"))) or header
    body = yaml.safe_dump({k: v for k, v in bounds.items()}, allow_unicode=True, sort_keys=False)
    path.write_text(header + body, encoding="utf-8")


def _leading_comments(text: str) -> list[str]:
    """The comment lines a YAML file starts with, each with its newline."""
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line if line.endswith("\n") else line + "\n")
    return lines
