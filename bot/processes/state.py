"""The supervisor's view of its processes, shared through one small JSON file in VAR_DIR.

`python -m bot run` rewrites `var/processes.json` whenever a process changes state; the gateway's `/health` reads
it to tell "restarting" (the supervisor is bringing it back) from "down" (nobody is). A file, not an API: the
gateway is itself one of the supervised processes, and the file outlives its restarts. When the supervisor is gone
(its pid no longer runs), the file says nothing: a stale "restarting" must never hide an outage.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FILE_NAME = "processes.json"
# States a supervised process can be in.
STARTING = "starting"  # spawned, not yet answering its health check (first start)
UP = "up"
RESTARTING = "restarting"  # died; waiting out its backoff or started again and not yet healthy
DOWN = "down"  # stopped, or the supervisor gave up on it


def state_file(var_dir: Path) -> Path:
    return var_dir / FILE_NAME


def write(var_dir: Path, processes: dict[str, dict[str, Any]]) -> None:
    """Replace the file atomically (readers never see half of it)."""
    path = state_file(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"supervisor_pid": os.getpid(), "updated_at": time.time(), "processes": processes}
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(body, indent=1, sort_keys=True))
    os.replace(temporary, path)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(var_dir: Path) -> dict[str, dict[str, Any]]:
    """Each supervised process's entry (state, pid, restarts, last exit code), or {} when no live supervisor
    wrote the file (the gateway runs on its own, or the supervisor was killed)."""
    try:
        body = json.loads(state_file(var_dir).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(body, dict) or not _alive(body.get("supervisor_pid")):
        return {}
    processes = body.get("processes")
    return processes if isinstance(processes, dict) else {}
