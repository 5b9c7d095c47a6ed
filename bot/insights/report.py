"""Assembles the figures of a period into tables (page, charts and CSV all read the same tables) and the few
headline figures of the printable monthly report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.cases.stages import Procedures, default_procedures
from bot.core.payload import OUTCOMES
from bot.core.workdays import WorkCalendar, default_calendar
from bot.db import Database
from bot.db.models import utcnow
from bot.guide.loader import default_guide
from bot.insights import cases as case_figures
from bot.insights import inquiries as inquiry_figures
from bot.insights import staffing as staff_figures
from bot.insights import texts
from bot.insights.period import Period
from bot.insights.tables import Table

H = texts.HEAD


def procedure_label(procedure: str) -> str:
    """ "extension · 延期": the id (as in the case records) with the glossary's first Chinese name."""
    term = default_guide().terms.get(procedure)
    return f"{procedure} · {term.zh[0]}" if term and term.zh else procedure


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def minutes(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


@dataclass
class Insights:
    period: Period
    inquiries: inquiry_figures.Inquiries
    staffing: staff_figures.Staffing
    cases: case_figures.Cases
    tables: list[Table]

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def headline(self) -> list[tuple[str, str]]:
        """The figures the bureau publishes: inquiries received, cases reviewed and processed, promise met."""
        rows = [
            (texts.REPORT["inquiries"], str(self.inquiries.conversations)),
            (texts.REPORT["questions"], str(self.inquiries.questions)),
            (texts.REPORT["received"], str(self.cases.received)),
            (texts.REPORT["reviewed"], str(self.cases.concluded)),
        ]
        for step, count in self.cases.steps.items():
            rows.append((texts.STEPS[step], f"{percent(count.met, count.due)} ({count.met}/{count.due})"))
        return rows


def build(
    db: Database,
    period: Period,
    now: datetime | None = None,
    procedures: Procedures | None = None,
    calendar: WorkCalendar | None = None,
) -> Insights:
    now = now or utcnow()
    with db.transaction() as session:
        inq = inquiry_figures.collect(session, period)
        staff = staff_figures.collect(session, period)
        cas = case_figures.collect(
            session, period, procedures or default_procedures(), calendar or default_calendar(), now
        )
    return Insights(period, inq, staff, cas, _tables(period, inq, staff, cas))


def _tables(
    period: Period, inq: inquiry_figures.Inquiries, staff: staff_figures.Staffing, cas: case_figures.Cases
) -> list[Table]:
    t = texts.TITLES
    by_day = Table(
        "by_day",
        t["conversations_by_day"],
        [H["day"], H["conversations"], H["questions"]],
        [[d.isoformat(), inq.conversations_by_day[d], inq.questions_by_day[d]] for d in period.days()],
        chart=(0, (1, 2)),
        columns=True,
    )
    languages = sorted(set(inq.conversations_by_language) | set(inq.questions_by_language))
    by_language = Table(
        "by_language",
        t["by_language"],
        [H["language"], H["conversations"], H["questions"]],
        [
            [texts.LANGUAGES.get(k, k), inq.conversations_by_language[k], inq.questions_by_language[k]]
            for k in languages
        ],
        chart=(0, (1, 2)),
    )
    by_topic = Table(
        "by_topic",
        t["by_topic"],
        [H["topic"], H["questions"]],
        [[k, v] for k, v in sorted(inq.questions_by_topic.items(), key=lambda kv: (-kv[1], kv[0]))],
        chart=(0, (1,)),
    )
    outcomes = Table(
        "outcomes",
        t["outcomes"],
        [H["outcome"], H["questions"], H["share"]],
        [[texts.OUTCOMES[k], inq.outcomes[k], percent(inq.outcomes[k], inq.questions)] for k in OUTCOMES],
        chart=(0, (1,)),
    )
    rated = sorted(set(inq.helpful) | set(inq.not_helpful), key=lambda s: (-inq.not_helpful[s], -inq.helpful[s], s))
    ratings = Table(
        "ratings",
        t["ratings"],
        [H["section"], H["helpful"], H["not_helpful"]],
        [[s, inq.helpful[s], inq.not_helpful[s]] for s in rated],
        chart=(0, (1, 2)),
    )
    top = Table(
        "top_sections",
        t["top_sections"],
        [H["section"], H["answers"]],
        [[s, n] for s, n in sorted(inq.sections.items(), key=lambda kv: (-kv[1], kv[0]))[:15]],
        chart=(0, (1,)),
    )
    waits = []
    for key in ("in", "out"):
        w = staff.by_hours[key]
        waits.append(
            [
                texts.HOURS[key],
                w.tickets,
                minutes(staff_figures.median(w.claim)),
                minutes(staff_figures.p90(w.claim)),
                minutes(staff_figures.median(w.resolve)),
                minutes(staff_figures.p90(w.resolve)),
            ]
        )
    tickets = Table(
        "tickets",
        t["tickets"],
        [H["hours"], H["tickets"], H["claim_median"], H["claim_p90"], H["resolve_median"], H["resolve_p90"]],
        waits,
        note=texts.NOTES["tickets"],
    )
    satisfaction = Table(
        "satisfaction",
        t["satisfaction"],
        [H["rating"], H["count"]],
        [[k, staff.satisfaction[k]] for k in range(1, 6)],
        chart=(0, (1,)),
    )
    promise = Table(
        "promise",
        t["promise"],
        [H["step"], H["due"], H["met"], H["share"]],
        [[texts.STEPS[k], c.due, c.met, percent(c.met, c.due)] for k, c in cas.steps.items()],
        chart=(0, (1, 2)),
        note=texts.NOTES["promise"],
    )
    late = Table(
        "late",
        t["late"],
        [H["case"], H["procedure"], H["step"], H["due_day"], H["done_day"], H["days_late"]],
        [
            [
                x.case,
                procedure_label(x.procedure),
                texts.STEPS[x.step],
                x.due.isoformat(),
                x.done.isoformat() if x.done else texts.OPEN,
                x.days_late,
            ]
            for x in cas.late
        ],
        note=texts.NOTES["late"],
    )
    procedures = sorted(cas.received_by_procedure)
    corrections = Table(
        "corrections",
        t["corrections"],
        [H["procedure"], H["received"], H["sent_back"], H["share"]],
        [
            [
                procedure_label(p),
                cas.received_by_procedure[p],
                cas.sent_back_by_procedure[p],
                percent(cas.sent_back_by_procedure[p], cas.received_by_procedure[p]),
            ]
            for p in procedures
        ],
        chart=(0, (1, 2)),
    )
    materials = Table(
        "materials",
        t["materials"],
        [H["procedure"], H["item"], H["count"]],
        [
            [procedure_label(p), item, n]
            for p in sorted(cas.materials)
            for item, n in sorted(cas.materials[p].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        ],
    )
    checklist = Table(
        "checklist",
        t["checklist"],
        [H["checklist_first"], H["cases"], H["sent_back"], H["share"]],
        [
            [texts.YES_NO[k], cas.verified[k][0], cas.verified[k][1], percent(cas.verified[k][1], cas.verified[k][0])]
            for k in (True, False)
        ],
        chart=(0, (1, 2)),
    )
    return [
        by_day,
        by_language,
        by_topic,
        outcomes,
        ratings,
        top,
        tickets,
        satisfaction,
        promise,
        late,
        corrections,
        materials,
        checklist,
    ]
