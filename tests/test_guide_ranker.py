"""The guide-section ranker: trains from retrieval examples, ranks sections with a "none of the sections" score,
and corrects the intent where the section ranking knows better (a status request, a question about none of the
sections)."""

from __future__ import annotations

from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.guide_ranker import GuideSectionRanker

EXAMPLES = {
    "faq/fees": ["how much does the work permit cost", "is there a fee", "工作许可收费吗", "办证要交钱吗"],
    "faq/check_status": ["where is my application", "check my case status", "我的申请到哪一步了", "查进度"],
    "faq/extension": ["how do I renew my permit", "extend the work permit", "工作许可怎么延期", "续签要提前多久"],
    "out_of_scope": ["what is the weather", "recommend a restaurant", "明天天气怎么样", "讲个笑话"],
}


def trained(tmp_path) -> GuideSectionRanker:  # type: ignore[no-untyped-def]
    messages = []
    for key, texts in EXAMPLES.items():
        intent = key.split("/")[0]
        for text in texts:
            data = {"text": text, "intent": intent}
            if "/" in key:
                data["intent_response_key"] = key
            messages.append(Message(data=data))
    config = {**GuideSectionRanker.get_default_config(), "section_intents": {"check_status": "check_status"}}
    ranker = GuideSectionRanker.create(config, LocalModelStorage(tmp_path), Resource("ranker"), None)  # type: ignore[arg-type]
    ranker.train(TrainingData(training_examples=messages))
    return ranker


def parse(ranker: GuideSectionRanker, text: str, intent: str = "faq") -> Message:
    message = Message(
        data={
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "intent_ranking": [{"name": intent, "confidence": 0.9}, {"name": "greet", "confidence": 0.1}],
        }
    )
    ranker.process([message])
    return message


def test_ranks_sections_like_a_response_selector(tmp_path) -> None:  # type: ignore[no-untyped-def]
    message = parse(trained(tmp_path), "how much is the fee for the permit")
    selector = message.get("response_selector")["faq"]
    assert selector["ranking"][0]["intent_response_key"] == "faq/fees"
    assert selector["response"]["intent_response_key"] == "faq/fees"
    assert all(r["intent_response_key"].startswith("faq/") for r in selector["ranking"])
    assert 0.0 <= selector["none_of_the_sections"] <= 1.0


def test_a_status_request_becomes_the_status_intent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ranker = trained(tmp_path)
    ranker._config["section_intent_confidence"] = 0.3
    message = parse(ranker, "where is my application, check the case")
    assert message.get("intent")["name"] == "check_status"
    assert [r["name"] for r in message.get("intent_ranking")] == ["check_status", "greet"]


def test_a_question_about_none_of_the_sections_becomes_out_of_scope(tmp_path) -> None:  # type: ignore[no-untyped-def]
    message = parse(trained(tmp_path), "what is the weather tomorrow")
    assert message.get("intent")["name"] == "out_of_scope"
    assert message.get("intent")["confidence"] >= 0.9  # the classifier's confidence, so no spurious fallback


def test_without_a_none_intent_the_question_stays_a_guide_question_with_its_none_score(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Then the answer policy reads the score (bot/guide/answers.decide)."""
    ranker = trained(tmp_path)
    ranker._config["none_intent"] = None
    message = parse(ranker, "what is the weather tomorrow")
    selector = message.get("response_selector")["faq"]
    assert message.get("intent")["name"] == "faq"
    assert selector["none_of_the_sections"] > selector["ranking"][0]["confidence"]


def test_other_intents_are_left_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert parse(trained(tmp_path), "where is my application", intent="greet").get("intent")["name"] == "greet"


def test_survives_persist_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ranker = trained(tmp_path)
    loaded = GuideSectionRanker.load(ranker._config, ranker._model_storage, ranker._resource, None)  # type: ignore[arg-type]
    message = parse(loaded, "工作许可怎么延期")
    assert message.get("response_selector")["faq"]["ranking"][0]["intent_response_key"] == "faq/extension"


def test_a_post_with_several_questions_carries_a_ranking_for_each(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ranker = trained(tmp_path)
    single = parse(ranker, "how much does the permit cost").get("response_selector")["faq"]
    assert single["parts"] == []
    post = "My permit expires soon. How do I renew my permit before it runs out? Also, is there a fee for the permit?"
    parts = parse(ranker, post).get("response_selector")["faq"]["parts"]
    tops = {part["text"]: part["ranking"][0][0] for part in parts}
    assert tops["How do I renew my permit before it runs out?"] == "extension"
    assert any(text.startswith("Also") and top == "fees" for text, top in tops.items())
    # The parts rank sections only, never the "none of the sections" class.
    assert all(sid != "__none__" for part in parts for sid, _ in part["ranking"])


def test_the_guide_text_is_fused_only_into_posts_longer_than_the_limit() -> None:
    """guide_terms_min_chars: a short question keeps the classifier's own ranking, a long post gets the fusion."""
    from bot.nlu.guide_ranker import SectionModel, rank_message
    from bot.nlu.guide_terms import GuideTermIndex

    texts = [t for key, items in EXAMPLES.items() for t in items]
    labels = [key.split("/")[1] if "/" in key else "__none__" for key, items in EXAMPLES.items() for _ in items]
    model = SectionModel.fit(texts, labels, 20.0)
    index = GuideTermIndex(
        ["fees", "extension", "check_status"],
        ["The application is free: no fee is charged.", "Extend the permit 30 to 90 days before it expires.",
         "Check the case status with the application number."],
    )
    short = "is there a fee for the permit"
    assert rank_message(model, short, index=index, index_min_chars=40) == rank_message(model, short)
    long = "We hired a new engineer last month and HR keeps asking me about money. " + short + "?"
    assert len(long) > 40
    fused = rank_message(model, long, index=index, index_min_chars=40)
    assert fused == rank_message(model, long, index=index) != rank_message(model, long)
