"""Finding the questions inside a long post."""

from __future__ import annotations

from bot.nlu.segment import question_parts


def test_a_short_question_is_one_part() -> None:
    assert question_parts("how do we renew a work permit for the same job") == [
        "how do we renew a work permit for the same job"
    ]


def test_numbered_and_connected_chinese_questions_are_split() -> None:
    post = (
        "您好，我们是HR，想问几个问题：一是工作许可什么时候能办延期；二是换公司要不要重办居留许可；"
        "另外上海的流程一样吗？"
    )
    parts = question_parts(post)
    assert any(p.startswith("工作许可什么时候能办延期") for p in parts)
    assert any("换公司要不要重办居留许可" in p for p in parts)
    assert parts[-1].startswith("另外上海的流程一样吗")


def test_english_questions_joined_by_commas_and_also_are_split() -> None:
    post = (
        "Hi, my contract ends in July. What does the school have to do with my permit, "
        "how long can I stay between jobs? Also, can the new school apply before the old permit is cancelled?"
    )
    parts = question_parts(post)
    assert "What does the school have to do with my permit" in parts
    assert "how long can I stay between jobs?" in parts
    assert parts[-1].startswith("Also") and "can the new school apply" in parts[-1]
    # A greeting is no question; "also" inside a sentence does not split it.
    assert "Hi" not in parts
    assert question_parts("the employer has also broken the contract, can they cancel my permit?")[0].startswith(
        "the employer has also broken the contract"
    )
