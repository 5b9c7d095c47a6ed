"""The project's Rasa NLU graph components, each a thin wrapper over a detector in this package.

`LanguageDetector` marks each message with the language to answer in (a `language` entity that fills the
`language` slot); doing it in the pipeline rather than in a custom action costs no extra round trip per turn. A
language the user chose explicitly arrives as message metadata from the gateway and wins over detection; a message
without language (emoji, digits, a button payload) sets nothing, so the conversation keeps its language.

`GuideEntityExtractor` gives rule-based entities (procedure, permit_category, document, application_number) from
the patterns generated out of knowledge/, and copies the pattern file into the model so a model carries its rules.
The tokenizer and the guide ranker have modules of their own (`tokenizer.py`, `guide_ranker.py`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.entities import EntityRecognizer
from bot.nlu.language import stated_language


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageDetector(GraphComponent, EntityExtractorMixin):
    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            metadata = message.get("metadata") or {}
            chosen = metadata.get("language") if isinstance(metadata, dict) else None
            language = stated_language(explicit=chosen, message=message.get(TEXT) or "")
            if language is None:
                continue
            # The language is a property of the whole message, so the entity spans all of it.
            end = len(message.get(TEXT) or "")
            entity = {"entity": "language", "value": language, "start": 0, "end": end, "confidence_entity": 1.0}
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name([entity]), add_to_output=True)
        return messages


PATTERN_FILE = "entity_patterns.jsonl"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class GuideEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Copies the generated pattern file into the model at training, so a model carries its own rules."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"patterns": "data/generated/entity_patterns.jsonl"}

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        recognizer: EntityRecognizer | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._recognizer = recognizer

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GuideEntityExtractor:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        source = Path(self._config["patterns"])
        with self._model_storage.write_to(self._resource) as directory:
            shutil.copyfile(source, directory / PATTERN_FILE)
        self._recognizer = EntityRecognizer.from_file(source)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GuideEntityExtractor:
        with model_storage.read_from(resource) as directory:
            recognizer = EntityRecognizer.from_file(directory / PATTERN_FILE)
        return cls(config, model_storage, resource, recognizer)

    def process(self, messages: List[Message]) -> List[Message]:
        if self._recognizer is None:
            return messages
        for message in messages:
            found = [
                {"entity": e.label, "value": e.value, "start": e.start, "end": e.end, "confidence_entity": 1.0}
                for e in self._recognizer.extract(message.get(TEXT) or "")
            ]
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found), add_to_output=True)
        return messages
