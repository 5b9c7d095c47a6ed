"""Start the action server, the Rasa server and the gateway together, wait until all are healthy, print the
URLs; stop all three cleanly on Ctrl-C or when one of them dies (`python -m bot run`)."""

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
from typing import IO, Iterator
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from bot.rasa_config import rasa_token, write_runtime_endpoints
from bot.settings import PROJECT_ROOT, Settings, rasa_processes

STARTUP_TIMEOUT_S = 180
# One message at a time is tiny maths: extra TensorFlow/BLAS threads only spin, burning the core the other
# processes need (measured: ~2x Rasa's CPU per turn with the defaults on 2 cores). Set them to override.
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


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def children(settings: Settings) -> list[Child]:
    endpoints = write_runtime_endpoints(settings)
    token = rasa_token(settings)
    action_base = settings.action_endpoint.rsplit("/webhook", 1)[0]
    return [
        Child(
            "actions",
            [sys.executable, "-m", "bot.action_server", "--actions", "actions", "--port", str(settings.action_port)],
            f"{action_base}/health",
            env={"SANIC_HOST": "127.0.0.1"},
        ),
        *_rasa_children(settings, endpoints, token),
        Child("gateway", [sys.executable, "-m", "bot", "gateway"], f"http://127.0.0.1:{settings.gateway_port}/health"),
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
    servers = []
    for number, url in enumerate(settings.rasa_urls, start=1):
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            continue
        command = [sys.executable, "-m", "bot.rasa_server", "run", "--model", str(settings.model_path)]
        command += ["--endpoints", str(endpoints), "--credentials", "credentials.yml", "--interface", "127.0.0.1"]
        command += ["--port", str(parts.port or 5005), "--enable-api", "--auth-token", token]
        name = "rasa" if number == 1 else f"rasa-{number}"
        servers.append(Child(name, command, f"{url}/status?token={token}", env=ONE_THREAD_MATH))
    return servers


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own localhost URLs
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _spawn(child: Child, settings: Settings) -> None:
    log_dir = settings.var_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **child.env,
    }
    child.log = open(log_dir / f"{child.name}.log", "ab")  # noqa: SIM115 - closed in stop()
    child.process = subprocess.Popen(
        child.command, cwd=PROJECT_ROOT, env=env, stdout=child.log, stderr=subprocess.STDOUT, start_new_session=True
    )


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
            if _healthy(child.health_url):
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"not healthy after {timeout_s:.0f} s: {', '.join(waiting)}")
        time.sleep(0.5)


def stop(started: list[Child], grace_s: float = 15) -> None:
    for child in reversed(started):
        if child.process and child.process.poll() is None:
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in reversed(started):
        if child.process:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        if child.log:
            child.log.close()


def demo_login(settings: Settings) -> str:
    from bot.handoff.cli import DEMO_USER, demo_password_file

    path = demo_password_file(settings)
    return f"   (demo login: {DEMO_USER} / {path.read_text().strip()})" if path.exists() else ""


def run(settings: Settings) -> int:
    if not settings.model_path.exists():
        print(f"no model at {settings.model_path}; run `make train` first", file=sys.stderr)
        return 1
    started = start(settings)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("waiting for rasa, actions and gateway to be healthy…", flush=True)
        wait_healthy(started)
        print(
            f"\nE-Town work-permit assistant is running ({_stores(settings)})\n"
            f"  chat page     {settings.public_url}/\n"
            f"  staff console {settings.public_url}/staff{demo_login(settings)}\n"
            f"  health        {settings.public_url}/health\n"
            f"  rasa (local)  {', '.join(settings.rasa_urls)}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stopping:
            for child in started:
                if child.process and child.process.poll() is not None:
                    print(f"{child.name} exited with code {child.process.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    except RuntimeError as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        stop(started)
        return 1
    print("stopping…", flush=True)
    stop(started)
    return 0


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
def _environment(values: dict[str, str]) -> Iterator[None]:
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
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def private_stack(var_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """All processes on free ports with their own var/ (for tests, `make eval` and `make bench`)."""
    from bot.db.migrate import upgrade
    from bot.settings import load_settings

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
    with _environment(env):
        try:
            settings = load_settings()
            upgrade(settings.database_url)
            started = start(settings, quiet=True)
            wait_healthy(started)
            yield RunningStack(settings, started)
        finally:
            stop(started)
