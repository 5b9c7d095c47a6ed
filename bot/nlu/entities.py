"""Exact extraction of guide terms and case numbers with a rule-based spaCy pipeline the project builds itself.

No statistical model is downloaded: a blank pipeline whose tokenizer keeps English words whole and splits
Chinese into characters, so one PhraseMatcher serves English, Chinese and mixed text ("申请Z visa").
Phrases come from `knowledge/glossary.yml` via the generated `data/generated/entity_patterns.jsonl`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.matcher import PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Span
from spacy.util import compile_infix_regex, filter_spans

_CJK_CHAR = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
# Characters a user may type between parts of a name ("Category-B", "Z_visa"); matched as spaces.
_JOINERS = str.maketrans({"-": " ", "_": " ", "‐": " ", "–": " ", "/": " "})


@dataclass(frozen=True)
class EntityPattern:
    """A phrase (or a regular expression) that names an entity with a canonical value."""

    label: str
    value: str = ""
    phrase: str = ""
    regex: str = ""


@dataclass(frozen=True)
class Entity:
    label: str
    value: str
    start: int
    end: int
    text: str


def comparable_text(text: str) -> str:
    """Full-width letters and digits become ASCII, joiners become spaces; the length never changes,
    so offsets found in the result are offsets in the original."""
    chars = []
    for char in text:
        folded = unicodedata.normalize("NFKC", char)
        chars.append(folded if len(folded) == 1 else char)
    return "".join(chars).translate(_JOINERS)


def blank_pipeline() -> spacy.language.Language:
    """A blank English pipeline whose tokenizer also splits every Chinese character into its own token."""
    nlp = spacy.blank("en")
    infixes = list(nlp.Defaults.infixes or ()) + [rf"(?<={_CJK_CHAR})", rf"(?={_CJK_CHAR})"]
    tokenizer = nlp.tokenizer
    assert isinstance(tokenizer, Tokenizer)  # a blank pipeline has spaCy's rule-based tokenizer
    tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    return nlp


class EntityRecognizer:
    """Finds procedures, permit categories, documents and application numbers in a message."""

    def __init__(self, patterns: list[EntityPattern]) -> None:
        self.nlp = blank_pipeline()
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        # match key -> (label, canonical value); a regex pattern's value is the normalised match itself
        self._keys: dict[str, tuple[str, str | None]] = {}
        self._regexes: list[tuple[str, re.Pattern[str]]] = []
        for index, pattern in enumerate(patterns):
            key = f"p{index}"
            if pattern.regex:
                self._keys[key] = (pattern.label, None)
                self._regexes.append((key, re.compile(pattern.regex, re.IGNORECASE)))
            else:
                self._keys[key] = (pattern.label, pattern.value)
                self.matcher.add(key, [self.nlp.make_doc(comparable_text(pattern.phrase))])

    @classmethod
    def from_file(cls, path: Path | str) -> EntityRecognizer:
        return cls(read_patterns(Path(path)))

    def extract(self, text: str) -> list[Entity]:
        """Longest non-overlapping matches, in text order."""
        if not text:
            return []
        folded = comparable_text(text)
        doc = self.nlp.make_doc(folded)
        spans = [Span(doc, start, end, label=match_id) for match_id, start, end in self.matcher(doc)]
        for key, regex in self._regexes:
            for found in regex.finditer(folded):
                span = doc.char_span(found.start(), found.end(), label=key, alignment_mode="expand")
                if span is not None:
                    spans.append(span)
        entities = []
        for span in sorted(filter_spans(spans), key=lambda s: s.start_char):
            label, value = self._keys[span.label_]
            if value is None:
                value = re.sub(r"\s+", "", span.text).upper()
            entities.append(Entity(label, value, span.start_char, span.end_char, text[span.start_char : span.end_char]))
        return entities


def read_patterns(path: Path) -> list[EntityPattern]:
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            patterns.append(EntityPattern(**json.loads(line)))
    return patterns


def write_patterns(patterns: list[EntityPattern]) -> str:
    """JSON lines, one pattern each, stable order (the file is generated and committed)."""
    rows = [{k: v for k, v in vars(p).items() if v} for p in patterns]
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
