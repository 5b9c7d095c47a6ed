"""The text catalogue (bot/texts): every key in both languages with the same placeholders, every key the code
names present, and domain.yml's responses generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import texts
from bot.core.settings import PROJECT_ROOT
from bot.rasa import responses

# A literal key handed to t()/both()/template() in the code: `t("cases.status.next", …`.
LITERAL_KEY = re.compile(r"""\b(?:t|both|both_template|template)\(\s*f?["']([a-z_]+\.[a-z0-9_.{}]+)["']""")


def test_the_catalogue_has_both_languages_and_the_same_placeholders_everywhere() -> None:
    assert texts.problems() == []
    assert len(texts.catalogue()) > 100


def test_a_key_with_one_language_or_other_placeholders_is_found(tmp_path: Path) -> None:
    (tmp_path / "area.yml").write_text(
        'only_en:\n  en: "Hello"\n'
        'other_vars:\n  en: "Hello {name}"\n  zh: "你好 {who}"\n'
        'same_root:\n  en: "{day:%b} {day.year}"\n  zh: "{day.year}年"\n'
        'empty:\n  en: "Hi"\n  zh: " "\n'
        'no: \n  en: "a"\n  zh: "b"\n',
        encoding="utf-8",
    )
    found = "\n".join(texts.problems(tmp_path))
    assert "area.only_en: no text in zh" in found
    assert "area.other_vars: placeholders differ" in found
    assert "area.empty: no text in zh" in found
    assert "the key is not a string" in found  # YAML 1.1 read `no:` as False
    assert "same_root" not in found  # a format and an attribute of the same value are the same placeholder


def test_every_key_the_code_names_is_in_the_catalogue() -> None:
    named: dict[str, str] = {}
    for path in [*(PROJECT_ROOT / "bot").rglob("*.py"), *(PROJECT_ROOT / "actions").rglob("*.py")]:
        for key in LITERAL_KEY.findall(path.read_text(encoding="utf-8")):
            named[key] = str(path.relative_to(PROJECT_ROOT))
    assert len(named) > 50
    keys = set(texts.catalogue())
    missing = []
    for key, where in named.items():
        if "{" in key:  # an f-string key: some key must start with its fixed part
            fixed = key.split("{", 1)[0]
            if not any(k.startswith(fixed) for k in keys):
                missing.append(f"{where}: {key}")
        elif key not in keys:
            missing.append(f"{where}: {key}")
    assert missing == []


def test_lookup_fills_placeholders_and_refuses_what_is_missing() -> None:
    assert texts.t("cases.status.next", "zh", action="等待") == "下一步：等待"
    assert texts.both("insights.head.day") == "Day · 日期"
    assert texts.both_template("handoff.staff_joined").format(name="Li") == (
        "Li has joined the conversation. · 工作人员 Li 已接入对话。"
    )
    with pytest.raises(texts.TextError):
        texts.t("cases.no_such_key", "en")
    with pytest.raises(texts.TextError):
        texts.t("cases.expired", "fr")
    with pytest.raises(KeyError):
        texts.t("cases.status.next", "en")  # the value for {action} is missing


def test_domain_responses_are_the_catalogues(monkeypatch: pytest.MonkeyPatch) -> None:
    domain = (PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8")
    assert responses.with_responses(domain) == domain  # current (also covered by generate --check)
    assert texts.t("responses.utter_goodbye", "zh") in domain
    changed = dict(texts.catalogue())
    changed["responses.utter_goodbye"] = {"en": "Bye now.", "zh": "再见。"}
    monkeypatch.setattr(responses, "catalogue", lambda: changed)
    monkeypatch.setattr(responses, "t", lambda key, lang: changed[key][lang])
    regenerated = responses.with_responses(domain)
    assert regenerated != domain and '- text: "Bye now."' in regenerated and 'text: "再见。"' in regenerated
    assert regenerated.count("  utter_goodbye:") == 1 and "\nforms:" in regenerated


def test_one_handoff_button() -> None:
    definitions = [
        str(path.relative_to(PROJECT_ROOT))
        for path in [*(PROJECT_ROOT / "bot").rglob("*.py"), *(PROJECT_ROOT / "actions").rglob("*.py")]
        if "def handoff_button(" in path.read_text(encoding="utf-8")
    ]
    assert definitions == ["bot/handoff/texts.py"]
