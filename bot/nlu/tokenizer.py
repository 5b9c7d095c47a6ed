"""Jieba tokenizer for one model that serves Chinese, English and mixed messages.

Rasa's JiebaTokenizer keeps whitespace tokens in mixed text ("申请Z visa 工作许可证"), which breaks training
(rasa #7910, fix never released), and declares itself Chinese-only. This subclass drops blank and
punctuation-only tokens and accepts any language setting.
"""

from __future__ import annotations

import unicodedata
from typing import Any, List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


def _is_noise(word: str) -> bool:
    return not word.strip() or all(unicodedata.category(ch)[0] in "PSZ" for ch in word)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class MixedJiebaTokenizer(JiebaTokenizer):
    """JiebaTokenizer without whitespace or punctuation tokens, for zh/en/mixed text."""

    @staticmethod
    def supported_languages() -> List[str] | None:
        return None

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        import jieba

        text = message.get(attribute)
        tokens = [Token(word, start) for word, start, _ in jieba.tokenize(text) if not _is_noise(word)]
        if not tokens:
            # Emoji- or punctuation-only messages still need one token for the featurizers.
            stripped = text.strip() or text
            tokens = [Token(stripped, text.find(stripped))] if stripped else [Token(text, 0)]
        return self._apply_token_pattern(tokens)

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return JiebaTokenizer.get_default_config()
