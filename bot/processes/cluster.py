"""The cluster profile (`python -m bot run --cluster`, `make cluster`): HAProxy in front of N gateways, two Rasa
servers sharing the tracker store and a Redis lock store, the action server, on PostgreSQL and Redis.

It is built from `deploy/` itself, so what an operator copies is what runs here and in the fault tests: the
environment starts from `deploy/etown.env.example`, each process's command is the `ExecStart=` of its systemd unit
in `deploy/systemd/` (with `%i` and the interpreter filled in), and HAProxy runs on `deploy/haproxy.cfg` (for a
gateway count other than the two it lists, on a copy with one `server` line per gateway). The supervisor keeps
every process running as in `python -m bot run`; HAProxy is one of its processes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.core.settings import PROJECT_ROOT, Settings, load_settings
from bot.processes.specs import Child

DEPLOY = PROJECT_ROOT / "deploy"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "etown.env.example"
HAPROXY_HEALTH = "/haproxy-health"  # the `monitor-uri` of haproxy.cfg
_SERVER_LINE = re.compile(r'^(\s*)server gateway-1 "\$\{ETOWN_GATEWAY_1\}"(.*)$', re.MULTILINE)


class ClusterError(RuntimeError):
    """The cluster cannot start as configured; the message says what to change."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments, blank lines, optional quotes)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def unit_command(unit: str, instance: str | None = None) -> list[str]:
    """The `ExecStart=` of a unit in deploy/systemd/, `%i` filled in and the unit's Python replaced by this one
    (the units name the venv of an installed copy, /opt/etown/.venv)."""
    path = UNITS / unit
    lines = [line for line in path.read_text().splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        raise ClusterError(f"{path} needs exactly one ExecStart= line")
    words = shlex.split(lines[0].removeprefix("ExecStart="))
    if instance is not None:
        words = [word.replace("%i", instance) for word in words]
    if "%i" in " ".join(words):
        raise ClusterError(f"{unit} is a template: it needs an instance")
    if Path(words[0]).name.startswith("python"):
        words[0] = sys.executable
    return words


def haproxy_config(gateways: int, var_dir: Path) -> Path:
    """deploy/haproxy.cfg itself for two gateways; else a copy in var/ with one `server` line per gateway."""
    text = HAPROXY_CFG.read_text()
    match = _SERVER_LINE.search(text)
    if match is None:
        raise ClusterError(f"{HAPROXY_CFG} has no `server gateway-1 \"${{ETOWN_GATEWAY_1}}\"` line")
    indent, options = match.group(1), match.group(2)
    lines = [f'{indent}server gateway-{n} "${{ETOWN_GATEWAY_{n}}}"{options}' for n in range(1, gateways + 1)]
    rendered = re.sub(r'^\s*server gateway-\d+ .*\n', "", text, flags=re.MULTILINE)
    rendered = rendered.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    if rendered == text:
        return HAPROXY_CFG
    path = var_dir / "haproxy.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Rendered from {HAPROXY_CFG.relative_to(PROJECT_ROOT)} for {gateways} gateways.\n" + rendered)
    return path


def cluster_environment(env_file: Path | None = None) -> dict[str, str]:
    """The env file's values under the process environment (a variable already set wins)."""
    defaults = read_env_file(env_file or ENV_EXAMPLE)
    return {**defaults, **{name: value for name, value in os.environ.items()}}


def gateway_ports(settings: Settings, gateways: int) -> list[int]:
    return [settings.gateway_port + n for n in range(gateways)]


def haproxy_port() -> int:
    raw = os.environ.get("HAPROXY_PORT", "8080")
    if not raw.isdigit():
        raise ClusterError(f"HAPROXY_PORT must be a port number, got {raw!r}")
    return int(raw)


def cluster_children(settings: Settings, gateways: int, lb_port: int) -> list[Child]:
    """Action server, one Rasa server per RASA_URL, the gateways, HAProxy: each from its unit or config file."""
    from bot.processes.specs import actions_child, gateway_child
    from bot.rasa.client import rasa_server_name
    from bot.rasa.endpoints import rasa_token

    token = rasa_token(settings)
    processes = [actions_child(settings)]
    processes[0].command = unit_command("etown-actions.service")
    for number, url in enumerate(settings.rasa_urls, start=1):
        port = urlsplit(url).port or 5005
        name = rasa_server_name(number)
        processes.append(Child(name, unit_command("etown-rasa@.service", str(port)), f"{url}/status?token={token}"))
    ports = gateway_ports(settings, gateways)
    for number, port in enumerate(ports, start=1):
        child = gateway_child(settings, f"gateway-{number}", port)
        child.command = unit_command("etown-gateway@.service", str(port))
        processes.append(child)
    haproxy_env = {"ETOWN_HAPROXY_BIND": f"127.0.0.1:{lb_port}"}
    haproxy_env.update({f"ETOWN_GATEWAY_{n}": f"127.0.0.1:{port}" for n, port in enumerate(ports, start=1)})
    command = [haproxy_binary(), "-db", "-f", str(haproxy_config(gateways, settings.var_dir))]
    processes.append(Child("haproxy", command, f"http://127.0.0.1:{lb_port}{HAPROXY_HEALTH}", env=haproxy_env))
    return processes


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)
    if not found:
        raise ClusterError("haproxy is not installed: `make haproxy` (Debian's package) installs it")
    return found


def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database of `url` when it does not exist (connecting to the server's `postgres`
    database); returns whether it was created. Other backends: nothing to do."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).first()
            if exists:
                return False
            quoted = parsed.database.replace('"', '""')
            connection.execute(sa.text(f'CREATE DATABASE "{quoted}"'))
            return True
    finally:
        admin.dispose()


def check_settings(settings: Settings) -> None:
    """A cluster shares its state through PostgreSQL and Redis; refuse the embedded stores with the reason."""
    for name, url in (("DATABASE_URL", settings.database_url), ("TRACKER_STORE_URL", settings.tracker_store_url)):
        if make_url(url).get_backend_name() != "postgresql":
            raise ClusterError(f"the cluster needs {name} on PostgreSQL (see deploy/etown.env.example), got {url}")
    if not settings.redis_url:
        raise ClusterError("the cluster needs REDIS_URL (Redis carries live events and Rasa's locks)")
    for url in settings.rasa_urls:
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            raise ClusterError(f"RASA_URL lists {url}: this command starts local Rasa servers only")
    if not settings.model_path.exists():
        raise ClusterError(f"no model at {settings.model_path}; run `make train` first")


def prepare(settings: Settings) -> None:
    """Create the databases when missing, then migrate (what deploy/systemd/etown-migrate.service does)."""
    from bot.db.migrate import upgrade

    for url in dict.fromkeys((settings.database_url, settings.tracker_store_url)):
        if ensure_database(url):
            print(f"created database {make_url(url).database}", flush=True)
    upgrade(settings.database_url)


def run_cluster(gateways: int = 2, env_file: str | None = None) -> int:
    from bot.processes.supervisor import RestartPolicy, run

    if gateways < 1:
        print("--gateways must be at least 1", file=sys.stderr)
        return 2
    os.environ.update(cluster_environment(Path(env_file) if env_file else None))
    try:
        settings = load_settings()
        check_settings(settings)
        lb_port = haproxy_port()
        processes = cluster_children(settings, gateways, lb_port)
        prepare(settings)
    except (ClusterError, sa.exc.OperationalError) as exc:
        print(f"cannot start the cluster: {exc}", file=sys.stderr)
        return 1
    ports = ", ".join(str(port) for port in gateway_ports(settings, gateways))
    where = f"HAProxy on 127.0.0.1:{lb_port} in front of {gateways} gateways ({ports})"
    return run(settings, RestartPolicy(), processes=processes, where=where)
