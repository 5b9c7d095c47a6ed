"""The Jieba tokenizer subclass: no blank or punctuation tokens in mixed text (rasa #7910), domain words whole."""

from __future__ import annotations

from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.tokenizer import MixedJiebaTokenizer
from bot.rasa.generate import GENERATED_DIR


def tokens(text: str, tmp_path) -> list[str]:  # type: ignore[no-untyped-def]
    config = {**MixedJiebaTokenizer.get_default_config(), "dictionary_path": str(GENERATED_DIR / "jieba")}
    tokenizer = MixedJiebaTokenizer.create(config, LocalModelStorage(tmp_path), Resource("tok"), None)  # type: ignore[arg-type]
    return [t.text for t in tokenizer.tokenize(Message(data={"text": text}), "text")]


def test_mixed_text_has_no_blank_tokens(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = tokens("申请Z visa 工作许可证 需要什么材料?", tmp_path)
    assert all(t.strip() for t in result)
    assert "visa" in result and "工作许可证" in result and "?" not in result


def test_domain_words_stay_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert "无犯罪记录证明" in tokens("无犯罪记录证明要认证吗", tmp_path)


def test_punctuation_only_message_still_has_a_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert tokens("？？？", tmp_path) == ["？？？"]
