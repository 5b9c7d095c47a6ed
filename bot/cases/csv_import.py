"""Import cases from a CSV export: every row is checked first and problems are reported by row number; if any row
is wrong, nothing is imported (one transaction)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Callable

from bot.cases.identifiers import PassportHasher
from bot.cases.service import CaseError, NewCase, insert_case, validate_new_case
from bot.cases.stages import default_procedures
from bot.core.workdays import SHANGHAI
from bot.db import Database
from bot.db.models import utcnow

REQUIRED = ("application_number", "procedure", "applicant_name", "passport_number")
OPTIONAL = ("category", "nationality", "employer_name", "employer_credit_code", "stage", "stage_since", "submitted_at")
MAX_ROWS = 5000


@dataclass
class ImportResult:
    imported: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)


def parse_moment(value: str) -> datetime | None:
    """ISO date (taken as midnight in Beijing) or date-time (Beijing time unless it carries an offset)."""
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        day = date.fromisoformat(value)
        moment = datetime.combine(day, time(0, 0))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(timezone.utc)


def import_csv(
    db: Database, text: str, hasher: PassportHasher, actor: str, clock: Callable[[], datetime] = utcnow
) -> ImportResult:
    result = ImportResult()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing_columns = [c for c in REQUIRED if c not in header]
    unknown_columns = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing_columns or unknown_columns:
        if missing_columns:
            result.errors.append({"row": 1, "field": ",".join(missing_columns), "message": "missing column(s)"})
        if unknown_columns:
            result.errors.append({"row": 1, "field": ",".join(unknown_columns), "message": "unknown column(s)"})
        return result
    procedures = default_procedures()
    rows: list[NewCase] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        if line - 1 > MAX_ROWS:
            result.errors.append({"row": line, "field": "", "message": f"more than {MAX_ROWS} rows; split the file"})
            break
        if None in raw:
            result.errors.append({"row": line, "field": "", "message": "more values than columns"})
            continue
        values = {k.strip(): (v or "").strip() for k, v in raw.items()}
        empty = [c for c in REQUIRED if not values.get(c)]
        if empty:
            result.errors.append({"row": line, "field": ",".join(empty), "message": "required value missing"})
            continue
        try:
            since = parse_moment(values.get("stage_since", ""))
            submitted = parse_moment(values.get("submitted_at", ""))
        except ValueError:
            result.errors.append(
                {"row": line, "field": "stage_since/submitted_at", "message": "not a date (YYYY-MM-DD)"}
            )
            continue
        try:
            case = validate_new_case(
                NewCase(
                    application_number=values["application_number"],
                    procedure=values["procedure"],
                    applicant_name=values["applicant_name"],
                    passport_number=values["passport_number"],
                    category=values.get("category") or "unknown",
                    nationality=values.get("nationality", ""),
                    employer_name=values.get("employer_name", ""),
                    employer_credit_code=values.get("employer_credit_code", ""),
                    stage=values.get("stage") or "submitted",
                    stage_since=since,
                    submitted_at=submitted,
                ),
                procedures,
            )
        except CaseError as exc:
            result.errors.append({"row": line, "field": exc.code, "message": str(exc)})
            continue
        if case.application_number in seen:
            result.errors.append(
                {
                    "row": line,
                    "field": "application_number",
                    "message": f"same number as row {seen[case.application_number]}",
                }
            )
            continue
        seen[case.application_number] = line
        rows.append(case)
    if result.errors:
        return result
    now = clock()
    try:
        with db.transaction() as session:
            for line, case in zip(seen.values(), rows, strict=True):
                try:
                    insert_case(session, case, hasher, actor, now)
                except CaseError as exc:
                    raise _RowFailed(line, exc) from exc
    except _RowFailed as failed:
        result.errors.append({"row": failed.line, "field": failed.error.code, "message": str(failed.error)})
        return result
    result.imported = len(rows)
    return result


class _RowFailed(Exception):
    def __init__(self, line: int, error: CaseError) -> None:
        super().__init__(str(error))
        self.line = line
        self.error = error
