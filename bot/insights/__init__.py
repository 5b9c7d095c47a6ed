"""The bureau's view: aggregate figures over a period (inquiries, staff, cases against the promise, corrections),
their charts and CSV, and the answer feedback that guide editors read. Aggregates only: no message text, no
identifiers beyond masked case numbers."""
