"""A whole cluster on loopback for the fault tests and the soak, and the faults to inject into it.

`ClusterRun` starts `python -m bot run --cluster` exactly as an operator does (so deploy/ is what runs), on free
ports, with its own redis-server (which a fault restarts: never the machine's Redis) and its database behind a TCP
proxy in front of PostgreSQL (a fault cuts every connection through it and refuses new ones for a few seconds,
as a network partition would). Every wait is bounded and fails with the end of the supervisor's output.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bot.core.settings import PROJECT_ROOT
from bot.processes.specs import log_tail
from bot.processes.stack import SupervisorRun, free_port

STARTUP_S = 600  # two Rasa servers loading their model side by side on a shared 2-core machine
POSTGRES_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (the gateways count up from GATEWAY_PORT)."""
    for _ in range(50):
        first = free_port()
        if all(_port_free(first + n) for n in range(1, count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target, in its own thread and event loop; `cut()` closes every connection
    and stops listening (new connections are refused) until `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._call(self._listen)

    def _call(self, make: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        self._call(self._cut)

    def restore(self) -> None:
        self._call(self._listen)

    def close(self) -> None:
        self._call(self._cut)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


class RedisServer:
    """A redis-server of our own on a free port, without persistence (a restart loses everything, the worst case)."""

    def __init__(self, work_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.command = [binary, "--port", "0", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.port = free_port()
        self.command[2] = str(self.port)
        self.work_dir = work_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.work_dir / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(self.command, cwd=self.work_dir, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 20
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.work_dir / 'redis.log').read_text()[-500:]}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


class ClusterRun(SupervisorRun):
    """`python -m bot run --cluster` on free ports, its own Redis and a cuttable database; `with` stops it all."""

    def __init__(self, work_dir: Path, gateways: int = 2, extra_env: dict[str, str] | None = None) -> None:
        import sqlalchemy as sa

        self.work_dir = work_dir
        self.gateways = gateways
        self.redis = RedisServer(work_dir)
        admin = sa.engine.make_url(POSTGRES_ADMIN)
        self.proxy = TcpProxy(admin.host or "127.0.0.1", admin.port or 5432)
        self.database = f"etown_cluster_{secrets.token_hex(4)}"
        base = admin.set(host="127.0.0.1", port=self.proxy.port)
        self.direct_url = admin.set(database=self.database).render_as_string(hide_password=False)
        self.lb_port = free_port()
        first_gateway = free_ports(gateways)
        rasa_ports = [free_port(), free_port()]
        self.rasa_urls = [f"http://127.0.0.1:{port}" for port in rasa_ports]
        self.public_url = f"http://127.0.0.1:{self.lb_port}"
        generous = {name: "1000000" for name in (
            "NEW_CONVERSATIONS_PER_HOUR", "HANDOFFS_PER_HOUR", "LOOKUPS_PER_HOUR", "ADDRESS_MESSAGES_PER_MINUTE",
            "FRAMES_PER_MINUTE", "MESSAGES_PER_MINUTE",
        )}
        env = {k: v for k, v in os.environ.items() if k not in ("ACTION_ENDPOINT", "RASA_PROCESSES")}
        env.update(
            VAR_DIR=str(work_dir / "var"),
            DATABASE_URL=base.set(database=self.database).render_as_string(hide_password=False),
            TRACKER_STORE_URL=base.set(database=self.database + "_tracker").render_as_string(hide_password=False),
            REDIS_URL=self.redis.url,
            RASA_URL=",".join(self.rasa_urls),
            RASA_PORT=str(rasa_ports[0]),
            ACTION_PORT=str(free_port()),
            GATEWAY_PORT=str(first_gateway),
            HAPROXY_PORT=str(self.lb_port),
            PUBLIC_URL=self.public_url,
            TRUSTED_PROXIES="127.0.0.1",
            OFFICE_HOURS="always",
            SECRET_KEY="cluster-" + secrets.token_hex(16),
            MODEL_PATH=str(PROJECT_ROOT / "models" / "etown.tar.gz"),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(PROJECT_ROOT),
            **generous,
        )
        env.update(extra_env or {})
        super().__init__(env, work_dir / "var", work_dir / "cluster.out")

    @property
    def ws_url(self) -> str:
        return self.public_url.replace("http", "ws", 1) + "/ws"

    def names(self) -> list[str]:
        return ["actions", "rasa", "rasa-2", *(f"gateway-{n}" for n in range(1, self.gateways + 1)), "haproxy"]

    def start(self) -> None:
        self.launch("--cluster", "--gateways", str(self.gateways))

    def __enter__(self) -> ClusterRun:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.redis.stop()
            self.proxy.close()
            self._drop_databases()

    def _drop_databases(self) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                for name in (self.database, self.database + "_tracker"):
                    terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    connection.execute(sa.text(terminate), {"n": name})
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        finally:
            engine.dispose()

    # -- what the supervisor publishes ----------------------------------------------------------------------------

    def pid(self, name: str) -> int:
        pid = (self.states().get(name) or {}).get("pid")
        if not pid:
            raise AssertionError(f"{name} has no pid: {self.states()}")
        return int(pid)

    def all_up(self) -> bool:
        states = self.states()
        return sorted(states) == sorted(self.names()) and all(e["state"] == "up" for e in states.values())

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The end of one process's own log (HAProxy's says when and why it took a gateway out)."""
        return log_tail(self.var_dir / "logs" / f"{name}.log", lines)

    # -- faults ---------------------------------------------------------------------------------------------------

    def kill(self, name: str) -> int:
        """kill -9 of one process (HAProxy and the supervisor are never the target); returns its pid."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def rss_kb(self) -> dict[str, int]:
        """Each process's resident memory (VmRSS), by name."""
        sizes = {}
        for name, entry in self.states().items():
            try:
                status = Path(f"/proc/{entry.get('pid')}/status").read_text()
            except (OSError, TypeError):
                continue
            line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
            sizes[name] = int(line.split()[1])
        return sizes
