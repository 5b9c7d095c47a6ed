"""The one catalogue of everything the assistant, its actions and its pages say, in both languages.

Each area keeps its wording in one YAML file next to this module (`guide.yml`, `cases.yml`, …); a key is the file
name and the path inside it, dotted: `t("cases.status.next", "zh", action=…)`. A leaf is a mapping with an `en`
and a `zh` text; `{name}` placeholders are filled with `str.format`, so a date can carry its own format
(`{moment:%H:%M}`) and an object its attribute (`{day.year}`). Composition that depends on the data (which
sentence to use, how lines join) stays in the area's code; the words live here.

Where do I add a string? Here: add the key to the area's YAML file with both languages and call `t()`.
`tests/test_texts.py` fails on a key with one language or with different placeholders in the two.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.language import SUPPORTED

CATALOGUE_DIR = Path(__file__).resolve().parent
# The console and the staff notices show both languages in one line: "English · 中文".
BOTH_SEPARATOR = " · "


class TextError(KeyError):
    """A key that is not in the catalogue, or a language it has no text for."""


def _is_leaf(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and bool(node)
        and set(node) <= set(SUPPORTED)
        and all(isinstance(text, str) for text in node.values())
    )


def _flatten(node: Any, prefix: str, into: dict[str, dict[str, str]], problems: list[str]) -> None:
    if _is_leaf(node):
        into[prefix] = node
        return
    if not isinstance(node, dict) or not node:
        problems.append(f"{prefix}: neither a text (en/zh) nor a group of texts")
        return
    for key, child in node.items():
        if not isinstance(key, str):  # YAML 1.1 reads `no:` as False: quote such keys
            problems.append(f"{prefix}.{key!r}: the key is not a string")
            continue
        _flatten(child, f"{prefix}.{key}", into, problems)


def read_catalogue(directory: Path = CATALOGUE_DIR) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Every key of every area file, and what is wrong with the files' shape."""
    texts: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        _flatten(raw, path.stem, texts, problems)
    return texts, problems


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The catalogue, read once per process (the files ship with the code, not with knowledge/)."""
    return read_catalogue()[0]


def template(key: str, lang: str) -> str:
    """The raw text with its placeholders, for a caller that fills them later."""
    try:
        return catalogue()[key][lang]
    except KeyError:
        raise TextError(f"no {lang!r} text for {key!r} in bot/texts") from None


def t(key: str, lang: str, **values: object) -> str:
    """The text of `key` in `lang`, placeholders filled; a missing key, language or value raises."""
    return template(key, lang).format(**values)


def both(key: str, **values: object) -> str:
    """'English · 中文' in one line, for the staff console and the notices every participant sees."""
    return BOTH_SEPARATOR.join(t(key, lang, **values) for lang in SUPPORTED)


def both_template(key: str) -> str:
    """'English · 中文' with the placeholders left in, for a caller that fills them later."""
    return BOTH_SEPARATOR.join(template(key, lang) for lang in SUPPORTED)


def placeholders(text: str) -> set[str]:
    """The names a text fills (`{day.year}` and `{day:%b}` both name `day`)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(text):
        if field is not None:
            names.add(field.split(".", 1)[0].split("[", 1)[0])
    return names


def problems(directory: Path = CATALOGUE_DIR) -> list[str]:
    """What a test must not find: a key without both languages, an empty text, placeholders that differ."""
    texts, found = read_catalogue(directory)
    for key, by_lang in texts.items():
        missing = [lang for lang in SUPPORTED if not by_lang.get(lang, "").strip()]
        if missing:
            found.append(f"{key}: no text in {', '.join(missing)}")
            continue
        try:
            names = {lang: placeholders(by_lang[lang]) for lang in SUPPORTED}
        except ValueError as error:  # an unbalanced brace
            found.append(f"{key}: {error}")
            continue
        if len({frozenset(n) for n in names.values()}) > 1:
            found.append(f"{key}: placeholders differ between languages {names}")
    return found
