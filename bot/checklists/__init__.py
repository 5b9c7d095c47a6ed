"""Material checklists for exactly the applicant's case, from knowledge/checklists/ (one source of truth).

A checklist file lists items with optional conditions (`when`) and condition-specific wording (`variants`); the
questions a procedure needs (`asks`) are the only ones the assistant puts to the user. A file with `instead_of`
is not a procedure of its own: it replaces those procedures' lists when its file-level `when` holds (the short
list for short-term work). The same builder serves the bot's `checklist` payload and the print page, so both
always show the same list.

models (what a checklist is) · loading (the folder, read once, replaced on reload) · conditions (`when`) ·
payloads (the `checklist` payload) · addresses (the print page's URL) · text (plain-text rendering) ·
procedures (which list, which questions, the form's buttons).
"""

from __future__ import annotations

from bot.checklists.addresses import parse_answers, print_url
from bot.checklists.loading import (
    CHECKLIST_DIR,
    all_checklists,
    current,
    every_checklist,
    load_catalogue,
    load_checklist,
    question_options,
    question_prompts,
    replace_catalogue,
)
from bot.checklists.models import QUESTIONS, Answers, Catalogue, Checklist, ChecklistError, Item, Variant
from bot.checklists.payloads import build
from bot.checklists.procedures import (
    FIRST_APPLICATION,
    FIRST_APPLICATION_BY_LOCATION,
    procedure_choices,
    questions_for,
    request_payload,
    resolve_procedure,
)
from bot.checklists.text import as_text

__all__ = [
    "CHECKLIST_DIR",
    "FIRST_APPLICATION",
    "FIRST_APPLICATION_BY_LOCATION",
    "QUESTIONS",
    "Answers",
    "Catalogue",
    "Checklist",
    "ChecklistError",
    "Item",
    "Variant",
    "all_checklists",
    "as_text",
    "build",
    "current",
    "every_checklist",
    "load_catalogue",
    "load_checklist",
    "parse_answers",
    "print_url",
    "procedure_choices",
    "question_options",
    "question_prompts",
    "questions_for",
    "replace_catalogue",
    "request_payload",
    "resolve_procedure",
]
