"""The chat-model factory and the local transformers chat model."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import LLMSettings
from pmg_engine.llm import LocalChatModel, LocalModelMissing, build_chat_model, prepare_smollm2


def test_local_model_answers_greedily(tiny_model_dir: Path) -> None:
    """The local model runs the real generate path and is deterministic (greedy)."""
    model = LocalChatModel(model_path=str(tiny_model_dir), max_new_tokens=5)
    first = model.invoke([("system", "w1 w2"), ("human", "cats pastel")])
    second = model.invoke([("system", "w1 w2"), ("human", "cats pastel")])
    assert isinstance(first.content, str)
    assert first.content == second.content
    assert len(first.content.split()) <= 5


def test_local_model_honours_stop(tiny_model_dir: Path) -> None:
    """Text after a stop sequence is cut."""
    model = LocalChatModel(model_path=str(tiny_model_dir), max_new_tokens=8)
    full = str(model.invoke("cats").content)
    if full.split():
        cut = str(model.invoke("cats", stop=[full.split()[0]]).content)
        assert cut == ""


def test_factory_builds_an_openai_compatible_client() -> None:
    """provider=openai gives a ChatOpenAI pointed at the configured server, temperature 0."""
    from langchain_openai import ChatOpenAI

    settings = LLMSettings(provider="openai", model="qwen2.5", base_url="http://127.0.0.1:9/v1")
    model = build_chat_model(settings, models_dir=Path("unused"))
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "qwen2.5"
    assert model.temperature == 0
    assert str(model.openai_api_base).startswith("http://127.0.0.1:9")


def test_factory_uses_a_local_folder(tiny_model_dir: Path) -> None:
    """A model setting that is a folder loads that folder."""
    model = build_chat_model(LLMSettings(model=str(tiny_model_dir)), models_dir=Path("unused"))
    assert isinstance(model, LocalChatModel)
    assert model.model_path == str(tiny_model_dir)


def test_unprepared_default_model_is_a_clear_error(tmp_path: Path) -> None:
    """Without the prepared model and with fetching off, the error says what to run."""
    with pytest.raises(LocalModelMissing, match="pmg models prepare"):
        build_chat_model(LLMSettings(), models_dir=tmp_path)
    with pytest.raises(LocalModelMissing):
        prepare_smollm2(tmp_path, fetch=False)


@pytest.mark.slow
def test_real_smollm2_keywords_are_grounded() -> None:
    """With the real prepared SmolLM2, keywords come only from the user's words."""
    from pmg_engine.behaviours import message_events
    from pmg_engine.keywords import PreferenceKeywordExtractor

    folder = Path("data/models/smollm2-135m-instruct")
    if not (folder / "config.json").is_file():
        pytest.skip("run `pmg models prepare` first")
    lines = [e.text for e in message_events("I love cats and pastel colours 🐱")]
    model = LocalChatModel(model_path=str(folder), max_new_tokens=48)
    result = PreferenceKeywordExtractor(model, num_keywords=4).extract(lines=lines)
    assert "cats" in result.keywords
    vocabulary = " ".join(lines).lower()
    assert all(w in vocabulary for k in result.keywords for w in k.split())


def test_option_scores_are_constrained_to_the_options(tiny_model_dir: Path) -> None:
    """The local model scores exactly the given options, deterministically."""
    from langchain_core.messages import HumanMessage, SystemMessage

    model = LocalChatModel(model_path=str(tiny_model_dir))
    messages = [SystemMessage("w1 w2"), HumanMessage("cats pastel")]
    first = model.option_scores(messages, ["cats", "pastel", "w3 w4"])
    assert len(first) == 3
    assert all(score < 0 for score in first)
    assert first == model.option_scores(messages, ["cats", "pastel", "w3 w4"])
    # The prompt's cache is reused per option: the order of the options changes nothing.
    backwards = model.option_scores(messages, ["w3 w4", "pastel", "cats"])
    assert backwards == pytest.approx(first[::-1], abs=1e-5)


def test_local_model_reorders_only_candidates(tiny_model_dir: Path) -> None:
    """With a local model the keywords are still the user's own candidates."""
    from pmg_engine.behaviours import message_events
    from pmg_engine.keywords import PreferenceKeywordExtractor

    lines = [e.text for e in message_events("I love cats and pastel colours, frogs too")]
    model = LocalChatModel(model_path=str(tiny_model_dir))
    with_model = PreferenceKeywordExtractor(model, num_keywords=4, model_weight=1.0).extract(
        lines=lines
    )
    without = PreferenceKeywordExtractor(None, num_keywords=4).extract(lines=lines)
    assert sorted(with_model.keywords) == sorted(without.keywords)
    assert with_model.raw_output == ""


def test_one_thread_runs_the_local_model_at_a_time(tiny_model_dir: Path) -> None:
    """A second thread's call waits until the first thread's generate has returned."""
    import threading

    model = LocalChatModel(model_path=str(tiny_model_dir), max_new_tokens=2)
    loaded, _ = model._load()
    real_generate = loaded.generate
    first_inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def generate(*args: object, **kwargs: object) -> object:
        name = threading.current_thread().name
        order.append(f"{name} in")
        if name == "first":
            first_inside.set()
            # Give the second thread a full second to (wrongly) get in; it must not.
            release.wait(timeout=1.0)
        out = real_generate(*args, **kwargs)
        order.append(f"{name} out")
        return out

    loaded.generate = generate
    first = threading.Thread(target=model.invoke, args=("cats",), name="first")
    second = threading.Thread(target=model.invoke, args=("cats",), name="second")
    first.start()
    assert first_inside.wait(timeout=30)
    second.start()
    first.join(timeout=60)
    release.set()
    second.join(timeout=60)
    assert order == ["first in", "first out", "second in", "second out"]


def test_bounded_local_model_caps_the_answer(tiny_model_dir: Path) -> None:
    """A bound of 2 tokens gives at most two words, whatever the model's own default."""
    from pmg_engine.llm import bounded

    model = LocalChatModel(model_path=str(tiny_model_dir), max_new_tokens=12)
    answer = str(bounded(model, max_tokens=2).invoke("cats pastel").content)
    assert len(answer.split()) <= 2
    with pytest.raises(ValueError, match="max_tokens"):
        bounded(model, max_tokens=0)
