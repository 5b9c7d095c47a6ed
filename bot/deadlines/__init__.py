"""Deadlines computed from the dates applicants give: parsing dates in both languages (`parse`), the rules of
knowledge/deadlines.yml (`rules`), the deadlines of a message (`service`) and their calendar file (`ics`)."""
