"""knowledge/situations.yml: the words that call for a person, the slots the guide distinguishes on, and what the
reply does with them (answer the stated case, or ask once), in both languages and the mixed forms."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.guide import answers
from bot.guide.loader import KNOWLEDGE_DIR, GuideError, default_guide, load_guide
from bot.guide.offer import StaffAvailability, parse_situation
from bot.guide.situation import person_reasons, read_outside, read_slot, situate

PERSON = {"title": "Talk to a person", "payload": "/human_handoff"}
PERSON_ZH = {"title": "转人工", "payload": "/human_handoff"}


@pytest.fixture(scope="module")
def guide():  # type: ignore[no-untyped-def]
    return default_guide()


def parse(text: str, *ranked: tuple[str, float]) -> dict[str, Any]:
    """Parse data as the section ranker leaves it for `text`."""
    ranking = [{"intent_response_key": f"faq/{sid}", "confidence": conf} for sid, conf in ranked]
    return {"text": text, "response_selector": {"faq": {"ranking": ranking}}}


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("The school is still holding my passport and refuses to give me the release letter", "employer_dispute"),
        ("公司扣着我的护照不给我办离职证明", "employer_dispute"),
        ("老板不给release letter，我该怎么办", "employer_dispute"),
        ("HR says my work permit application was rejected", "refusal"),
        ("工作许可申请被驳回了，能复议吗", "refusal"),
        ("我的work permit被拒了", "refusal"),
        ("my residence permit expired 5 days ago", "overstay"),
        ("居留证过期两天了", "overstay"),
        ("RP过期了还在北京", "overstay"),
        ("a friend is teaching on a tourist visa, is that allowed", "illegal_work"),
        ("用旅游签在这边打工会怎样", "illegal_work"),
        ("work permit的延期要多久", None),
        ("用人单位倒闭了，外国人的工作许可怎么办", "no_published_rule"),
        ("公司年底要清算，外籍员工的许可谁来注销", "no_published_rule"),
        ("Our employer is being wound up next quarter; who cancels the permits?", "no_published_rule"),
        ("公司已经解散了，我的工作许可还有效吗", "no_published_rule"),
        ("公司被解散后外籍员工的证谁来注销", "no_published_rule"),
        ("I changed jobs but the permit still shows the old company, what could happen to me?", "consequences"),
        ("换了单位没换证，还在新公司上班，会有什么后果", "consequences"),
        ("我被fire了，school拖着不办cancellation", "employer_dispute"),
        ("We can't log in to the employer account any more and the reset e-mail never arrives", "system_trouble"),
        ("单位账号登不进去，一直提示信息有误", "system_trouble"),
        ("提交的时候一直报错，换了浏览器也不行", "system_trouble"),
        ("小程序上的进度是不是系统bug，一直不动", "system_trouble"),
        ("HR typed the wrong passport number and the card is already printed", "mistake_made"),
        ("通知函上的名字拼错了一个字母", "mistake_made"),
        ("我的surname拼错了，visa会不会被拒", "mistake_made"),
        ("Our company was renamed last month, what happens to the foreign staff's permits?", "company_changed"),
        ("公司被母公司吸收合并了，外籍员工的工作许可怎么办", "company_changed"),
        ("营业执照明年到期，工作许可延期会受影响吗", "company_changed"),
        ("公司注册地从朝阳迁到经开区，外籍员工的证要怎么办", "company_changed"),
        # Work now, papers later; money owed or kept back; no official rule found; a legality question.
        ("The school wants me to start teaching next week and will sort out the permit later", "illegal_work"),
        ("公司让我先入职，工作许可后面再补", "illegal_work"),
        ("HR说可以先onboard，work permit之后再办", "illegal_work"),
        ("公司欠了我们两个月的工资，现在要离职", "employer_dispute"),
        ("我的押金公司一直不退", "employer_dispute"),
        ("they want me to pay back the recruitment fee before they release me", "employer_dispute"),
        ("官网上没写外籍实习生怎么办，找不到官方说明", "no_published_rule"),
        ("I called two offices and got conflicting answers about the translation", "no_published_rule"),
        ("中介说这样做没问题，legal吗", "consequences"),
        ("The agency offered two trial months on my L visa before they apply for the permit", "illegal_work"),
        ("老板让新同事先用M签上班，等工作许可下来再说", "illegal_work"),
        ("We're owed six weeks of salary and the school has closed", "employer_dispute"),
        ("I was laid off last Friday, what happens to my residence permit?", "employer_dispute"),
        ("公司这次把我裁了，工作许可会马上注销吗", "employer_dispute"),
        ("打电话问了两个窗口，答复也不一样，以哪个为准", "no_published_rule"),
        ("群里说周末兼职不用办手续，这个说法靠谱吗", "consequences"),
        ("The recruiter says it's totally legal to teach while the paperwork is pending", "consequences"),
    ],
)
def test_the_words_applicants_use_for_a_person_situation(guide, text: str, group: str | None) -> None:  # type: ignore[no-untyped-def]
    reasons = person_reasons(text, guide.situations)
    assert (group in reasons) if group else reasons == ()


@pytest.mark.parametrize(
    "text",
    [
        "how long does the work permit extension take",
        "工作许可延期需要什么材料",
        "does the labor bureau want the original passport at the counter",
        "what is category B",
        "我的护照快到期了，工作许可要变更吗",
        # Near misses of the system, mistake and company cues: ordinary questions the guide answers.
        "what is the website of the work permit system",
        "护照号码变了，工作许可和居留许可哪个先办，顺序搞错了麻烦吗",
        "what are the common mistakes when changing employer",
        "外籍员工结婚后改名了，护照也换了，工作许可要变更吗",
        # Settling wages is not a company being liquidated.
        "离职那天要把工资清算清楚吗",
        "公司把工资清算了，工作许可什么时候注销",
        "how do I register our company in the system",
        # Near misses of the work-first, money and no-official-rule cues.
        "Can I start working while my residence permit is being processed?",
        "我先入职了，后面再补办居留许可可以吗",
        "can my wife get a visa later after I start working",
        "先办工作许可还是先办签证",
        "工资标准要达到多少才能算B类",
        "官网上写的材料清单是哪些",
        "What does the official website list for an extension?",
        "Is it really necessary to translate the degree certificate?",
        "学历认证的说法是什么意思",
    ],
)
def test_ordinary_questions_do_not_call_for_a_person(guide, text: str) -> None:  # type: ignore[no-untyped-def]
    assert person_reasons(text, guide.situations) == ()


def test_every_cue_group_says_why_and_where_its_words_come_from(guide) -> None:  # type: ignore[no-untyped-def]
    groups = {g.id: g for g in guide.situations.person}
    assert {"employer_dispute", "refusal", "overstay", "illegal_work", "consequences", "no_published_rule"} <= set(
        groups
    )
    for group in groups.values():
        assert group.reason and group.sources and all(s.url.startswith("http") for s in group.sources)


def test_a_person_situation_is_answered_and_offers_staff_first_in_and_out_of_hours(guide) -> None:  # type: ignore[no-untyped-def]
    text = "My employer won't return my passport and I need it to apply for the new job's permit"
    ranked = parse(text, ("change_employer", 0.8), ("cancellation", 0.1))
    decision, reply = answers.respond(guide, ranked, "en", staff=StaffAvailability(open=True))
    assert decision.kind == "answer" and decision.sections == ("change_employer",)
    assert reply.buttons[0] == PERSON and reply.custom["needs_staff"]
    assert "with you now" in reply.custom["note"] and reply.custom["note"] in reply.text
    # Out of hours the same offer says when staff reply (Beijing time).
    later = StaffAvailability(open=False, next_open=datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))
    _, closed = answers.respond(guide, ranked, "en", staff=later)
    assert closed.buttons[0] == PERSON and "Wednesday 02 December, 09:00 Beijing time" in closed.custom["note"]
    _, zh = answers.respond(guide, parse("公司扣着我的护照不还", ("change_employer", 0.8)), "zh", staff=later)
    assert zh.buttons[0] == PERSON_ZH and "12月2日 09:00（北京时间）" in zh.custom["note"]


def test_a_runner_up_that_needs_a_person_offers_one(guide) -> None:  # type: ignore[no-untyped-def]
    # No cue word, but the ranking finds a dispute section plausible: the post may describe one.
    ranked = parse(
        "the new school asked for my old permit to be closed first", ("change_employer", 0.6), ("employer_dispute", 0.2)
    )
    decision, reply = answers.respond(guide, ranked, "en")
    # Offered after the answer's own buttons, without the "staff reply at…" note: nothing in the words asks for it.
    assert decision.related == ("employer_dispute",) and reply.buttons[-1] == PERSON and reply.buttons[0] != PERSON
    assert not reply.custom["needs_staff"] and reply.custom["note"] is None
    # Words that describe a dispute put the person first.
    disputed = parse("my school refuses to close my old permit", ("change_employer", 0.6), ("employer_dispute", 0.2))
    assert answers.respond(guide, disputed, "en")[1].buttons[0] == PERSON
    calm = parse(
        "the new school asked for my old permit to be closed first", ("change_employer", 0.6), ("cancellation", 0.2)
    )
    assert PERSON not in answers.respond(guide, calm, "en")[1].buttons


def test_every_which_one_menu_and_the_rephrase_offer_a_person(guide) -> None:  # type: ignore[no-untyped-def]
    menu = answers.clarify(guide, ("extension", "change_info"), "en")
    assert PERSON in menu.buttons and menu.buttons[-1] == PERSON
    urgent = answers.clarify(guide, ("extension", "change_info"), "zh", offer_person=True)
    assert urgent.buttons[0] == PERSON_ZH
    assert answers.rephrase("en").buttons == [PERSON] and answers.not_covered("zh").buttons == [PERSON_ZH]


@pytest.mark.parametrize(
    ("text", "slot", "value"),
    [
        ("I'm already in Beijing on an F visa", "location", "inside"),
        ("人已经在北京了", "location", "inside"),
        ("I am still abroad, in the UK", "location", "outside"),
        ("人还在国外", "location", "outside"),
        ("he is category B", "category", "b"),
        ("我是B类人才", "category", "b"),
        ("my wife is Chinese", "family", "chinese_citizen"),
        ("我老婆是中国人", "family", "chinese_citizen"),
        ("my residence permit is about to expire", "permit_timing", "expiring"),
        ("居留许可快到期了", "permit_timing", "expiring"),
        ("居留许可已经过期了", "permit_timing", "expired"),
        ("how do I apply", "location", None),
        # A comparison names values without saying which is the asker's.
        ("how is it decided whether someone is category A or B", "category", None),
        ("Category B vs C: what changes for the employer?", "category", None),
        ("A类和B类有什么区别", "category", None),
        ("AB类怎么划分", "category", None),
        ("does it work differently inside or outside China", "location", None),
        ("在境内还是境外申请比较快", "location", None),
    ],
)
def test_slots_are_read_from_the_askers_words(guide, text: str, slot: str, value: str | None) -> None:  # type: ignore[no-untyped-def]
    assert read_slot(text, guide.situations.slots[slot]) == value


def test_a_stated_case_picks_its_answer(guide) -> None:  # type: ignore[no-untyped-def]
    ranked = parse("I'm already in Beijing, how do I get my work permit", ("process_overview", 0.7))
    decision, reply = answers.respond(guide, ranked, "en")
    # Inside China the guide's answer is the in-country route; the ranked section stays one click away.
    assert decision.sections == ("apply_inside_china",) and "process_overview" in decision.related
    assert reply.custom["situation"] == {"value": "inside"}
    decision, _ = answers.respond(guide, parse("B类需要什么条件", ("categories_overview", 0.7)), "zh")
    assert decision.sections == ("category_b",)


def test_a_comparison_of_cases_keeps_the_overview(guide) -> None:  # type: ignore[no-untyped-def]
    """Naming two categories asks how they differ: the overview answers it, not the first category named."""
    decision, reply = answers.respond(
        guide, parse("what decides whether a foreigner counts as category A or B", ("categories_overview", 0.6)), "en"
    )
    assert decision.sections == ("categories_overview",)
    decision, _ = answers.respond(guide, parse("A类跟B类怎么区分", ("categories_overview", 0.6)), "zh")
    assert decision.sections == ("categories_overview",)


def test_a_case_with_its_own_key_fact_opens_with_it(guide) -> None:  # type: ignore[no-untyped-def]
    _, reply = answers.respond(guide, parse("我老婆是中国人，她要办什么签证", ("family_visas", 0.7)), "zh")
    block = reply.custom["blocks"][0]
    assert block["section"] == "family_visas" and "Q字签证" in block["key_fact"]
    assert reply.text.index("Q字签证") < reply.text.index(block["footer"].split("\n")[0])


def test_a_silent_message_gets_the_answer_and_one_question_back(guide) -> None:  # type: ignore[no-untyped-def]
    decision, reply = answers.respond(
        guide, parse("how does the work permit process work", ("process_overview", 0.7)), "en"
    )
    assert decision.sections == ("process_overview",)
    asked = guide.situations.slots["location"].ask.en
    assert reply.custom["situation"] == {"slot": "location", "asked": True} and asked in reply.custom["note"]
    choices = [b for b in reply.buttons if '"situation"' in b["payload"]]
    assert [b["title"] for b in choices] == ["I am in China", "I am abroad"]
    # The button comes back as the section and the stated case: the answer for that case, no second question.
    stated = parse_situation("location:inside")
    decision, again = answers.respond(guide, parse("I am in China"), "en", chosen="process_overview", stated=stated)
    assert decision.sections == ("apply_inside_china",) and again.custom["situation"] == {"value": "inside"}


def test_an_extension_question_is_only_switched_when_it_says_the_date_passed(guide) -> None:  # type: ignore[no-untyped-def]
    assert situate(guide, "extension", "how do I extend my work permit").ask is None
    assert situate(guide, "extension", "my work permit already expired, can I still extend").section == (
        "extension_mistakes"
    )
    assert situate(guide, "residence_permit_extension", "居留许可已经过期了还能延期吗").section == "overstay"


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    return root


def test_the_loader_reports_broken_situations(knowledge: Path) -> None:
    path = knowledge / "situations.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("        - dispute\n", "        - 'dispute(('\n", 1).replace(
            "inside: {section: apply_inside_china}", "inside: {section: no_such_section}"
        ),
        encoding="utf-8",
    )
    (knowledge / "sections" / "refusal.yml").write_text(
        (knowledge / "sections" / "refusal.yml")
        .read_text(encoding="utf-8")
        .replace("handoff: true", "needs_staff: true"),
        encoding="utf-8",
    )
    with pytest.raises(GuideError) as error:
        load_guide(knowledge)
    problems = "\n".join(error.value.problems)
    assert "'dispute(('" in problems and "no_such_section" in problems and "now called `handoff`" in problems


def test_a_later_section_of_a_long_post_also_opens_with_the_askers_case(guide) -> None:  # type: ignore[no-untyped-def]
    text = "My wife is Chinese. How do I change employer, and which visa does the family need?"
    parts = {"parts": [{"text": "which visa does the family need", "ranking": [["family_visas", 0.8]]}]}
    ranked = parse(text, ("change_employer", 0.7), ("family_visas", 0.1))
    ranked["response_selector"]["faq"].update(parts)
    decision, reply = answers.respond(guide, ranked, "en")
    assert decision.sections == ("change_employer", "family_visas")
    assert "Q visa" in reply.custom["blocks"][1]["key_fact"] and "Q visa" not in reply.custom["blocks"][0]["key_fact"]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("How do I file my annual income tax return as a foreigner?", "income_tax"),
        ("外籍员工的个税年度汇算怎么办", "income_tax"),
        ("I'm leaving China for good, can I get my pension contributions back?", "social_benefits"),
        ("外国人离职回国，社保怎么退", "social_benefits"),
        ("我们外籍员工能交住房公积金吗", "social_benefits"),
        ("外籍孩子怎么上公立小学", "school_places"),
        ("How do we enrol our son in a local primary school in Daxing?", "school_places"),
        ("Can I bring my dog to Beijing?", "pets"),
        ("外国人在北京怎么考驾照", "driving"),
        ("How do I apply for permanent residence in China?", "permanent_residence"),
        ("我入籍加拿大了，国内户口要注销吗", "household_nationality"),
        ("外籍员工休产假，公司要发工资吗", "leave_and_hours"),
        ("工资怎么汇回国？有没有外汇额度", "money_and_payments"),
        # The permit's own subjects, and the words the guide uses for them, are not outside it.
        ("Does a permanent resident need a work permit?", None),
        ("I teach at a kindergarten, what category am I?", None),
        ("我有双重国籍，办工作许可用哪本护照", None),
        ("公司要给外籍员工交社保吗", None),
        ("work permit的延期要多久", None),
        ("We get only five days of annual leave. Is that the legal minimum?", "leave_and_hours"),
        ("Can I apply for a Schengen visa while I live in Beijing?", "travel_elsewhere"),
        ("外国人在北京买房要什么条件", "property"),
        # Background is not the question; a permit question beside an outside one makes a permit question.
        ("I pay into social insurance and my son is at a local primary school. How long does an extension take?", None),
        ("Can I get my pension back when I leave, and do I need the cancellation certificate for it?", None),
    ],
)
def test_subjects_the_guide_does_not_cover(guide, text: str, topic: str | None) -> None:  # type: ignore[no-untyped-def]
    found = read_outside(text, guide.situations).subject
    assert (found.id if found else None) == topic


def test_no_outside_subject_is_one_the_guide_covers(guide) -> None:  # type: ignore[no-untyped-def]
    """A subject on the `outside` list that the guide's own text names has become the guide's: it must leave the
    list (or its cue must get narrower), or the bot would decline questions the guide answers."""
    for topic in guide.situations.outside:
        assert topic.reason and topic.sources and all(s.url.startswith("http") for s in topic.sources)
        for section in guide.sections.values():
            for lang in ("en", "zh"):
                texts = [section.title, section.answer, section.key_fact, section.caution]
                for text in (x.get(lang) for x in texts if x is not None):
                    match = topic.pattern.search(text)
                    assert match is None, f"{topic.id} cue {match.group(0)!r} is in section {section.id} ({lang})"


def test_an_outside_subject_is_named_with_a_person_first_unless_a_section_is_sure(guide) -> None:  # type: ignore[no-untyped-def]
    text = "I was laid off. Can I claim unemployment benefit as a foreigner after paying social insurance?"
    ranked = parse(text, ("employer_duties", 0.3), ("job_ends_stay", 0.2), ("fees", 0.01))
    decision, reply = answers.respond(guide, ranked, "en")
    assert decision.kind == "not_covered" and decision.sections == ("employer_duties", "job_ends_stay")
    assert "social insurance benefits" in reply.text and "does not cover" in reply.text
    assert reply.buttons[0] == PERSON and reply.custom["reason"] == "not_covered"
    assert [json.loads(b["payload"].removeprefix("/faq"))["section"] for b in reply.buttons[1:]] == [
        "employer_duties",
        "job_ends_stay",
    ]
    _, zh = answers.respond(guide, parse("外籍员工的个税年度汇算怎么办", ("employer_duties", 0.2)), "zh")
    assert "个人所得税" in zh.text and zh.buttons[0] == PERSON_ZH
    # A sure ranking means the subject is only mentioned on the way to a permit question: answered.
    mentioned = "公司要我先把养老保险转过来，工作许可延期要多久"
    assert read_outside(mentioned, guide.situations).subject is not None
    decision, _ = answers.respond(guide, parse(mentioned, ("extension", 0.8), ("fees", 0.05)), "zh")
    assert decision.kind == "answer" and decision.sections == ("extension",)


def test_a_permit_question_beside_an_outside_one_is_answered_and_names_the_other(guide) -> None:  # type: ignore[no-untyped-def]
    text = "I'm leaving China next month. How do I cancel my work permit? And can I take my pension with me?"
    assert [o.id for o in read_outside(text, guide.situations).asides] == ["social_benefits"]
    decision, reply = answers.respond(guide, parse(text, ("cancellation", 0.3), ("job_ends_stay", 0.2)), "en")
    assert decision.kind == "answer" and decision.sections[0] == "cancellation"
    assert "does not cover your question about social insurance benefits" in reply.custom["note"]
    assert reply.custom["note"] in reply.text and reply.buttons[-1] == PERSON
    _, zh = answers.respond(guide, parse("我要回国了，工作许可怎么注销？养老金能带走吗？", ("cancellation", 0.3)), "zh")
    assert "您关于社保待遇" in zh.custom["note"] and zh.buttons[-1] == PERSON_ZH


def test_a_post_telling_its_own_case_is_long_in_words_or_characters() -> None:
    from bot.guide.situation import tells_own_case

    # About 30 words of Chinese fit in 60-odd characters, far below the 150 an English post needs.
    zh = (
        "我是英国人，在亦庄一家外企工作了三年，工作许可下个月到期，公司最近在裁员，"
        "HR说先不给我办延期，让我等通知，我担心到期后就不能合法工作了，怎么办"
    )
    assert len(zh) < 150 and tells_own_case(zh)
    assert not tells_own_case("工作许可延期需要提前多久申请？")
    assert tells_own_case("I " + "have been working here since 2019 and " * 4)
    assert not tells_own_case("How long does an extension take?")


def test_the_loader_reports_a_broken_outside_subject(knowledge: Path) -> None:
    path = knowledge / "situations.yml"
    text = path.read_text(encoding="utf-8")
    start = text.index("\npermit_words:")
    end = text.index("\noutside:")
    broken = text[:start] + text[end:]  # no permit_words
    broken = broken.replace("      en: personal income tax\n", "", 1)  # a name in one language only
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(GuideError) as error:
        load_guide(knowledge)
    problems = "\n".join(error.value.problems)
    assert "permit_words" in problems and "outside 'income_tax' name" in problems
