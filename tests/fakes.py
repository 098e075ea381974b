"""Fakes shared by the tests: a chat model that records its prompts and answers from a script."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import SimpleChatModel
from langchain_core.messages import BaseMessage
from pydantic import Field


class RecordingChatModel(SimpleChatModel):
    """Answer with the scripted responses in turn; keep every prompt it received."""

    responses: list[str]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    fail: bool = False

    @property
    def _llm_type(self) -> str:
        return "recording-fake"

    def _call(self, messages: list[BaseMessage], stop: Any = None, **kwargs: Any) -> str:
        self.calls.append(list(messages))
        if self.fail:
            raise RuntimeError("model server went away")
        return self.responses[(len(self.calls) - 1) % len(self.responses)]
