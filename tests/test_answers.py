"""From a ranking of sections to what the user sees, with the payload DESIGN.md specifies."""

from __future__ import annotations

import pytest

from bot.guide import answers
from bot.guide.loader import load_guide


@pytest.fixture(scope="module")
def guide():  # type: ignore[no-untyped-def]
    return load_guide()


@pytest.mark.parametrize(
    ("ranking", "decision"),
    [
        ([("extension", 0.82), ("extension_mistakes", 0.1)], answers.Decision("answer", ("extension",))),
        # The first choice is answered; the runner-up becomes a "Related" button rather than a menu.
        (
            [("extension", 0.40), ("extension_mistakes", 0.30), ("fees", 0.02)],
            answers.Decision("answer", ("extension",), ("extension_mistakes",)),
        ),
        (
            [("extension", 0.2), ("fees", 0.04), ("z_visa", 0.03)],
            answers.Decision("answer", ("extension",), ("fees", "z_visa")),
        ),
        # A near tie between plausible sections asks which one.
        (
            [("cancellation", 0.40), ("cancellation_mistakes", 0.36), ("fees", 0.02)],
            answers.Decision("clarify", ("cancellation", "cancellation_mistakes")),
        ),
        ([("extension", 0.06), ("fees", 0.05)], answers.Decision("not_covered")),
        ([], answers.Decision("not_covered")),
    ],
)
def test_decide(ranking, decision) -> None:  # type: ignore[no-untyped-def]
    assert answers.decide(ranking) == decision


def test_each_clear_question_of_a_long_post_adds_its_section() -> None:
    whole = [("cancellation", 0.5), ("job_ends_stay", 0.2), ("fees", 0.01)]
    parts = [
        [("cancellation", 0.7), ("fees", 0.1)],
        [("job_ends_stay", 0.6), ("overstay", 0.2)],  # clear: added
        [("change_employer", 0.35), ("permit_scope", 0.3)],  # unsure: not added
        [("z_visa", 0.9), ("fees", 0.01)],
        [("fees", 0.9), ("z_visa", 0.01)],  # a fourth section would exceed MAX_SECTIONS
    ]
    decision = answers.decide(whole, parts=parts)
    assert decision.kind == "answer" and decision.sections == ("cancellation", "job_ends_stay", "z_visa")
    # A post whose whole ranking is a tie is still answered part by part.
    tied = [("cancellation", 0.3), ("change_employer", 0.29)]
    assert answers.decide(tied, parts=parts[:2]).sections == ("cancellation", "job_ends_stay")


def test_when_none_of_the_sections_wins_the_guide_does_not_cover_it_and_the_closest_are_offered(guide) -> None:
    """The ranker's "none of the sections" score near the top section's means not covered, however sure the top
    section would otherwise be; the nearest sections (at most two) come as buttons after the person."""
    from bot.texts import t

    ranking = [("who_is_exempt", 0.30), ("family_visas", 0.12), ("fees", 0.11), ("z_visa", 0.001)]
    assert answers.decide(ranking).kind == "answer"
    decision = answers.decide(ranking, none_of_the_sections=0.45)
    assert decision == answers.Decision("not_covered", ("who_is_exempt", "family_visas"))
    parse = {
        "text": "how do we register our marriage at the civil affairs office here",
        "response_selector": {
            "faq": {
                "ranking": [{"intent_response_key": f"faq/{sid}", "confidence": conf} for sid, conf in ranking],
                "none_of_the_sections": 0.45,
            }
        },
    }
    _, reply = answers.respond(guide, parse, "en")
    assert reply.custom["type"] == "clarify" and reply.custom["reason"] == "not_covered"
    payloads = [b["payload"] for b in reply.buttons]
    assert payloads[0] == "/human_handoff"
    assert payloads[1:] == ['/faq{"section": "who_is_exempt"}', '/faq{"section": "family_visas"}']
    assert reply.text == t("guide.not_covered_closest", "en")
    # Nothing near enough to offer: the plain "not covered".
    assert answers.not_covered("en").text == t("guide.not_covered", "en")
    # It need not beat the leader: more than NONE_SHARE of the leader's confidence is enough; less changes nothing.
    bar = answers.NONE_SHARE * 0.30
    assert answers.decide(ranking, none_of_the_sections=bar + 0.01).kind == "not_covered"
    assert answers.decide(ranking, none_of_the_sections=bar - 0.01) == answers.decide(ranking)
    # Compared with the leading section the guide still has (a reloaded guide may have dropped the ranker's first).
    stale = [("retired_section", 0.9), *ranking]
    assert answers.decide(stale, set(guide.sections), none_of_the_sections=0.45).kind == "not_covered"
    # Even a long post with one question clearly about a section (measured: see decide).
    part = [[("family_visas", 0.7), ("fees", 0.1)]]
    assert answers.decide(ranking, none_of_the_sections=0.45, parts=part).kind == "not_covered"


def test_a_parse_without_a_section_ranking_is_never_sure() -> None:
    """Context may read such a message as a follow-up; before, an empty ranking raised IndexError here."""
    assert answers.is_sure({"text": "ok", "response_selector": {"faq": {"ranking": []}}}) is False
    assert answers.is_sure({"text": "ok"}) is False


def test_decide_ignores_sections_the_guide_no_longer_has() -> None:
    assert answers.decide([("retired_section", 0.9), ("fees", 0.5)], known={"fees"}).sections == ("fees",)


def test_answer_payload_has_the_contract_fields(guide) -> None:
    reply = answers.answer(guide, guide.sections["extension"], "zh")
    custom = reply.custom
    assert custom["type"] == "guide_answer"
    assert {"section", "topic", "lang", "title", "source_url", "reviewed"} <= set(custom)
    assert custom["section"] == "extension" and custom["topic"] == "extension" and custom["lang"] == "zh"
    assert custom["title"] == "工作许可延期" and custom["reviewed"] == "2026-11-28"
    assert custom["source_url"].startswith("http")
    assert "出处" in reply.text and "\n\n" not in reply.text


def test_caution_and_staff_offer_are_part_of_the_answer(guide) -> None:
    cautious = next(s for s in guide.sections.values() if s.caution is not None)
    assert "⚠" in answers.answer(guide, cautious, "en").text
    for needs_staff in (s for s in guide.sections.values() if s.handoff):
        reply = answers.answer(guide, needs_staff, "en")
        # A person is offered first, in and out of office hours alike (the handoff action takes a message then).
        assert reply.buttons[0] == {"title": "Talk to a person", "payload": "/human_handoff"}
        assert reply.custom["needs_staff"] and reply.custom["note"] in reply.text


def test_sections_that_need_a_person_are_flagged(guide) -> None:
    flagged = {s.id for s in guide.sections.values() if s.handoff}
    assert {"employer_dispute", "refusal", "overstay", "illegal_employment", "unusual_documents"} <= flagged


def test_the_reply_opens_with_the_key_fact_then_the_details(guide) -> None:
    import dataclasses

    # Every section has a written key fact now; the fallback is what a newly added section gets without one.
    section = dataclasses.replace(guide.sections["extension"], key_fact=None)
    lead, details = section.lead_and_details("en")
    # Without a written key fact the first paragraph serves; the rest are the details.
    assert section.answer.en.startswith(lead) and details and lead not in details
    reply = answers.answer(guide, section, "en")
    assert reply.text.index(lead) < reply.text.index(details.split("\n")[0])
    (block,) = reply.custom["blocks"]
    assert block["key_fact"] == lead and block["title"] == section.title.en and block["source_url"]
    listed = dataclasses.replace(guide.sections["after_entry_mistakes"], key_fact=None).lead_and_details("zh")
    assert listed[0] == "申领工作许可证这一步，常见问题有：" and listed[1].startswith("- ")


def test_a_written_key_fact_opens_the_reply_before_the_whole_answer(guide) -> None:
    import dataclasses

    assert all(s.key_fact is not None for s in guide.sections.values())

    from bot.guide.models import Localized

    section = dataclasses.replace(guide.sections["fees"], key_fact=Localized(en="It is free.", zh="不收费。"))
    assert section.lead_and_details("zh") == ("不收费。", section.answer.zh)
    text = answers.answer(guide, section, "en").text
    assert text.index("It is free.") < text.index(section.answer.en.split("\n")[0])


def test_a_long_post_gets_up_to_three_sections_each_with_its_source(guide) -> None:
    sections = [guide.sections[s] for s in ("cancellation", "job_ends_stay", "change_employer")]
    reply = answers.answer(guide, sections[0], "en", tuple(sections[1:]), (guide.sections["fees"],))
    assert reply.custom["section"] == "cancellation"
    assert reply.custom["sections"] == ["cancellation", "job_ends_stay", "change_employer"]
    for section in sections:
        assert f"**{section.title.en}**" in reply.text and f"Source: {section.title.en}" in reply.text
    assert reply.buttons[-1] == answers.section_button(guide.sections["fees"], "en") == reply.custom["related"][0]


def test_a_message_describing_a_dispute_or_overstay_offers_a_person_first(guide) -> None:
    parse = {
        "text": "my employer is holding my passport and won't give it back",
        "response_selector": {"faq": {"ranking": [{"intent_response_key": "faq/cancellation", "confidence": 0.8}]}},
    }
    decision, reply = answers.respond(guide, parse, "en")
    assert decision.sections == ("cancellation",) and reply.buttons[0]["payload"] == "/human_handoff"
    calm = {**parse, "text": "how do we cancel a work permit"}
    assert all(b["payload"] != "/human_handoff" for b in answers.respond(guide, calm, "en")[1].buttons)
    assert answers.respond(guide, {**parse, "text": "签证过期了三天怎么办"}, "zh")[1].buttons[0]["payload"] == (
        "/human_handoff"
    )


def test_clarify_offers_buttons_that_name_their_section(guide) -> None:
    reply = answers.clarify(guide, ("cancellation", "cancellation_mistakes"), "en")
    payloads = [b["payload"] for b in reply.buttons]
    assert payloads[:2] == ['/faq{"section": "cancellation"}', '/faq{"section": "cancellation_mistakes"}']
    assert reply.custom["type"] == "clarify" and reply.custom["options"] == reply.buttons
    # Every menu offers a person; first when one of the candidates usually needs one.
    assert payloads[-1] == "/human_handoff"
    assert answers.clarify(guide, ("cancellation", "employer_dispute"), "en").buttons[0]["payload"] == "/human_handoff"


def test_an_answer_about_a_procedure_offers_its_checklist(guide) -> None:
    reply = answers.answer(guide, guide.sections["extension_mistakes"], "zh")
    assert reply.buttons[0] == {"title": "生成我的材料清单", "payload": '/request_checklist{"procedure": "extension"}'}
    general = answers.answer(guide, guide.sections["fees"], "en")
    assert not any(b["payload"].startswith("/request_checklist") for b in general.buttons)


def test_a_long_post_offers_a_person_after_the_answer(guide) -> None:
    story = (
        "I started at a school in Yizhuang in March, my permit runs to next March, and the school now wants me to "
        "move to their other campus in another district next term. Do we have to cancel anything or file a change?"
    )
    assert len(story) > 150

    def reply_to(text: str, top: float, second: float) -> answers.Reply:
        ranking = [
            {"intent_response_key": "faq/change_info", "confidence": top},
            {"intent_response_key": "faq/fees", "confidence": second},
        ]
        return answers.respond(guide, {"text": text, "response_selector": {"faq": {"ranking": ranking}}}, "en")[1]

    unsure = reply_to(story, 0.30, 0.20)
    assert unsure.custom["section"] == "change_info" and unsure.buttons[-1]["payload"] == "/human_handoff"
    # Not first, and without the staff-hours note: nothing in the post calls for a person first.
    assert unsure.buttons[0]["payload"] != "/human_handoff" and not unsure.custom["needs_staff"]
    # However sure the ranking is of the section (it knows the rule, not whether the rule settles this case).
    sure = reply_to(story, 0.80, 0.05)
    assert sure.custom["section"] == "change_info" and sure.buttons[-1]["payload"] == "/human_handoff"
    assert not sure.custom["needs_staff"]
    # A short question gets the answer alone.
    assert all(
        b["payload"] != "/human_handoff" for b in reply_to("do we file a change for a new campus", 0.30, 0.20).buttons
    )


def test_a_near_tie_within_one_procedure_answers_instead_of_asking() -> None:
    tie = [("cancellation", 0.40), ("cancellation_mistakes", 0.36), ("fees", 0.02)]
    procedures = {"cancellation": "cancellation", "cancellation_mistakes": "cancellation", "extension": "extension"}
    assert answers.decide(tie, procedures=procedures) == answers.Decision(
        "answer", ("cancellation",), ("cancellation_mistakes",)
    )
    # Two procedures (two readings of the question) still ask which one.
    other = [("cancellation", 0.40), ("extension", 0.36)]
    assert answers.decide(other, procedures=procedures).kind == "clarify"


def test_the_offline_loop_grades_the_reply_the_action_sends(guide) -> None:
    """`python -m bot.evaluation.offline` grades Reply.messages(), which is what actions/common.send dispatches: an
    answer with a person offered, a menu, and "not covered" read back as `make eval` reads them from Rasa."""
    from bot.evaluation.grading import verdict
    from bot.evaluation.questions import Outcome, Question

    def parse(text: str, ranking: list[tuple[str, float]]) -> dict:  # type: ignore[type-arg]
        items = [{"intent_response_key": f"faq/{sid}", "confidence": conf} for sid, conf in ranking]
        return {"text": text, "response_selector": {"faq": {"ranking": items}}}

    dispute = "my employer is holding my passport and won't give it back"
    decision, reply = answers.respond(guide, parse(dispute, [("cancellation", 0.8), ("fees", 0.1)]), "en")
    outcome = Outcome.from_rasa(reply.messages())
    assert outcome.kind == "answer" and outcome.answered == decision.sections == ("cancellation",)
    assert outcome.person and outcome.lang == "en"
    assert verdict(Question(dispute, "en", ("cancellation",)), outcome) == "correct"
    assert verdict(Question(dispute, "en", ("employer_dispute",)), outcome) == "wrong"
    tie = parse("cancel?", [("cancellation", 0.40), ("change_employer", 0.36)])
    menu = Outcome.from_rasa(answers.respond(guide, tie, "en")[1].messages())
    assert menu.kind == "clarify" and menu.offered[:2] == ("cancellation", "change_employer") and menu.person
    nothing = Outcome.from_rasa(answers.respond(guide, parse("weather?", [("fees", 0.01)]), "en")[1].messages())
    assert nothing.kind == "none" and verdict(Question("weather?", "en", ("none",)), nothing) == "declined"
