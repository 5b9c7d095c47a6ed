"""Rasa wrapper around `bot.entities`: rule-based entities (procedure, permit_category, document,
application_number) from the patterns generated out of knowledge/."""

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

from bot.entities import EntityRecognizer

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
