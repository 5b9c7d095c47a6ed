"""Start the action server, the Rasa servers and the gateway together (`python -m bot run`), print the URLs once
all are healthy, and keep them running: a process that dies is started again after a backoff while the others go
on serving; one that keeps dying stops everything with a message saying which and why. Ctrl-C or SIGTERM stop all.

What each death costs the users (see the README, "When a process dies"): a Rasa server's conversations move to
another live one (the gateway fails over); while the action server is down, turns wait inside Rasa and are then
retried by the gateway; while the gateway restarts, browsers reconnect and resend what was not acknowledged.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, TextIO

from bot.core.settings import Settings
from bot.processes import state as process_state
from bot.processes.specs import (
    SLOW_START_S,
    Child,
    child_healthy,
    children,
    describe_exit,
    log_tail,
    spawn,
    stop,
    stores,
)
from bot.processes.state import DOWN, RESTARTING, STARTING, UP


@dataclass(frozen=True)
class RestartPolicy:
    """When to start a dead process again, and when to stop trying.

    A death counts as *fast* when the process had not stayed healthy for `healthy_reset_s` (or never became
    healthy): `max_fast_failures` fast deaths in a row mean restarting will not help (a broken model, a port taken,
    a crash on every start), so everything stops with the reason. A process that stays healthy that long starts
    over with the first backoff and a clean record."""

    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    healthy_reset_s: float = 60.0
    max_fast_failures: int = 5
    # Said once when a process is not healthy this long after a (re)start. It is not killed: on a loaded machine
    # Rasa may simply need longer to load its model, and starting it again would only make that worse.
    slow_start_s: float = SLOW_START_S
    # SIGTERM first; whatever still runs after this many seconds gets SIGKILL.
    grace_s: float = 10.0

    def backoff(self, fast_failures: int) -> float:
        """1 s, 2 s, 4 s … up to max_backoff_s, by the number of fast deaths in a row (at least 1)."""
        return min(self.max_backoff_s, self.first_backoff_s * 2 ** max(0, fast_failures - 1))


def demo_login(settings: Settings) -> str:
    from bot.handoff.cli import DEMO_USER, demo_password_file

    path = demo_password_file(settings)
    return f"   (demo login: {DEMO_USER} / {path.read_text().strip()})" if path.exists() else ""


class GaveUp(RuntimeError):
    """A process kept dying; the message says which, how, and the end of its log."""


class Supervisor:
    """Keeps a set of child processes running; `step()` is one pass of the watch loop (tests drive it)."""

    def __init__(
        self,
        settings: Settings,
        processes: list[Child],
        policy: RestartPolicy = RestartPolicy(),
        out: TextIO = sys.stdout,
    ) -> None:
        self.settings = settings
        self.processes = processes
        self.policy = policy
        self.out = out

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def publish(self) -> None:
        """Write every process's state to var/processes.json (read by the gateway's /health)."""
        entries = {}
        for child in self.processes:
            entries[child.name] = {
                "state": child.state,
                "pid": child.process.pid if child.process and child.process.poll() is None else None,
                "restarts": child.restarts,
                "last_exit": child.exit_codes[-1] if child.exit_codes else None,
            }
        process_state.write(self.settings.var_dir, entries)

    def start_all(self, quiet: bool = False) -> None:
        for child in self.processes:
            spawn(child, self.settings, die_with_parent=True)
            child.state = STARTING
            if not quiet:
                assert child.process is not None
                self.say(f"started {child.name} (pid {child.process.pid}), log: var/logs/{child.name}.log")
        self.publish()

    def step(self) -> None:
        """Notice deaths, start what is due, mark what became healthy; raises GaveUp when one keeps dying."""
        changed = False
        now = time.monotonic()
        for child in self.processes:
            process = child.process
            if child.state in (STARTING, RESTARTING, UP) and process is not None and process.poll() is not None:
                self._died(child, process.returncode, now)
                changed = True
            elif child.state in (STARTING, RESTARTING) and process is not None:
                if child_healthy(child, timeout_s=1):
                    self._healthy(child, now)
                    changed = True
                elif not child.slow_start_said and now - child.started_at > self.policy.slow_start_s:
                    child.slow_start_said = True
                    waited = now - child.started_at
                    self.say(f"{child.name} is still not healthy {waited:.0f} s after starting; waiting")
            elif child.state == RESTARTING and child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                child.restarts += 1
                spawn(child, self.settings, die_with_parent=True)
                assert child.process is not None
                self.say(f"restarting {child.name} (pid {child.process.pid}, restart {child.restarts})")
                changed = True
            stayed_up = child.healthy_since is not None and now - child.healthy_since >= self.policy.healthy_reset_s
            if child.state == UP and stayed_up:
                child.exit_codes.clear()  # the next death starts from the first backoff again
        if changed:
            self.publish()

    def _died(self, child: Child, code: int, now: float) -> None:
        stayed_up = child.healthy_since is not None and now - child.healthy_since >= self.policy.healthy_reset_s
        if stayed_up:
            child.exit_codes.clear()
        child.exit_codes.append(code)
        child.process = None
        child.died_at = now
        fast = len(child.exit_codes)
        if fast >= self.policy.max_fast_failures:
            child.state = DOWN
            self.publish()
            codes = ", ".join(describe_exit(c) for c in child.exit_codes)
            log_path = self.settings.var_dir / "logs" / f"{child.name}.log"
            raise GaveUp(
                f"{child.name} died {fast} times in a row without staying up {self.policy.healthy_reset_s:.0f} s "
                f"(exits: {codes}); restarting it does not help, so everything stops.\n"
                f"  last lines of {log_path}:\n{log_tail(log_path)}"
            )
        delay = self.policy.backoff(fast)
        child.state = RESTARTING
        child.restart_at = now + delay
        child.healthy_since = None
        self.say(f"{child.name} exited with {describe_exit(code)}; restarting it in {delay:g} s, the others run on")

    def _healthy(self, child: Child, now: float) -> None:
        if child.state == RESTARTING and child.died_at is not None:
            self.say(
                f"{child.name} is back (pid {child.process.pid if child.process else '?'}, "
                f"{now - child.died_at:.1f} s after it died)"
            )
        child.state = UP
        child.healthy_since = now

    def all_up(self) -> bool:
        return all(child.state == UP for child in self.processes)

    def stop(self, hurry: Callable[[], bool] = lambda: False) -> None:
        killed = stop(self.processes, self.policy.grace_s, hurry)
        if killed:
            self.say(f"killed {', '.join(killed)} (still running {self.policy.grace_s:g} s after SIGTERM)")
        self.publish()


def run(
    settings: Settings,
    policy: RestartPolicy = RestartPolicy(),
    processes: list[Child] | None = None,
    where: str = "",
) -> int:
    """Start `processes` (by default the single-machine set: actions, Rasa servers, one gateway) and keep them
    running until SIGINT/SIGTERM; `where` adds a line to the banner (the cluster's layout)."""
    if not settings.model_path.exists():
        print(f"no model at {settings.model_path}; run `make train` first", file=sys.stderr)
        return 1
    signals: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor = Supervisor(settings, processes if processes is not None else children(settings), policy)
    supervisor.start_all()
    print(f"waiting for {', '.join(child.name for child in supervisor.processes)} to be healthy…", flush=True)
    started_at = time.monotonic()
    announced = False
    code = 0
    try:
        while not signals:
            supervisor.step()
            if not announced and supervisor.all_up():
                announced = True
                print(
                    f"\nE-Town work-permit assistant is running ({stores(settings)}, "
                    f"up in {time.monotonic() - started_at:.0f} s)\n"
                    f"  chat page     {settings.public_url}/\n"
                    f"  staff console {settings.public_url}/staff{demo_login(settings)}\n"
                    f"  health        {settings.public_url}/health\n"
                    f"  rasa (local)  {', '.join(settings.rasa_urls)}\n"
                    + (f"  layout        {where}\n" if where else "")
                    + "A process that dies is restarted; press Ctrl-C to stop.\n",
                    flush=True,
                )
            time.sleep(0.25)
    except GaveUp as exc:
        print(f"\ngiving up: {exc}", file=sys.stderr, flush=True)
        code = 1
    print("stopping… (Ctrl-C again to stop at once)", flush=True)
    supervisor.stop(hurry=lambda: len(signals) >= 2)
    print("stopped", flush=True)
    return code


