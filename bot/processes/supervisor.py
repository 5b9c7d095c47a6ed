"""Start the action server, the Rasa servers and the gateway together (`python -m bot run`), print the URLs once
all are healthy, and keep them running: a process that dies is started again after a backoff while the others go
on serving; one that keeps dying stops everything with a message saying which and why. Ctrl-C or SIGTERM stop all.

What each death costs the users (see the README, "When a process dies"): a Rasa server's conversations move to
another live one (the gateway fails over); while the action server is down, turns wait inside Rasa and are then
retried by the gateway; while the gateway restarts, browsers reconnect and resend what was not acknowledged.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator, TextIO
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from bot.core.settings import PROJECT_ROOT, Settings, rasa_processes
from bot.processes import state as process_state
from bot.processes.state import DOWN, RESTARTING, STARTING, UP
from bot.rasa.endpoints import rasa_token, write_runtime_endpoints

# A process still not healthy after SLOW_START_S is reported; one still not healthy after STARTUP_TIMEOUT_S is taken
# as hung. One Rasa start takes ~90 s on a loaded 2-core machine, so the bound is generous: a process that dies is
# noticed at once anyway.
SLOW_START_S = 180
STARTUP_TIMEOUT_S = 600
# One message at a time is tiny maths: extra TensorFlow/BLAS threads only spin, burning the core the other
# processes need (measured: ~2x Rasa's CPU per turn with the defaults on 2 cores). Set them to override.
# Rasa and the action server are Sanic apps, which wait up to 15 s on SIGTERM for idle keep-alive connections (the
# gateway's pool) to close; nothing is lost by closing them sooner.
SANIC_SHUTDOWN = {"SANIC_GRACEFUL_SHUTDOWN_TIMEOUT": os.environ.get("SANIC_GRACEFUL_SHUTDOWN_TIMEOUT", "2")}
ONE_THREAD_MATH = {
    name: os.environ.get(name, "1")
    for name in (
        "TF_INTRA_OP_PARALLELISM_THREADS",
        "TF_INTER_OP_PARALLELISM_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    )
}


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


@dataclass
class Child:
    name: str
    command: list[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    # The gateway's /health answers 503 while a component it depends on is down; for the supervisor, the gateway
    # process is healthy as soon as it answers at all.
    any_answer_is_healthy: bool = False
    # What the supervisor knows (published to var/processes.json for /health).
    state: str = STARTING
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)  # of the current run of fast deaths
    started_at: float = 0.0
    healthy_since: float | None = None
    restart_at: float | None = None
    died_at: float | None = None
    slow_start_said: bool = False


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def children(settings: Settings) -> list[Child]:
    endpoints = write_runtime_endpoints(settings)
    token = rasa_token(settings)
    action_base = settings.action_endpoint.rsplit("/webhook", 1)[0]
    return [
        Child(
            "actions",
            [
                sys.executable, "-m", "bot.rasa.action_server", "--actions", "actions",
                "--port", str(settings.action_port),
            ],
            f"{action_base}/health",
            env={"SANIC_HOST": "127.0.0.1", **SANIC_SHUTDOWN},
        ),
        *_rasa_children(settings, endpoints, token),
        Child(
            "gateway",
            [sys.executable, "-m", "bot", "gateway"],
            f"http://127.0.0.1:{settings.gateway_port}/health",
            any_answer_is_healthy=True,
        ),
    ]


def _stores(settings: Settings) -> str:
    """Which storage this run uses, in a few words, so nobody mistakes a production setup for the default."""
    database = make_url(settings.database_url).get_backend_name()
    if database == "sqlite" and not settings.redis_url:
        return "embedded default: SQLite, in-memory lock store"
    locks = "Redis lock store and gateway hub" if settings.redis_url else "in-memory lock store"
    return f"database: {database}, {locks}"


def _rasa_children(settings: Settings, endpoints: Path, token: str) -> list[Child]:
    """One Rasa server per local URL in settings.rasa_urls ("rasa", "rasa-2", …); remote ones run elsewhere."""
    from bot.rasa.client import rasa_server_name

    servers = []
    for number, url in enumerate(settings.rasa_urls, start=1):
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            continue
        command = [sys.executable, "-m", "bot.rasa.server", "run", "--model", str(settings.model_path)]
        command += ["--endpoints", str(endpoints), "--credentials", "credentials.yml", "--interface", "127.0.0.1"]
        command += ["--port", str(parts.port or 5005), "--enable-api", "--auth-token", token]
        env = {**ONE_THREAD_MATH, **SANIC_SHUTDOWN}
        servers.append(Child(rasa_server_name(number), command, f"{url}/status?token={token}", env=env))
    return servers


def url_healthy(url: str, any_answer: bool = False, timeout_s: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - our own localhost URLs
            return response.status == 200
    except urllib.error.HTTPError:
        return any_answer
    except (urllib.error.URLError, OSError):
        return False


def _child_healthy(child: Child, timeout_s: float = 2) -> bool:
    return url_healthy(child.health_url, child.any_answer_is_healthy, timeout_s)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl), so no
    orphaned server keeps the ports a new `make run` needs."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(child: Child, settings: Settings, die_with_parent: bool = False) -> None:
    """Start (again) one process, its output appended to var/logs/<name>.log. `die_with_parent` only from a
    process's main thread: the death signal follows the thread that started the child, not the process."""
    log_dir = settings.var_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **child.env,
    }
    if child.log is None or child.log.closed:
        child.log = open(log_dir / f"{child.name}.log", "ab")  # noqa: SIM115 - closed in stop()
    child.log.write(f"--- supervisor: starting {child.name}, {time.ctime()}\n".encode())
    child.log.flush()
    child.process = subprocess.Popen(  # noqa: PLW1509 - preexec_fn only calls prctl
        child.command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=child.log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if die_with_parent else None,
    )
    child.started_at = time.monotonic()
    child.healthy_since = None
    child.slow_start_said = False


def start(settings: Settings, quiet: bool = False) -> list[Child]:
    started = children(settings)
    for child in started:
        _spawn(child, settings)
        if not quiet:
            assert child.process is not None
            print(f"started {child.name} (pid {child.process.pid}), log: var/logs/{child.name}.log", flush=True)
    return started


def wait_healthy(started: list[Child], timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    waiting = {child.name: child for child in started}
    while waiting:
        for name, child in list(waiting.items()):
            assert child.process is not None
            if child.process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {child.process.returncode}; see var/logs/{name}.log")
            if _child_healthy(child):
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"not healthy after {timeout_s:.0f} s: {', '.join(waiting)}")
        time.sleep(0.5)


def _signal_group(child: Child, signum: int) -> None:
    if child.process is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signum)


def stop(started: list[Child], grace_s: float = 10, hurry: Callable[[], bool] = lambda: False) -> list[str]:
    """SIGTERM to every process group at once (the gateway first in the list, so it stops taking messages), then
    SIGKILL to whatever still runs after `grace_s` (or at once when `hurry()` turns true: a second Ctrl-C).
    Returns the names of the processes that had to be killed."""
    killed = []
    for child in reversed(started):
        if child.process and child.process.poll() is None:
            _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    running = [child for child in started if child.process is not None]
    while running and time.monotonic() < deadline and not hurry():
        running = [child for child in running if child.process is not None and child.process.poll() is None]
        if running:
            time.sleep(0.05)
    for child in started:
        if child.process is None:
            continue
        if child.process.poll() is None:
            _signal_group(child, signal.SIGKILL)
            child.process.wait()
            killed.append(child.name)
        child.state = DOWN
        if child.log:
            child.log.close()
    return killed


def demo_login(settings: Settings) -> str:
    from bot.handoff.cli import DEMO_USER, demo_password_file

    path = demo_password_file(settings)
    return f"   (demo login: {DEMO_USER} / {path.read_text().strip()})" if path.exists() else ""


def describe_exit(code: int) -> str:
    """ "code 1", or "signal 9 (SIGKILL)" for a process killed by a signal (Popen reports those as -N)."""
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def log_tail(path: Path, lines: int = 12) -> str:
    """The last lines of a process's log, for the message that says why everything stopped."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


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
            _spawn(child, self.settings, die_with_parent=True)
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
                if _child_healthy(child, timeout_s=1):
                    self._healthy(child, now)
                    changed = True
                elif not child.slow_start_said and now - child.started_at > self.policy.slow_start_s:
                    child.slow_start_said = True
                    waited = now - child.started_at
                    self.say(f"{child.name} is still not healthy {waited:.0f} s after starting; waiting")
            elif child.state == RESTARTING and child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                child.restarts += 1
                _spawn(child, self.settings, die_with_parent=True)
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


def run(settings: Settings, policy: RestartPolicy = RestartPolicy()) -> int:
    if not settings.model_path.exists():
        print(f"no model at {settings.model_path}; run `make train` first", file=sys.stderr)
        return 1
    signals: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor = Supervisor(settings, children(settings), policy)
    supervisor.start_all()
    print("waiting for rasa, actions and gateway to be healthy…", flush=True)
    started_at = time.monotonic()
    announced = False
    code = 0
    try:
        while not signals:
            supervisor.step()
            if not announced and supervisor.all_up():
                announced = True
                print(
                    f"\nE-Town work-permit assistant is running ({_stores(settings)}, "
                    f"up in {time.monotonic() - started_at:.0f} s)\n"
                    f"  chat page     {settings.public_url}/\n"
                    f"  staff console {settings.public_url}/staff{demo_login(settings)}\n"
                    f"  health        {settings.public_url}/health\n"
                    f"  rasa (local)  {', '.join(settings.rasa_urls)}\n"
                    "A process that dies is restarted; press Ctrl-C to stop.\n",
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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        _spawn(child, self.settings)
        wait_healthy([child])


@contextlib.contextmanager
def environment_set(values: dict[str, str]) -> Iterator[None]:
    """Set (or, for empty values, unset) environment variables for the duration of a block."""
    saved = {name: os.environ.get(name) for name in values}
    value: str | None  # first a value to set, then one to restore (None: unset)
    for name, value in values.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
    with environment_set(env):
        try:
            settings = load_settings()
            upgrade(settings.database_url)
            started = start(settings, quiet=True)
            wait_healthy(started)
            yield RunningStack(settings, started)
        finally:
            stop(started)
