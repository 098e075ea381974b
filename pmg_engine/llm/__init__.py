"""Chat-model factory: the local offline model, an OpenAI-compatible server, or a given model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pmg_engine.llm.local import LocalChatModel, LocalModelMissing, prepare_smollm2

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.language_models.base import LanguageModelInput
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import Runnable

    from config import LLMSettings

__all__ = [
    "LocalChatModel",
    "LocalModelMissing",
    "bounded",
    "build_chat_model",
    "prepare_smollm2",
]


def build_chat_model(settings: LLMSettings, *, models_dir: Path) -> BaseChatModel:
    """Return the configured chat model; nothing is loaded until it is first called."""
    if settings.provider == "openai":
        from langchain_openai import ChatOpenAI

        api_key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
        return ChatOpenAI(
            model=settings.model,
            base_url=settings.base_url,
            api_key=api_key,
            temperature=0,
            max_completion_tokens=settings.max_new_tokens,
        )
    path = Path(settings.model)
    if not path.is_dir():
        # The default id names the model the project ships through the registry.
        path = prepare_smollm2(models_dir, fetch=False)
    return LocalChatModel(
        model_path=str(path), model_name=settings.model, max_new_tokens=settings.max_new_tokens
    )


def bounded(
    llm: BaseChatModel, *, max_tokens: int, max_sentences: int | None = None
) -> Runnable[LanguageModelInput, BaseMessage]:
    """Return ``llm`` bound to answer in at most ``max_tokens`` tokens (and sentences, locally)."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if isinstance(llm, LocalChatModel):
        return llm.bind(max_new_tokens=max_tokens, max_sentences=max_sentences)
    if type(llm).__name__ == "ChatOpenAI":
        return llm.bind(max_completion_tokens=max_tokens)
    # Other models (test fakes, custom ones) take no length argument; the caller tidies.
    return llm
