"""`python -m bot guide-check`: the guide's two languages state the same figures, every item is sourced, agency-only
figures are attributed, and unconfirmed facts say so. Each check is shown to fail on a planted copy of knowledge/."""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from bot import checklists
from bot.__main__ import main
from bot.cases.lookup import CaseStatus
from bot.cases.stages import load_procedures
from bot.cases.texts import status_text
from bot.checklists import Answers
from bot.core.workdays import WorkCalendar
from bot.guide.check import find_research_dir, run_checks
from bot.guide.loader import KNOWLEDGE_DIR, read_knowledge_yaml
from bot.guide.wording import numbers_in

RESEARCH = find_research_dir()


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    """A copy of the real knowledge/ to plant mistakes in."""
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    return root


@pytest.fixture
def dossier(tmp_path: Path) -> Path:
    """A stand-in research folder naming every URL the real guide cites, so the dossier part runs in any clone."""
    urls = set()
    for path in KNOWLEDGE_DIR.rglob("*.yml"):
        urls.update(re.findall(r"https?://[^\s\]\"']+", path.read_text(encoding="utf-8")))
    folder = tmp_path / "research"
    folder.mkdir()
    (folder / "facts.md").write_text("\n".join(f"- fact {url} [OFF]" for url in sorted(urls)), encoding="utf-8")
    return folder


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- numbers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("en", "zh"),
    [
        ("within 30 days of entry", "入境后30日内"),
        ("within 15 days", "十五日内"),
        ("two years of experience", "两年工作经历"),
        ("three months", "三个月"),
        ("a fine of up to CNY 2,000", "2000元以下罚款"),
        ("450,000 RMB or more; 350–450k", "45万元及以上；35万至45万"),
        ("CNY 5,000–20,000", "5000元至2万元"),
        ("since 7 November 2023", "2023年11月7日起"),
        ("HSK 1–5", "HSK一至五级"),
        ("Art. 31", "第三十一条"),
        ("within 24 hours", "２４小时内"),
        ("a master's degree from within the past year", "近一年内取得的硕士学位"),
    ],
)
def test_the_same_figure_reads_the_same_in_both_languages(en: str, zh: str) -> None:
    assert numbers_in(en, "en") == numbers_in(zh, "zh") != set()


def test_words_that_are_not_figures_do_not_count() -> None:
    assert numbers_in("One agency says it may help; the first step", "en") == set()
    assert numbers_in("一般由一家中介一次性办理，之一", "zh") == set()
    assert numbers_in("10 days", "en") != numbers_in("15日", "zh")


# --- the real guide ------------------------------------------------------------------------------------------


def test_the_real_guide_passes() -> None:
    report = run_checks()
    assert report.problems == []
    if RESEARCH is None:
        assert any("research dossiers" in note for note in report.skipped)
        pytest.skip("../shared/research is not beside the project: the dossier part was skipped (said above)")
    assert report.skipped == []


def test_the_command_passes_on_the_real_guide(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guide-check"]) == 0
    assert "knowledge/ OK" in capsys.readouterr().out


# --- planted mistakes ----------------------------------------------------------------------------------------


def test_fails_when_the_languages_state_different_numbers(knowledge: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replace_in(knowledge / "sections" / "residence_permit.yml", "须**入境后30日内**", "须**入境后15日内**")
    problems = run_checks(knowledge).problems
    expected = "sections/residence_permit answer: numbers differ between languages (only in English: 30)"
    assert expected in problems
    assert main(["guide-check", "--knowledge", str(knowledge)]) == 1
    assert "residence_permit" in capsys.readouterr().err


def test_fails_when_a_checklist_note_loses_a_figure_in_one_language(knowledge: Path) -> None:
    replace_in(knowledge / "checklists" / "extension.yml", "距到期不足30日才提交", "距到期太近才提交")
    problems = run_checks(knowledge).problems
    assert any("checklists/extension item application_form mistake 1" in p and "30" in p for p in problems)


def test_fails_on_an_uncited_checklist_item(knowledge: Path) -> None:
    path = knowledge / "checklists" / "replacement.yml"
    raw = read_knowledge_yaml(path.read_text(encoding="utf-8"))
    cited = raw["items"][0]["sources"]
    text = path.read_text(encoding="utf-8")
    block = "    sources:\n" + "".join(f"      - {url}\n" for url in cited)
    assert block in text
    path.write_text(text.replace(block, "", 1), encoding="utf-8")
    problems = run_checks(knowledge).problems
    assert "checklists/replacement item replacement_form: cites no source" in "\n".join(problems)


def test_fails_on_a_section_whose_sources_are_not_in_the_dossiers(knowledge: Path, dossier: Path) -> None:
    assert run_checks(knowledge, research=dossier).problems == []
    path = knowledge / "sections" / "fees.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^(  - url: )https?://", r"\1https://invented.example/", text), encoding="utf-8")
    path.write_text(
        re.sub(r"(?m)^official_url: .*$", "official_url: https://invented.example/x", path.read_text("utf-8")),
        encoding="utf-8",
    )
    problems = run_checks(knowledge, research=dossier).problems
    assert "sections/fees: none of its sources appears in the research dossiers" in problems


def test_fails_on_an_item_citing_a_url_the_checklist_does_not_list(knowledge: Path) -> None:
    replace_in(
        knowledge / "checklists" / "short_term_work.yml",
        "      - http://reindeerstation.com/News_Detail.aspx?ArticleId=90\n",
        "      - https://invented.example/page\n",
    )
    problems = run_checks(knowledge).problems
    assert any("short_term_work item application_form: cites https://invented.example/page" in p for p in problems)


def test_fails_when_an_agency_only_figure_is_stated_as_a_rule(knowledge: Path) -> None:
    # The teaching-experience figures come from agency pages only; without the attribution they read as a rule.
    replace_in(
        knowledge / "sections" / "language_teachers.yml",
        "The usual conditions, as agencies describe them:",
        "The usual conditions:",
    )
    problems = run_checks(knowledge).problems
    assert any(p.startswith("sections/language_teachers: answer.en states 2,") for p in problems)
    assert not any("answer.zh" in p for p in problems if "language_teachers" in p)


def test_fails_when_an_unconfirmed_office_fact_is_typed_into_an_answer(knowledge: Path) -> None:
    # Typed in, the phone number escapes the placeholder that says it is not confirmed.
    replace_in(
        knowledge / "sections" / "municipal_office.yml",
        "    - Phone: {fact:botc.phone}\n",
        "    - Phone: (010) 89150841 / 89150842\n",
    )
    problems = run_checks(knowledge).problems
    assert any("sections/municipal_office answer: types the office fact botc.phone" in p for p in problems)


def test_fails_when_an_unconfirmed_promise_is_stated_without_its_note(knowledge: Path) -> None:
    path = knowledge / "procedures.yml"
    replace_in(
        path,
        "where the count starts is not confirmed yet (see the rule above).",
        "it will come within 3 working days of acceptance.",
    )
    replace_in(path, "no list of procedures: not confirmed yet by the bureau.", "no list of procedures.")
    problems = run_checks(knowledge).problems
    assert "procedures.yml next_steps.under_review: en states the bureau's time limit" in "\n".join(problems)
    assert "procedures.yml promises.under_review: rule.en must say the promise is not confirmed yet" in problems


def test_unconfirmed_office_facts_say_so_when_rendered() -> None:
    from bot.guide.answers import fill_facts
    from bot.guide.loader import load_guide

    guide = load_guide()
    for lang, marker in (("en", "not confirmed"), ("zh", "尚未经审批局确认")):
        assert marker in fill_facts("{fact:etown_bureau.service_center}", guide, lang)
        assert marker in fill_facts("{fact:botc.address}", guide, lang)


def test_fails_on_a_second_wording_for_low_reliability(knowledge: Path) -> None:
    replace_in(knowledge / "sections" / "fees.yml", "有可靠性较低的网页称", "有低可靠度网页称")
    assert any("sections/fees answer: zh uses “低可靠度”" in p for p in run_checks(knowledge).problems)


# --- what the fixes give the applicant -----------------------------------------------------------------------


def test_short_term_work_gets_the_short_list() -> None:
    for location, first in (("outside", "notification_letter"), ("inside", "apply_inside_china")):
        short = checklists.build(first, Answers("C_short", location, ()), "en")
        assert short["procedure"] == "short_term_work"
        assert [i["id"] for i in short["items"]] == ["application_form", "contract_or_agreement", "passport"]
        # The print link rebuilds the same short list.
        assert "category=C_short" in short["print_url"] and f"/checklist/{first}?" in short["print_url"]
        long = checklists.build(first, Answers("C", location, ()), "en")
        assert long["procedure"] == first and len(long["items"]) > 3
    assert "short_term_work" not in checklists.procedure_choices()
    # Elsewhere "short-term C" is still category C: an extension keeps the age item B and C get.
    extension = [i["id"] for i in checklists.build("extension", Answers("C_short"), "en")["items"]]
    assert "age_grounds" in extension


def test_a_new_position_is_a_change_not_a_new_application() -> None:
    payload = checklists.build("extension", Answers("B"), "en")
    contract = next(i for i in payload["items"] if i["id"] == "employment_contract")
    assert not any("new application" in m for m in contract["common_mistakes"])
    assert any("recorded as a change" in m for m in contract["common_mistakes"])
    assert "position_change_letter" in [i["id"] for i in payload["items"]]


def test_a_case_status_due_date_says_which_rule_it_uses() -> None:
    procedures = load_procedures()
    accepted = datetime(2026, 12, 1, 2, tzinfo=timezone.utc)
    due = procedures.due("under_review", accepted, [("accepted", accepted)], WorkCalendar())
    assert due is not None and due.rule is not None and "not confirmed" in due.rule.en
    status = CaseStatus(
        case="WP****0123",
        procedure="extension",
        stage="under_review",
        stage_label={"en": "Under review", "zh": "审查中"},
        stage_since=date(2026, 12, 1),
        due=due.day,
        due_estimated=due.estimated,
        next_step_label={"en": due.next.en, "zh": due.next.zh},
        on_time=True,
        due_rule={"en": due.rule.en, "zh": due.rule.zh},
    )
    assert "Rule used: E-Town's published promise" in status_text(status, "en")
    assert "尚未经审批局确认" in status_text(status, "zh")
    assert status.payload("zh")["due_rule"] == due.rule.zh
