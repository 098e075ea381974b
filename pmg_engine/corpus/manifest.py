"""The corpus manifest: one JSON object per rendering, in a fixed order, as JSON lines."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.jsonl"
# Where `pmg data build` writes the corpus and every command that reads it looks by default.
DEFAULT_CORPUS_DIR = Path("data/corpus")
FILE_MODE = 0o644


@dataclass(frozen=True)
class CorpusItem:
    """One rendering of one concept in one style; ``paths`` are relative to the manifest."""

    id: str
    concept: str
    hexcode: str
    emoji: str
    label: str
    caption: str
    style: str
    source: str
    visual_words: tuple[str, ...]
    group: str
    subgroup: str
    split: str
    paths: dict[int, str]

    @property
    def concept_split(self) -> str:
        """Return ``train``, ``val`` or ``test``: the split of the concept, whatever the style."""
        return "train" if self.split == "style-heldout" else self.split

    @property
    def styled_caption(self) -> str:
        """Return the caption with the style and visual words, as a generator prompt."""
        return ", ".join((self.caption, f"{self.style} style", *self.visual_words))

    def to_json(self) -> dict[str, Any]:
        """Return the item as a JSON object with a fixed key order."""
        return {
            "id": self.id,
            "concept": self.concept,
            "hexcode": self.hexcode,
            "emoji": self.emoji,
            "label": self.label,
            "caption": self.caption,
            "style": self.style,
            "source": self.source,
            "visual_words": list(self.visual_words),
            "group": self.group,
            "subgroup": self.subgroup,
            "split": self.split,
            "paths": {str(size): path for size, path in sorted(self.paths.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorpusItem:
        """Build an item from one manifest line's object."""
        return cls(
            id=data["id"],
            concept=data["concept"],
            hexcode=data["hexcode"],
            emoji=data["emoji"],
            label=data["label"],
            caption=data["caption"],
            style=data["style"],
            source=data["source"],
            visual_words=tuple(data["visual_words"]),
            group=data["group"],
            subgroup=data["subgroup"],
            split=data["split"],
            paths={int(size): path for size, path in data["paths"].items()},
        )


def write_json_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes files private; the corpus is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(path: Path, items: Iterable[CorpusItem]) -> None:
    """Write ``items`` sorted by id, one compact JSON object a line."""
    lines = (
        json.dumps(item.to_json(), ensure_ascii=False, separators=(",", ":"))
        for item in sorted(items, key=lambda item: item.id)
    )
    write_json_atomic(path, "".join(f"{line}\n" for line in lines))


def load_manifest(path: Path) -> list[CorpusItem]:
    """Return the items of a manifest written by ``build_corpus``, in file order."""
    with path.open(encoding="utf-8") as stream:
        return [CorpusItem.from_json(json.loads(line)) for line in stream if line.strip()]
