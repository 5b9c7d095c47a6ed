"""Dates in both languages, the deadline rules of knowledge/deadlines.yml, and the calendar file; fixed clocks."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from bot.core.workdays import WorkCalendar
from bot.deadlines import ics, parse, service
from bot.deadlines.rules import Count, DeadlineRulesError, compute, default_rules, parse_rules

TODAY = date(2026, 12, 1)  # a Tuesday
RESEARCH = Path("/work/shared/research")


def one(text: str, today: date = TODAY) -> parse.FoundDate:
    found = parse.find_dates(text, today)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "text, expected, year_given",
    [
        ("2027-01-20", date(2027, 1, 20), True),
        ("2027/1/20", date(2027, 1, 20), True),
        ("20 Jan 2027", date(2027, 1, 20), True),
        ("the 20th of January 2027", date(2027, 1, 20), True),
        ("Jan 20, 2027", date(2027, 1, 20), True),
        ("15 March 2027", date(2027, 3, 15), True),
        ("January 20th", date(2026, 1, 20), False),
        ("2027年1月20日", date(2027, 1, 20), True),
        ("2027年1月20号", date(2027, 1, 20), True),
        ("1月20日", date(2026, 1, 20), False),
        ("十月八号", date(2026, 10, 8), False),
    ],
)
def test_absolute_dates_in_both_languages(text: str, expected: date, year_given: bool) -> None:
    found = one(f"it is on {text}, ok?")
    assert (found.day, found.year_given) == (expected, year_given)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("next Monday", date(2026, 12, 7)),
        ("下周一", date(2026, 12, 7)),
        ("on Friday", date(2026, 12, 4)),
        ("in two weeks", date(2026, 12, 15)),
        ("两周后", date(2026, 12, 15)),
        ("in 10 days", date(2026, 12, 11)),
        ("10天后", date(2026, 12, 11)),
        ("in 3 months", date(2027, 3, 1)),
        ("3个月后", date(2027, 3, 1)),
        ("下个月15号", date(2027, 1, 15)),
        ("tomorrow", date(2026, 12, 2)),
        ("明天", date(2026, 12, 2)),
    ],
)
def test_relative_dates_count_from_the_injected_today(text: str, expected: date) -> None:
    found = one(text)
    assert found.day == expected and found.relative


def test_no_date_in_plain_text_and_impossible_dates_are_refused() -> None:
    assert parse.find_dates("how early can we renew a work permit? we may need 2 weeks", TODAY) == []
    assert parse.find_dates("2027-02-30 or 31 April", TODAY) == []
    # A period counted from another event is not a date counted from today.
    assert parse.find_dates("renewals must go in 30 days before the permit runs out", TODAY) == []
    assert parse.find_dates("register in 10 days of arrival", TODAY) == []


def test_months_are_clamped_to_the_month_end() -> None:
    assert parse.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert parse.add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)


def test_year_rollover_next_occurrence_and_recent_past() -> None:
    january = one("January 20th")
    assert parse.resolve_year(january, TODAY, "next") == date(2027, 1, 20)
    november = one("25 Nov")
    assert parse.resolve_year(november, TODAY, "next") == date(2027, 11, 25)
    assert parse.resolve_year(november, TODAY, "recent", 120) == date(2026, 11, 25)
    # far in the past for a "recent" event: the next one is meant ("he arrives on 5 January")
    assert parse.resolve_year(one("5 January"), TODAY, "recent", 120) == date(2027, 1, 5)
    assert parse.resolve_year(one("1 December"), TODAY, "next") == TODAY


@pytest.mark.parametrize(
    "text, event, day",
    [
        ("our engineer's permit runs out on 15 March 2027 — what is the last day to file?", "permit_expiry",
         date(2027, 3, 15)),
        ("工作许可2027年3月15日到期，最晚什么时候申请延期", "permit_expiry", date(2027, 3, 15)),
        ("2027年3月15日，他的工作许可到期", "permit_expiry", date(2027, 3, 15)),
        ("他的居留许可2027年3月1日到期", "residence_expiry", date(2027, 3, 1)),
        ("the contract ends on 20 Jan", "contract_end", date(2027, 1, 20)),
        ("he resigned on 28 September 2026", "resignation", date(2026, 9, 28)),
        ("员工11月28日离职", "resignation", date(2026, 11, 28)),
        ("she arrived on 25 Nov", "entry", date(2026, 11, 25)),
        ("员工下个月15号入境", "entry", date(2027, 1, 15)),
        ("we submitted on 30 September 2026", "submission", date(2026, 9, 30)),
        ("he got his new passport on 20 November", "info_change", date(2026, 11, 20)),
        ("the old permit was cancelled on 2026-11-02", "cancellation", date(2026, 11, 2)),
    ],
)  # fmt: skip
def test_which_event_a_date_is_from_cue_words(text: str, event: str, day: date) -> None:
    assert service.mentions_in(text, TODAY) == [service.Mention(event, day, one(text).text)]


def test_two_dates_in_one_message_each_take_their_own_cue() -> None:
    text = "she entered China on 25 Nov, and her residence permit expires on 1 March 2027"
    mentions = service.mentions_in(text, TODAY)
    assert [(m.event, m.day) for m in mentions] == [
        ("entry", date(2026, 11, 25)),
        ("residence_expiry", date(2027, 3, 1)),
    ]


def test_a_bare_date_takes_the_event_of_the_conversations_procedure() -> None:
    assert service.mentions_in("20 Jan 2027", TODAY)[0].event is None
    assert service.mentions_in("20 Jan 2027", TODAY, procedure="extension")[0].event == "permit_expiry"
    assert service.mentions_in("20 Jan 2027", TODAY, procedure="cancellation")[0].event == "contract_end"


def deadlines(text: str, today: date = TODAY, lang: str = "en") -> dict[str, dict]:  # type: ignore[type-arg]
    report = service.report(service.mentions_in(text, today), today, lang)
    return {d["rule"]: d for d in report.deadlines}


def test_extension_window_90_and_30_calendar_days_before_expiry() -> None:
    found = deadlines("the work permit expires on 15 March 2027")
    assert found["extension_earliest"]["date"] == "2026-12-15" and found["extension_earliest"]["kind"] == "earliest"
    latest = found["extension_latest"]
    assert (latest["date"], latest["unit"], latest["count"]) == ("2027-02-13", "calendar_days", -30)
    # 13 Feb 2027 is a Saturday: the last working day before it, an estimate (2027 holidays not known)
    assert latest["working_day_before"] == "2027-02-12" and latest["estimate"] is True
    assert latest["source"].startswith("https://govt.chinadaily.com.cn/")


def test_card_and_residence_permit_after_entry_with_the_10_vs_15_days_conflict() -> None:
    found = deadlines("he entered China on 20 November 2026")
    card = found["card_after_entry"]
    assert card["date"] == "2026-12-05" and card["unit"] == "calendar_days"
    assert [(c["date"], c["count"]) for c in card["conflicts"]] == [("2026-11-30", 10)]
    assert card["past"] is False and card["conflicts"][0]["source"].startswith("https://www.oir.pku.edu.cn/")
    assert found["residence_permit_after_entry"]["date"] == "2026-12-20"


def test_cancellation_counts_working_days_across_the_2026_national_day_holiday() -> None:
    # Mon 28 Sep 2026: 29, 30 Sep, then 1–7 Oct off, 8, 9 Oct, Sat 10 Oct (an adjusted working day), 12–16 Oct.
    found = deadlines("he resigned on 28 September 2026", today=date(2026, 9, 20))
    cancel = found["cancellation_after_end"]
    assert (cancel["date"], cancel["unit"], cancel["estimate"]) == ("2026-10-16", "working_days", False)
    # the 2017 source's 10 calendar days, computed separately, never mixed with working days
    assert [(c["date"], c["unit"]) for c in cancel["conflicts"]] == [("2026-10-08", "calendar_days")]


def test_the_promised_review_after_a_submission_just_before_national_day() -> None:
    found = deadlines("we submitted on 30 September 2026", today=date(2026, 9, 30))
    assert found["preliminary_review"]["date"] == "2026-10-08"


def test_a_calendar_deadline_on_a_holiday_names_the_working_day_before() -> None:
    # 30 days before 3 Nov 2026 is Sun 4 Oct, inside the National Day holiday; the last working day is 30 Sep.
    found = deadlines("the permit expires on 3 November 2026", today=date(2026, 9, 1))
    latest = found["extension_latest"]
    assert latest["date"] == "2026-10-04" and latest["working_day_before"] == "2026-09-30"
    assert latest["estimate"] is False


def test_change_of_information_and_the_new_permit_after_cancellation() -> None:
    change = deadlines("he got his new passport on 20 November 2026")["change_info_after_change"]
    assert (change["date"], change["unit"]) == ("2026-11-30", "calendar_days")
    assert [(c["date"], c["unit"]) for c in change["conflicts"]] == [("2026-12-04", "working_days")]
    renewal = deadlines("the old permit was cancelled on 30 November 2026")["new_permit_after_cancellation"]
    assert (renewal["date"], renewal["unit"]) == ("2027-02-28", "months")


def test_the_residence_permits_own_extension() -> None:
    found = deadlines("his residence permit expires on 1 March 2027")
    assert set(found) == {"residence_permit_extension"}
    assert found["residence_permit_extension"]["date"] == "2027-01-30"


def test_a_past_deadline_is_said_with_what_to_do_and_a_person_offered() -> None:
    report = service.report(service.mentions_in("the permit expires on 20 December 2026", TODAY), TODAY, "en")
    latest = next(d for d in report.deadlines if d["rule"] == "extension_latest")
    assert latest["past"] and report.offer_person
    assert "This date has passed" in report.text() and "no longer accepts an extension" in report.text()
    # an earliest date that has passed only means the window is open: no person needed for that
    earliest = service.report(service.mentions_in("the permit expires on 15 Feb 2027", TODAY), TODAY, "en")
    assert any(d["past"] for d in earliest.deadlines) and not earliest.offer_person


def test_working_days_beyond_the_known_calendar_are_estimates_and_said_so() -> None:
    report = service.report(service.mentions_in("员工2027年3月1日离职", TODAY), TODAY, "zh")
    cancel = report.deadlines[0]
    assert cancel["estimate"] is True and "此为估算" in report.text() and "2027年" in report.text()


def test_holidays_yml_years_replace_the_estimate() -> None:
    workdays = WorkCalendar({2027: (frozenset({date(2027, 3, 2)}), frozenset())})
    rule = default_rules().rules["cancellation_after_end"]
    computed = compute(rule, rule.count, date(2027, 3, 1), workdays)
    assert computed.estimate is False and computed.day == date(2027, 3, 16)


def test_chinese_wording_and_dates() -> None:
    report = service.report(service.mentions_in("工作许可2027年3月15日到期", TODAY), TODAY, "zh")
    text = report.text()
    assert "延期：最晚申请日：**2027年2月13日（周六）**" in text and "2027年2月12日（周五）" in text


def test_an_unclassified_date_is_asked_about() -> None:
    report = service.report(service.mentions_in("what about 20 Jan 2027?", TODAY), TODAY, "en")
    assert report.deadlines == [] and "not what happens then" in report.text()


def test_every_rule_cites_the_dossier_and_the_file_is_checked() -> None:
    rules = default_rules()
    dossier = "".join(p.read_text(encoding="utf-8") for p in RESEARCH.glob("*.md")) if RESEARCH.exists() else ""
    for rule in rules.rules.values():
        urls = [s.url for s in rule.sources] + [s.url for c in rule.conflicts for s in c.sources]
        assert urls, rule.id
        if dossier:
            assert all(url in dossier for url in urls), rule.id
    with pytest.raises(DeadlineRulesError, match="unit"):
        parse_rules({"events": {}, "rules": {"x": {"event": [], "count": 3, "unit": "weeks", "kind": "latest"}}})
    with pytest.raises(DeadlineRulesError, match="unknown events"):
        parse_rules({"events": {}, "rules": {"x": {"event": "nothing", "count": 3, "unit": "months"}}})
    assert rules.rules["extension_latest"].count == Count(-30, "calendar_days")


def test_calendar_file_from_the_computed_dates() -> None:
    pairs = ics.parse_pairs(["extension_latest:2027-02-13", "card_after_entry:2026-12-05"])
    body = ics.build(pairs, "zh", datetime(2026, 12, 1, tzinfo=timezone.utc))
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert body.count("BEGIN:VEVENT") == 2 and "DTSTART;VALUE=DATE:20270213" in body
    assert "SUMMARY:延期：最晚申请日" in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    for bad in (["nothing:2027-01-01"], ["extension_latest:2027-02-30"], [], ["extension_latest:2027-01-01"] * 21):
        with pytest.raises(ics.CalendarRequestError):
            ics.parse_pairs(bad)


def test_the_payload_link_is_the_gateway_endpoint() -> None:
    found = list(deadlines("the work permit expires on 15 March 2027").values())
    url = service.ics_url(found, "en", "http://127.0.0.1:8080")
    assert url == (
        "http://127.0.0.1:8080/deadlines.ics?lang=en&d=extension_earliest%3A2026-12-15&d=extension_latest%3A2027-02-13"
    )


async def test_gateway_serves_the_calendar_file_and_refuses_bad_links(gateway) -> None:  # type: ignore[no-untyped-def]
    client = gateway
    ok = await client.get("/deadlines.ics?lang=en&d=extension_latest:2027-02-13&d=card_after_entry:2026-12-05")
    assert ok.status == 200 and ok.headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in ok.headers["Content-Disposition"]
    body = await ok.text()
    assert body.count("BEGIN:VEVENT") == 2 and "SUMMARY:Extension: last day to apply" in body
    bad = await client.get("/deadlines.ics?d=<script>:2027-01-01")
    assert bad.status == 400 and "unknown deadline" in await bad.text()
    assert (await client.get("/deadlines.ics")).status == 400


def test_an_expiry_said_to_be_past_takes_the_last_occurrence() -> None:
    assert service.mentions_in("it expires on 30 Sep", TODAY)[0].day == date(2027, 9, 30)
    assert service.mentions_in("it expired on 30 Sep", TODAY, past=True)[0].day == date(2026, 9, 30)


def test_a_cue_in_the_next_sentence_does_not_name_a_date() -> None:
    # "graduated on 20 June 2026. I arrived…": the arrival cue belongs to the second sentence, not to the date.
    text = "I graduated on 20 June 2026. I arrived in Beijing last week on a Z visa."
    assert service.mentions_in(text, TODAY)[0].event is None
    assert service.mentions_in("毕业于2026年6月20日。上周入境北京。", TODAY)[0].event is None
    # Within a sentence the cue still names it.
    assert service.mentions_in("I arrived on 25 November 2026, what now?", TODAY)[0].event == "entry"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("I arrived in China on 1 September 2019 and have worked at the same school since. Can I extend?", "en"),
        ("我2018年3月5日入境，一直在这家公司工作，现在想换工作，需要什么材料？", "zh"),
        ("I was born on 5 May 1968 and my degree is from 1990; can I still get a permit at my age?", "en"),
    ],
)
def test_dates_in_the_background_of_a_post_are_not_counted_or_asked_about(text: str, lang: str) -> None:
    report = service.report(service.mentions_in(text, TODAY), TODAY, lang)
    assert report.deadlines == [] and report.unknown == [] and report.lines == [] and not report.offer_person


def test_a_recent_past_entry_still_gives_its_overdue_deadlines() -> None:
    # Entered four months ago: the card and residence deadlines have passed, and that is worth saying.
    report = service.report(service.mentions_in("he entered China on 2026-08-01", TODAY), TODAY, "en")
    assert report.deadlines and all(d["past"] for d in report.deadlines) and report.offer_person


def test_deadlines_of_another_procedure_follow_the_answer() -> None:
    # A renewal question that also says when the contract ends: the extension window opens the reply, the
    # cancellation deadline of the contract's end is still counted, after the answer.
    text = "My permit expires on 15 March 2027 and my contract ends on 28 February 2027. How do I renew?"
    # "contract" in the next clause does not turn the permit's expiry into the contract's end
    assert [m.event for m in service.mentions_in(text, TODAY)] == ["permit_expiry", "contract_end"]
    report = service.report(service.mentions_in(text, TODAY, "extension"), TODAY, "en", procedure="extension")
    assert {d["rule"] for d in report.deadlines} >= {"extension_latest", "cancellation_after_end"}
    assert "30 days before the work permit expires" in report.text()
    assert "10 working days" not in report.text() and "10 working days" in report.later_text()
    assert report.later[0].startswith("Other dates in your message")
    # with no procedure answered, every deadline is said first, as before
    unplaced = service.report(service.mentions_in(text, TODAY), TODAY, "en")
    assert unplaced.later == [] and "10 working days" in unplaced.text()
