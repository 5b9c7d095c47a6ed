"""Editors' loop: a change to the guide's text in knowledge/ goes live in the running action server within seconds,
without a retrain. On every change the whole folder is loaded and put through the same checks as
`python -m bot guide-check`; only a folder that passes replaces the served guide, so a broken edit is refused and
the old text stays. The checklists (knowledge/checklists/) are replaced together with the guide. Example questions
are read too but only a retrain teaches them to the model."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

from bot.checklists import ChecklistError, load_catalogue, replace_catalogue
from bot.guide import loader
from bot.guide.check import run_checks

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 2.0


def fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, modification time and size of every YAML file: cheap to take every few seconds."""
    found = []
    for path in sorted(root.rglob("*.yml")):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while we looked: the next poll sees it
            continue
        found.append((str(path.relative_to(root)), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class GuideReloader:
    def __init__(
        self, root: Path | str = loader.KNOWLEDGE_DIR, interval: float = DEFAULT_INTERVAL_S, status: Path | None = None
    ) -> None:
        self.root = Path(root)
        self.interval = interval
        # Where the outcome of the last change is written, for operators (and tests) to read.
        self.status = status
        self.seen = fingerprint(self.root)
        self.last_error = ""
        self._stop = threading.Event()

    def check_once(self) -> str:
        """"unchanged", "reloaded" or "refused" (then `last_error` says why and the old guide stays)."""
        now = fingerprint(self.root)
        if now == self.seen:
            return "unchanged"
        self.seen = now
        try:
            guide = loader.load_guide(self.root)
            report = run_checks(self.root)
            catalogue = load_catalogue(self.root / "checklists")
        except (loader.GuideError, ChecklistError, ValueError, OSError, KeyError) as exc:
            return self._refuse(str(exc))
        if report.problems:
            return self._refuse("; ".join(report.problems[:10]))
        loader.replace_guide(guide)
        replace_catalogue(catalogue)  # the checklists and their questions follow the same edit
        self.last_error = ""
        log.info("guide reloaded from %s: %d sections", self.root, len(guide.sections))
        self._write_status("reloaded")
        return "reloaded"

    def _refuse(self, why: str) -> str:
        self.last_error = why
        log.error("guide change refused, the previous text stays served: %s", why)
        self._write_status("refused")
        return "refused"

    def _write_status(self, outcome: str) -> None:
        if self.status is None:
            return
        body = {"outcome": outcome, "error": self.last_error, "at": datetime.now(timezone.utc).isoformat()}
        temporary = self.status.with_suffix(".tmp")
        temporary.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        temporary.replace(self.status)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except Exception:  # the loop must survive anything an editor's file does
                log.exception("guide reload check failed")

    def stop(self) -> None:
        self._stop.set()


_started: GuideReloader | None = None


def start_from_environment() -> GuideReloader | None:
    """Start the watcher once per process (the action server imports `actions`); GUIDE_RELOAD_SECONDS=0 turns it
    off."""
    global _started
    try:
        interval = float(os.environ.get("GUIDE_RELOAD_SECONDS", DEFAULT_INTERVAL_S))
    except ValueError:
        log.error("GUIDE_RELOAD_SECONDS must be a number of seconds; the guide will not reload")
        return None
    if interval <= 0 or _started is not None:
        return _started
    var_dir = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parents[2] / "var")
    _started = GuideReloader(interval=interval, status=var_dir / "guide-reload.json")
    threading.Thread(target=_started.run, name="guide-reload", daemon=True).start()
    return _started
