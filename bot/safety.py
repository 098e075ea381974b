"""A prompt blocklist and the safety hook that judges every output before it is posted."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.errors import Refused
from pmg_engine.service import GenerationResult

Action = Literal["allow", "spoiler", "refuse"]
BLOCKED_PROMPT = "I can't draw that prompt; please ask for something else."


class Blocklist:
    """Words or phrases matched case-insensitively as whole words."""

    def __init__(self, terms: Iterable[str]) -> None:
        cleaned = sorted({" ".join(t.split()).casefold() for t in terms} - {""})
        self.terms = cleaned
        alternatives = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in cleaned)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if cleaned else None

    def matches(self, text: str) -> bool:
        """Return whether ``text`` contains a blocked term."""
        return self._pattern is not None and self._pattern.search(text.casefold()) is not None

    def check_prompt(self, prompt: str | None) -> None:
        """Raise ``Refused`` when the prompt contains a blocked term."""
        if prompt and self.matches(prompt):
            raise Refused(BLOCKED_PROMPT)


@dataclass(frozen=True)
class Verdict:
    """What to do with an output: post it, post it behind a spoiler, or refuse it."""

    action: Action
    reason: str = ""


class OutputSafety(Protocol):
    """The hook every result passes before it is posted (an image classifier can plug in here)."""

    async def judge(self, result: GenerationResult) -> Verdict:
        """Return the verdict on ``result``."""
        ...


class KeywordSafety:
    """Flag an output whose prompt or keywords (learned ones included) hit the blocklist."""

    def __init__(
        self, blocklist: Blocklist, *, action: Literal["off", "spoiler", "refuse"]
    ) -> None:
        self.blocklist = blocklist
        self.action = action

    async def judge(self, result: GenerationResult) -> Verdict:
        """Return ``allow`` unless a blocked term appears in what the output was drawn from."""
        if self.action == "off":
            return Verdict("allow")
        texts: Sequence[str] = [
            result.prompt,
            *result.target_keywords,
            *result.preference_keywords,
        ]
        if any(self.blocklist.matches(t) for t in texts):
            return Verdict(self.action, "it was drawn from a blocked word")
        return Verdict("allow")
