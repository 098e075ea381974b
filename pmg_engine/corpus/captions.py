"""Emoji concepts and their captions, from emojibase's English data set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Variation selectors only pick text or emoji presentation; skin-tone modifiers only recolour.
# Neither changes what an emoji depicts, so they are left out of the concept key.
_PRESENTATION_SELECTORS = frozenset({"FE0E", "FE0F"})
_SKIN_TONES = frozenset({"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"})
# Skin-tone swatches, hair components and lone regional indicators are parts, not concepts.
_SKIPPED_GROUPS = frozenset({"component", ""})


@dataclass(frozen=True)
class Concept:
    """One base emoji: the thing every style draws, whatever its skin tone or presentation."""

    key: str
    hexcode: str
    emoji: str
    label: str
    tags: tuple[str, ...]
    group: str
    subgroup: str
    order: int

    @property
    def caption(self) -> str:
        """Return the label followed by its tags, e.g. ``grinning face, face, grin``."""
        return build_caption(self.label, self.tags)


def concept_key(hexcode: str) -> str:
    """Return the set-independent key of a codepoint sequence such as ``1f44d-1f3fb-fe0f``."""
    parts = [part.upper().lstrip("0") or "0" for part in hexcode.replace("_", "-").split("-")]
    kept = [part for part in parts if part not in _PRESENTATION_SELECTORS | _SKIN_TONES]
    return "-".join(part.rjust(4, "0") for part in kept)


def build_caption(label: str, tags: tuple[str, ...] | list[str]) -> str:
    """Join ``label`` and the ``tags`` that add something, in order, without repeats."""
    words: list[str] = []
    for word in (label, *tags):
        cleaned = " ".join(word.lower().split())
        if cleaned and cleaned not in words:
            words.append(cleaned)
    return ", ".join(words)


def _group_names(meta: dict[str, Any], kind: str) -> dict[int, str]:
    return {int(number): str(name) for number, name in meta.get(kind, {}).items()}


def load_concepts(emojibase_dir: Path) -> list[Concept]:
    """Return the base emoji of an unpacked ``emojibase-data`` package, in emojibase order.

    Skin-tone variants (emojibase's ``skins``) are not concepts of their own: they would
    multiply people emoji fivefold with captions that differ only in the tone, so the corpus
    keeps one rendering per concept and style.
    """
    # 1. Read the data and the group names.
    entries = json.loads((emojibase_dir / "en" / "data.json").read_text(encoding="utf-8"))
    meta = json.loads((emojibase_dir / "meta" / "groups.json").read_text(encoding="utf-8"))
    groups, subgroups = _group_names(meta, "groups"), _group_names(meta, "subgroups")
    # 2. Keep base emoji of depicting groups, first entry wins on a repeated key.
    concepts: dict[str, Concept] = {}
    for entry in entries:
        group = groups.get(entry["group"], "") if "group" in entry else ""
        if group in _SKIPPED_GROUPS:
            continue
        key = concept_key(entry["hexcode"])
        if key in concepts:
            continue
        concepts[key] = Concept(
            key=key,
            hexcode=entry["hexcode"],
            emoji=entry["emoji"],
            label=entry["label"],
            tags=tuple(entry.get("tags", ())),
            group=group,
            subgroup=subgroups.get(entry.get("subgroup", -1), ""),
            order=int(entry.get("order", 0)),
        )
    # 3. Order by emojibase's own order so ``limit`` keeps a meaningful prefix.
    return sorted(concepts.values(), key=lambda concept: (concept.order, concept.key))
