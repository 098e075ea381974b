"""Parse keyword lists out of whatever a chat model wrote.

Small models answer in numbered lists, comma lists, bullets, JSON, or prose with a preamble;
every shape ends as clean, deduplicated keywords, and garbage ends as an empty list (the
deterministic fallback then tops it up), never as an exception.
"""

from __future__ import annotations

import json
import re

from pmg_engine.keywords.text import INSTRUCTION_WORDS, clean_keyword, dedupe, is_meaningful, words

# Some models answer with a full-width colon.
_PREAMBLE_RE = re.compile(r"^.*?(?:keywords?|tags?)\s*(?:are|is)?\s*[:\uff1a]\s*", re.I | re.S)
_ITEM_RE = re.compile(r"^\s*(?:\d+\s*[.)\]:-]|[-*•·])\s*(.+?)\s*$")
_INLINE_NUMBERED_RE = re.compile(r"(?:^|\s)\d+\s*[.)]\s*")
_FIELD_RE = re.compile(r"(emotion|expression|posture)\s*:\s*([^;\n]+)", re.I)


def _from_json(text: str) -> list[str] | None:
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        data = json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        return None
    if isinstance(data, dict):
        data = data.get("keywords", list(data.values()))
    if isinstance(data, list):
        return [str(item) for item in data if isinstance(item, str | int | float)]
    return None


def _split_items(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    items = [m.group(1) for line in lines if (m := _ITEM_RE.match(line))]
    if len(items) >= 2:
        return items
    body = _PREAMBLE_RE.sub("", text, count=1) if ":" in text else text
    if len(_INLINE_NUMBERED_RE.findall(body)) >= 2:
        return [part for part in _INLINE_NUMBERED_RE.split(body) if part.strip()]
    return re.split(r"[,;\n]|\band\b", body)


def parse_keywords(text: str, *, limit: int | None = None) -> list[str]:
    """Return the keywords in a model's answer, cleaned and deduplicated, at most ``limit``."""
    raw = _from_json(text)
    if raw is None:
        raw = _split_items(text)
    cleaned = [k for item in raw if (k := clean_keyword(item.strip(" .\"'`*"))) is not None]
    result = dedupe(cleaned)
    return result[:limit] if limit is not None else result


def parse_target_fields(text: str) -> dict[str, str]:
    """Return the ``Emotion:``, ``Expression:`` and ``Posture:`` fields of an answer (PAPER 2.2)."""
    fields: dict[str, str] = {}
    for name, value in _FIELD_RE.findall(text):
        key = name.lower()
        # Postures keep their particles ("curled up", "lying down"), unlike keywords.
        tokens = words(value)
        usable = (
            0 < len(tokens) <= 4
            and any(is_meaningful(t) for t in tokens)
            and not set(tokens) & INSTRUCTION_WORDS
        )
        if usable and key not in fields:
            fields[key] = " ".join(tokens)
    return fields
