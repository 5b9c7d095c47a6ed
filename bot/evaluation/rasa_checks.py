"""`rasa data validate` and `rasa test` on the trained model, as Rasa users run them (part of `make test`).

`rasa data validate` prints two known warnings for the retrieval intent (see domain.yml); real errors fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.core.settings import PROJECT_ROOT
from bot.rasa.training import MODEL


def _rasa(*args: str) -> int:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(PROJECT_ROOT)}
    command = [str(Path(sys.executable).with_name("rasa")), *args]
    print("$ rasa " + " ".join(args), flush=True)
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env).returncode


def main() -> int:
    if _rasa("data", "validate", "--max-history", "3") != 0:
        return 1
    return _rasa(
        "test",
        "--model",
        str(MODEL),
        "--stories",
        "tests/test_conversations.yml",
        "--nlu",
        "data/nlu.yml",
        "--out",
        "results/rasa_test",
        "--fail-on-prediction-errors",
        "--no-plot",
    )
