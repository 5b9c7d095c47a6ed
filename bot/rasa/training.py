"""Train the Rasa model only when its inputs changed (`python -m bot train`, run by `make run`/`make test`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from bot.core.settings import PROJECT_ROOT

MODEL_DIR = PROJECT_ROOT / "models"
MODEL_NAME = "etown"
MODEL = MODEL_DIR / f"{MODEL_NAME}.tar.gz"
FINGERPRINT = MODEL_DIR / f"{MODEL_NAME}.inputs.sha256"
# Everything that changes what `rasa train` produces, including the code of our own components.
INPUTS = ("config.yml", "domain.yml", "data", "bot/nlu", "requirements.lock")


def inputs_fingerprint(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def needs_training() -> bool:
    return not MODEL.exists() or not FINGERPRINT.exists() or FINGERPRINT.read_text().strip() != inputs_fingerprint()


def train(force: bool = False) -> int:
    if not force and not needs_training():
        print(f"model up to date: {MODEL.relative_to(PROJECT_ROOT)}")
        return 0
    fingerprint = inputs_fingerprint()
    print("training the Rasa model (inputs changed)…", flush=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(PROJECT_ROOT)}
    command = [
        str(Path(sys.executable).with_name("rasa")),
        "train",
        "--fixed-model-name",
        MODEL_NAME,
        "--out",
        str(MODEL_DIR),
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "data",
    ]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env)
    if result.returncode == 0 and MODEL.exists():
        FINGERPRINT.write_text(fingerprint + "\n")
    return result.returncode
