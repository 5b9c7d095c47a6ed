"""The one Jinja2 environment of the gateway's server-rendered pages (bot/gateway/templates/).

Autoescape is on for every template and string, so whatever an applicant, a staff member or the knowledge folder
wrote is shown as text; StrictUndefined makes a missing field an error instead of an empty spot on the page."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)
