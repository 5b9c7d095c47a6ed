"""Marks each message with the language to answer in, as a `language` entity that fills the `language` slot.

Doing it in the NLU pipeline (rather than a custom action) costs no extra round trip per turn. A language the
user chose explicitly arrives as message metadata from the gateway and wins over detection; a message without
language (emoji, digits, a button payload) sets nothing, so the conversation keeps its language.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language import detect_language, normalize_language


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
            chosen = normalize_language(metadata.get("language")) if isinstance(metadata, dict) else None
            language = chosen or detect_language(message.get(TEXT) or "")
            if language is None:
                continue
            # The language is a property of the whole message, so the entity spans all of it.
            end = len(message.get(TEXT) or "")
            entity = {"entity": "language", "value": language, "start": 0, "end": end, "confidence_entity": 1.0}
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name([entity]), add_to_output=True)
        return messages
