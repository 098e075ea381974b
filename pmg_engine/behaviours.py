"""Behaviours as natural language (PMG step 1, PAPER.md section 1.1).

Each event the bot sees becomes one short English line; a profile update reads the newest lines
since the last profile plus the previous keywords, so its cost does not grow with the history.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pmg_engine.states import Kind

MAX_LINE_CHARS = 300
# Modifiers and joiners carry no meaning of their own for a preference profile.
# The replacement character stands for bytes that were not text (``pmg_engine.text``), not a taste.
_SKIPPED_EMOJI_NAME_PREFIXES = (
    "EMOJI MODIFIER",
    "VARIATION SELECTOR",
    "ZERO WIDTH",
    "TAG ",
    "REPLACEMENT CHARACTER",
    "OBJECT REPLACEMENT CHARACTER",
)
_REGIONAL_INDICATOR = range(0x1F1E6, 0x1F200)


@dataclass(frozen=True)
class BehaviourEvent:
    """A behaviour ready to store: its kind, its English line and structured data."""

    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def emoji_names(text: str) -> list[str]:
    """Return the lower-case Unicode names of the emoji in ``text``, in order, without repeats."""
    names: list[str] = []
    for char in text:
        code = ord(char)
        if code < 0x2190 or code in _REGIONAL_INDICATOR:
            continue
        if unicodedata.category(char) != "So":
            continue
        name = unicodedata.name(char, "")
        if not name or name.startswith(_SKIPPED_EMOJI_NAME_PREFIXES):
            continue
        lowered = name.lower()
        if lowered not in names:
            names.append(lowered)
    return names


def message_events(content: str, *, speaker: str = "User") -> list[BehaviourEvent]:
    """Describe a chat message the user wrote, plus one event per emoji it uses."""
    line = f'{speaker} said: "{_clip(content)}"'
    events = [BehaviourEvent("message", line, {"chars": len(content)})]
    for name in emoji_names(content):
        events.append(BehaviourEvent("emoji", f"{speaker} used the emoji {name}", {"name": name}))
    return events


def sticker_request_event(prompt: str, *, kind: Kind = Kind.STICKER) -> BehaviourEvent:
    """Describe an explicit request for a sticker or an image."""
    return BehaviourEvent(
        "sticker_request", f'User asked for a {kind} of "{_clip(prompt, 200)}"', {"kind": str(kind)}
    )


def history_line_events(line: str) -> list[BehaviourEvent]:
    """Read one line of a plain-text history as the terminal chat reads it.

    ``/sticker what`` and ``/image what`` are requests; any other line is a chat message.
    """
    command, _, rest = line.strip().partition(" ")
    if command in {"/sticker", "/image"} and rest.strip():
        return [sticker_request_event(rest.strip(), kind=Kind(command[1:]))]
    return message_events(line)


def feedback_event(
    *, prompt: str, liked: bool, keywords: Sequence[str] = (), generation_id: int | None = None
) -> BehaviourEvent:
    """Describe a 👍 or 👎 on a result, naming what it showed."""
    verb = "liked" if liked else "disliked"
    shown = f" with {', '.join(keywords[:6])}" if keywords else ""
    return BehaviourEvent(
        "feedback",
        f'User {verb} a sticker of "{_clip(prompt, 200)}"{shown}',
        {"liked": liked, "generation_id": generation_id},
    )


def format_history(lines: Sequence[str], *, previous_keywords: Sequence[str] = ()) -> str:
    """Number the behaviour lines (from 1) and prepend what was learned before, if anything."""
    parts = []
    if previous_keywords:
        parts.append("Previously learned keywords: " + ", ".join(previous_keywords))
    parts.extend(f"{i}. {line}" for i, line in enumerate(lines, start=1))
    return "\n".join(parts)
