"""Checklists built from knowledge/checklists/ for exactly the applicant's case, and their print page."""

from __future__ import annotations

import pytest

from bot import checklists
from bot.checklists import Answers
from bot.guide.loader import load_guide


def ids(procedure: str, answers: Answers, lang: str = "en") -> list[str]:
    return [item["id"] for item in checklists.build(procedure, answers, lang)["items"]]


def test_every_procedure_with_a_case_flow_has_a_checklist() -> None:
    from bot.db.models import PROCEDURES

    assert set(checklists.all_checklists()) == set(PROCEDURES)


def test_checklists_point_at_existing_guide_sections() -> None:
    sections = load_guide().sections
    for checklist in checklists.all_checklists().values():
        assert checklist.section in sections, checklist.procedure


def test_only_needed_questions_are_asked() -> None:
    assert checklists.questions_for("cancellation", None) == []
    assert checklists.questions_for("first_application", None) == ["location"]
    assert checklists.questions_for("first_application", "outside") == ["category", "situations"]
    assert checklists.resolve_procedure("first_application", "inside") == "apply_inside_china"


def test_payload_has_the_contract_fields() -> None:
    payload = checklists.build("extension", Answers(category="B"), "zh", "https://bot.example")
    assert payload["type"] == "checklist" and payload["procedure"] == "extension" and payload["category"] == "B"
    assert payload["lang"] == "zh" and payload["print_url"].startswith("https://bot.example/checklist/extension?")
    for item in payload["items"]:
        assert {"id", "name", "note", "common_mistakes"} <= set(item)
        assert isinstance(item["common_mistakes"], list)


def test_conditions_change_the_list() -> None:
    b = ids("extension", Answers(category="B"))
    a = ids("extension", Answers(category="A"))
    assert "age_grounds" in b and "age_grounds" not in a


def test_variants_change_the_wording_for_special_situations() -> None:
    plain = checklists.build("notification_letter", Answers("B", None, ()), "en")
    hk = checklists.build("notification_letter", Answers("B", None, ("degree_hk_macau_taiwan",)), "en")
    note = {i["id"]: i["note"] for i in plain["items"]}
    note_hk = {i["id"]: i["note"] for i in hk["items"]}
    changed = [key for key in note if note[key] != note_hk.get(key)]
    assert changed, "a Hong Kong/Macau/Taiwan degree must change what the degree item says"


def test_both_languages_list_the_same_items() -> None:
    for procedure in checklists.all_checklists():
        answers = Answers(category="unknown", location="outside")
        assert ids(procedure, answers, "en") == ids(procedure, answers, "zh")


@pytest.mark.parametrize("query", [{"category": "Z"}, {"location": "moon"}, {"situations": "x,y"}])
def test_bad_print_parameters_are_refused(query: dict[str, str]) -> None:
    with pytest.raises(checklists.ChecklistError):
        checklists.parse_answers(query)


def test_print_page_shows_every_field_as_text() -> None:
    from bot.gateway.checklist_page import render

    payload = checklists.build("extension", Answers(category="B"), "en")
    hostile = '<img src=x onerror="alert(1)">'
    payload["title"] = hostile
    payload["items"][0] = {**payload["items"][0], "name": hostile, "note": "a & b", "common_mistakes": [hostile]}
    page = render(payload, "en")
    assert "<img" not in page and page.count("&lt;img src=x onerror=") == 4  # title twice, name, mistake
    assert "a &amp; b" in page and "<li class=\"item\">" in page
    assert page.startswith("<!doctype html>\n<html lang=\"en\">") and page.endswith("</main></body></html>")
