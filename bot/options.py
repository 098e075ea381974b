"""Checks on slash-command options: discord.py passes values through unchecked (DESIGN.md 6)."""

from __future__ import annotations

import math

from pmg_engine.errors import InvalidInputError
from pmg_engine.text import clean_text


def weight(value: object) -> float:
    """Return a personalization weight in [0, 1] or raise ``InvalidInputError``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"the weight must be a number between 0 and 1, got {value!r}")
    if not 0 <= value <= 1:
        raise InvalidInputError(f"the weight must be between 0 and 1, got {value:g}")
    return float(value) + 0.0  # -0.0 becomes 0.0, so it reads "0.00"


def optional_weight(value: object) -> float | None:
    """Return ``None`` (use the stored weight) or a checked weight."""
    return None if value is None else weight(value)


def on_off(value: object) -> bool:
    """Return True for ``on`` and False for ``off``; anything else is invalid."""
    if value == "on":
        return True
    if value == "off":
        return False
    raise InvalidInputError(f"choose on or off, not {str(value)[:20]!r}")


def text(value: object, *, name: str, max_chars: int) -> str:
    """Return a cleaned (``clean_text``), non-empty string option of at most ``max_chars``."""
    if isinstance(value, str):
        value = clean_text(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"the {name} must be some text")
    if len(value) > max_chars:
        raise InvalidInputError(f"the {name} has {len(value)} characters; the limit is {max_chars}")
    return value
