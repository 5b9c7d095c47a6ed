"""The guide-text index and its fusion with the classifier: a section whose own text shares the post's key terms
gains, one that shares none loses, and the result stays a probability distribution."""

from __future__ import annotations

import numpy as np

from bot.guide.loader import default_guide
from bot.nlu.guide_terms import GuideTermIndex, fuse, terms

INDEX = GuideTermIndex(
    ["cancellation", "fees", "employer_dispute"],
    [
        "Cancel the work permit. The employer applies for cancellation within 10 working days. 注销工作许可",
        "The work permit application is free of charge; no fee. 工作许可不收费",
        "A dispute with your employer; unpaid wages. 与用人单位发生纠纷",
    ],
)


def test_terms_drop_question_words_and_meet_plural_forms() -> None:
    assert terms("How do I cancel my permits?") == ["cancel", "permit"]
    assert "吗" not in terms("工作许可收费吗")


def test_the_section_naming_the_posts_subject_scores_highest() -> None:
    scores = INDEX.scores("is there any fee for the application?")
    assert max(scores, key=scores.get) == "fees"
    assert INDEX.scores("the weather tomorrow") == {}


def test_fusion_moves_a_near_tie_towards_the_section_the_text_supports() -> None:
    classes = ["__none__", "cancellation", "fees", "employer_dispute"]
    probabilities = np.array([0.05, 0.40, 0.05, 0.50])
    fused = fuse(classes, probabilities, INDEX.scores("the company went bankrupt, who applies for cancellation?"))
    assert abs(fused.sum() - 1.0) < 1e-9
    assert fused[1] > fused[3]
    # Whether the question is about the guide at all stays the classifier's call.
    assert fused[0] == probabilities[0]
    # Without any guide term in the post, the classifier's order of the sections stands.
    unchanged = fuse(classes, probabilities, {})
    assert list(np.argsort(-unchanged[1:])) == list(np.argsort(-probabilities[1:]))
    assert unchanged[0] == probabilities[0]


def test_the_real_guide_builds_an_index_over_every_section() -> None:
    guide = default_guide()
    index = GuideTermIndex.from_sections(guide.sections.values())
    assert set(index.section_ids) == set(guide.sections)
    scores = index.scores("我的工作许可证丢了，怎么补办")
    assert max(scores, key=scores.get) in {"replacement", "replacement_mistakes"}
