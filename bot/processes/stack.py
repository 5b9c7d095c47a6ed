"""One whole stack on free loopback ports with its own var/ (for tests, `make eval` and `make bench`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from bot.core.settings import PROJECT_ROOT, Settings, rasa_processes
from bot.processes import state as process_state
from bot.processes.specs import Child, children, spawn, start, stop, wait_healthy


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen[bytes] | None, grace_s: float = 60) -> None:
    """SIGTERM to a whole command run as one child (a `bot run` supervisor, say), SIGKILL if it outlives
    `grace_s`: the supervisor needs its grace to stop its own children, so only a hung one is killed."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class SupervisorRun:
    """`python -m bot run …` started as an operator starts it, in its own process with its output in one file, and
    what its supervisor publishes: for the tests and fault runs that kill the processes it supervises."""

    def __init__(self, env: dict[str, str], var_dir: Path, output: Path) -> None:
        self.env = env
        self.var_dir = var_dir
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self, *arguments: str) -> None:
        with open(self.output, "ab") as out:
            command = [sys.executable, "-m", "bot", "run", *arguments]
            self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=out)

    def states(self) -> dict[str, dict[str, Any]]:
        return process_state.read(self.var_dir)

    def back(self, name: str, old_pid: int) -> bool:
        """Restarted: up again under another pid."""
        entry = self.states().get(name) or {}
        return entry.get("state") == "up" and entry.get("pid") not in (None, old_pid)

    def tail(self, lines: int = 40) -> str:
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Wait for a condition (on the published states, the database, /health…); returns how long it took. The
        condition runs in a thread: it may block on I/O while the clients of the run share this event loop."""
        began = time.monotonic()
        await self.until_each({what: condition}, timeout_s, what)
        return time.monotonic() - began

    async def until_each(
        self, conditions: dict[str, Callable[[], bool]], timeout_s: float, what: str
    ) -> dict[str, float]:
        """Wait for several conditions at once; returns when each first held (monotonic). Fails early, with the
        output's tail, when `bot run` itself exits."""
        held: dict[str, float] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            for name, condition in conditions.items():
                if name not in held and await asyncio.to_thread(condition):
                    held[name] = time.monotonic()
            if len(held) == len(conditions):
                return held
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"`bot run` exited while waiting for {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(set(conditions) - set(held)))
                raise AssertionError(f"{what}: {missing} not within {timeout_s:.0f} s\n{self.tail()}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class RunningStack:
    """A started stack: its settings and processes; one process can be stopped and started again."""

    settings: Settings
    processes: list[Child]

    def child(self, name: str) -> Child:
        return next(c for c in self.processes if c.name == name)

    def stop_one(self, name: str) -> None:
        stop([self.child(name)])

    def start_one(self, name: str) -> None:
        child = self.child(name)
        fresh = next(c for c in children(self.settings) if c.name == name)
        child.command, child.env = fresh.command, fresh.env
        spawn(child, self.settings)
        wait_healthy([child])


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set (or, for empty values, unset) environment variables for the duration of a block."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


@contextlib.contextmanager
def private_stack(var_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """All processes on free ports with their own var/ (for tests, `make eval` and `make bench`)."""
    from bot.core.settings import load_settings
    from bot.db.migrate import upgrade

    extra = extra_env or {}
    gateway, actions = free_port(), free_port()
    rasa_ports = [free_port() for _ in range(int(extra.get("RASA_PROCESSES") or rasa_processes()))]
    env = {
        "VAR_DIR": str(var_dir),
        "GATEWAY_PORT": str(gateway),
        "RASA_PORT": str(rasa_ports[0]),
        "RASA_URL": ",".join(f"http://127.0.0.1:{port}" for port in rasa_ports),
        "ACTION_PORT": str(actions),
        "PUBLIC_URL": f"http://127.0.0.1:{gateway}",
        "ACTION_ENDPOINT": "",
        "DATABASE_URL": "",
        "TRACKER_STORE_URL": "",
        **extra,
    }
    started: list[Child] = []
    with environment(env):
        try:
            settings = load_settings()
            upgrade(settings.database_url)
            started = start(settings, quiet=True)
            wait_healthy(started)
            yield RunningStack(settings, started)
        finally:
            stop(started)
