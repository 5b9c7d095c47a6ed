"""The processes of the assistant, as data: what to start (`Child`), how to start, check and stop one.

`bot.processes.supervisor` keeps a list of them running; `bot.processes.cluster` builds the list of a cluster
from `deploy/`; `bot.processes.stack` starts one on free ports for tests and benches. `python -m bot process
<role>` runs one of them in the foreground (what the systemd units in `deploy/systemd/` start).
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
from typing import IO, Callable
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from bot.core.settings import PROJECT_ROOT, Settings
from bot.processes.state import DOWN, STARTING
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


def actions_child(settings: Settings) -> Child:
    action_base = settings.action_endpoint.rsplit("/webhook", 1)[0]
    command = [sys.executable, "-m", "bot.rasa.action_server", "--actions", "actions"]
    command += ["--port", str(settings.action_port)]
    return Child("actions", command, f"{action_base}/health", env={"SANIC_HOST": "127.0.0.1", **SANIC_SHUTDOWN})


def rasa_child(settings: Settings, name: str, port: int, endpoints: Path, token: str) -> Child:
    command = [sys.executable, "-m", "bot.rasa.server", "run", "--model", str(settings.model_path)]
    command += ["--endpoints", str(endpoints), "--credentials", "credentials.yml", "--interface", "127.0.0.1"]
    command += ["--port", str(port), "--enable-api", "--auth-token", token]
    env = {**ONE_THREAD_MATH, **SANIC_SHUTDOWN}
    return Child(name, command, f"http://127.0.0.1:{port}/status?token={token}", env=env)


def gateway_child(settings: Settings, name: str = "gateway", port: int | None = None) -> Child:
    port = settings.gateway_port if port is None else port
    return Child(
        name,
        [sys.executable, "-m", "bot", "gateway"],
        f"http://127.0.0.1:{port}/health",
        env={"GATEWAY_PORT": str(port)},
        any_answer_is_healthy=True,
    )


def children(settings: Settings) -> list[Child]:
    endpoints = write_runtime_endpoints(settings)
    token = rasa_token(settings)
    return [actions_child(settings), *_rasa_children(settings, endpoints, token), gateway_child(settings)]


def stores(settings: Settings) -> str:
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
        servers.append(rasa_child(settings, rasa_server_name(number), parts.port or 5005, endpoints, token))
    return servers


def exec_role(settings: Settings, role: str, port: int | None) -> None:
    """Become one process of the assistant (`python -m bot process <role>`, what the systemd units start): the
    same command and environment `python -m bot run` gives it, then exec, so the pid a supervisor or systemd
    watches is the server itself."""
    if role == "actions":
        child = actions_child(settings)
        if port is not None:
            child.command[-1] = str(port)
    elif role == "rasa":
        child = rasa_child(settings, role, port or settings.rasa_port, write_runtime_endpoints(settings),
                           rasa_token(settings))
    elif role == "gateway":
        child = gateway_child(settings, port=port)
    else:
        raise ValueError(f"unknown role {role!r}: actions, rasa or gateway")
    env = {**os.environ, **child_environment(), **child.env}
    os.chdir(PROJECT_ROOT)
    os.execve(child.command[0], child.command, env)  # noqa: S606 - our own fixed command


def child_environment() -> dict[str, str]:
    """What every process of the assistant runs with, on top of the environment it was started in."""
    return {"PYTHONPATH": str(PROJECT_ROOT), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def healthy(url: str, any_answer: bool = False, timeout_s: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - our own localhost URLs
            return response.status == 200
    except urllib.error.HTTPError:
        return any_answer
    except (urllib.error.URLError, OSError):
        return False


def child_healthy(child: Child, timeout_s: float = 2) -> bool:
    return healthy(child.health_url, child.any_answer_is_healthy, timeout_s)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl), so no
    orphaned server keeps the ports a new `make run` needs."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(child: Child, settings: Settings, die_with_parent: bool = False) -> None:
    """Start (again) one process, its output appended to var/logs/<name>.log. `die_with_parent` only from a
    process's main thread: the death signal follows the thread that started the child, not the process."""
    log_dir = settings.var_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **child_environment(), **child.env}
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
        spawn(child, settings)
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
            if child_healthy(child):
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


