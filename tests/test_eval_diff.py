"""`make eval` compares each question's verdict with the last run: better, worse, same."""

from __future__ import annotations

from pathlib import Path


def test_eval_prints_the_difference_with_the_last_run_question_by_question(tmp_path: Path) -> None:
    from bot.evaluation import diff

    path = tmp_path / "verdicts.json"
    first = {"real_voice": {"en | fee?": "correct", "zh | 费用？": "clarify_right", "en | gone": "wrong"}}
    assert diff.compare_and_save(path, first) is None  # nothing to compare with on the first run
    second = {
        "real_voice": {"en | fee?": "wrong", "zh | 费用？": "correct", "en | new": "correct"},
        "synthetic": {"en | hello": "declined"},
    }
    change = diff.compare_and_save(path, second)
    assert change is not None
    assert [(c.question, c.before, c.after) for c in change.worse] == [("en | fee?", "correct", "wrong")]
    assert [(c.question, c.before, c.after) for c in change.better] == [("zh | 费用？", "clarify_right", "correct")]
    assert (change.same, change.new, change.gone) == (0, 2, 1)
    text = change.render()
    assert text.splitlines()[0] == "against the last run: better 1, worse 1, same 0, new 2, no longer asked 1"
    assert "worse  [real_voice] en | fee?: correct → wrong" in text
    assert diff.compare(second, second).same == 4
