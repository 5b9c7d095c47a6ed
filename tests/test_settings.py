"""Configuration: every variable the code reads is documented in the README's table; endpoints derive from it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.core import settings as settings_module
from bot.core.settings import load_settings
from bot.rasa.endpoints import COMMITTED_ENDPOINTS, action_token, endpoints

ROOT = Path(__file__).resolve().parents[1]


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for path in list((ROOT / "bot").rglob("*.py")) + list((ROOT / "actions").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', text))
        names |= set(re.findall(r'_(?:int|list)\("([A-Z_]+)"', text))
    return names - {"PYTHON310", "TEST_POSTGRES_URL"}


def test_every_variable_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.MULTILINE))
    assert variables_read_by_the_code() - table == set()


def test_defaults_run_the_embedded_setup(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name in variables_read_by_the_code():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///") and settings.redis_url == ""
    assert settings.gateway_host == "127.0.0.1"
    assert load_settings().secret_key == settings.secret_key  # kept across restarts
    rendered = endpoints(settings)
    # The rendered file carries the action server's token (derived from SECRET_KEY); the committed one cannot.
    assert rendered["action_endpoint"].pop("token") == action_token(settings)
    assert yaml.safe_load(COMMITTED_ENDPOINTS.read_text()) == rendered


def test_redis_url_switches_the_lock_store(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    lock = endpoints(load_settings())["lock_store"]
    assert lock["type"] == "redis" and lock["port"] == 6379 and lock["db"] == 3


def test_bad_numbers_are_reported_by_name(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GATEWAY_PORT", "eighty")
    try:
        settings_module.load_settings()
    except ValueError as exc:
        assert "GATEWAY_PORT" in str(exc)
    else:
        raise AssertionError("a non-numeric port must be refused")
