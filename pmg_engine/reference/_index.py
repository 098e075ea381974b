"""Load the reference index and find the rendering nearest to a target text."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from pmg_engine.reference._format import (
    EMBEDDING_MODEL,
    EMBEDDINGS_NAME,
    FORMAT,
    FORMAT_VERSION,
    INDEX_NAME,
    ITEMS_NAME,
    THUMBNAILS_NAME,
    EmbedFn,
    ReferenceIndexError,
    minilm_embedder,
    unit_rows,
)

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True, eq=False)
class ReferenceItem:
    """One rendering of the index, its similarity to the query, and its RGBA thumbnail."""

    id: str
    concept: str
    label: str
    caption: str
    style: str
    score: float
    image: Image.Image


@dataclass(frozen=True)
class _Entry:
    id: str
    concept: str
    label: str
    caption: str
    style: str
    row: int


class ReferenceIndex:
    """Thumbnails and caption vectors of corpus renderings, searched by MiniLM similarity."""

    def __init__(
        self,
        *,
        meta: dict[str, Any],
        entries: list[_Entry],
        vectors: NDArray[np.float32],
        data: NDArray[np.uint8],
        offsets: NDArray[np.int64],
        embed: EmbedFn,
    ) -> None:
        self.meta = meta
        self._entries = entries
        self._vectors = vectors
        self._data = data
        self._offsets = offsets
        self._embed = embed
        self._rows = np.array([e.row for e in entries], dtype=np.int64)
        self._by_style: dict[str, NDArray[np.int64]] = {
            style: np.flatnonzero([e.style == style for e in entries])
            for style in dict.fromkeys(e.style for e in entries)
        }
        # Without a style, one rendering per concept (the first in index order, i.e. the build's
        # style order): otherwise the k best would be one concept in k styles.
        first: dict[str, int] = {}
        for position, entry in enumerate(entries):
            first.setdefault(entry.concept, position)
        self._any_style = np.array(sorted(first.values()), dtype=np.int64)

    @classmethod
    def load(cls, folder: Path | str, *, embed: EmbedFn | None = None) -> ReferenceIndex:
        """Read an index folder; ``embed`` defaults to all-MiniLM-L6-v2 from the wheel."""
        folder = Path(folder)
        # 1. The description, checked before anything large is read.
        if not (folder / INDEX_NAME).is_file():
            raise ReferenceIndexError(
                f"no reference index at {folder} (missing {INDEX_NAME}): build one with "
                "`pmg data reference-index`"
            )
        meta: dict[str, Any] = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise ReferenceIndexError(
                f"{folder} is not a version {FORMAT_VERSION} reference index: rebuild it"
            )
        if embed is None and meta["embedding"]["model"] != EMBEDDING_MODEL:
            raise ReferenceIndexError(
                f"{folder} was embedded with {meta['embedding']['model']}, not {EMBEDDING_MODEL}"
            )
        # 2. Items, caption vectors and the packed thumbnails (no pickles).
        with (folder / ITEMS_NAME).open(encoding="utf-8") as stream:
            entries = [
                _Entry(
                    id=d["id"],
                    concept=d["concept"],
                    label=d["label"],
                    caption=d["caption"],
                    style=d["style"],
                    row=int(d["embedding"]),
                )
                for d in map(json.loads, filter(str.strip, stream))
            ]
        vectors = np.load(folder / EMBEDDINGS_NAME, allow_pickle=False).astype(np.float32)
        with np.load(folder / THUMBNAILS_NAME, allow_pickle=False) as packed:
            data, offsets = packed["data"], packed["offsets"]
        if len(offsets) != len(entries) + 1 or not entries:
            raise ReferenceIndexError(f"{folder} is damaged: items and thumbnails disagree")
        return cls(
            meta=meta,
            entries=entries,
            vectors=vectors,
            data=data,
            offsets=offsets,
            embed=embed or minilm_embedder(),
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def styles(self) -> tuple[str, ...]:
        """The styles the index holds, in build order."""
        return tuple(self._by_style)

    def thumbnail(self, position: int) -> Image.Image:
        """Decode the RGBA thumbnail of the item at ``position``."""
        from PIL import Image

        start, end = int(self._offsets[position]), int(self._offsets[position + 1])
        with Image.open(io.BytesIO(self._data[start:end].tobytes())) as image:
            return image.convert("RGBA")

    def nearest(
        self, target_text: str, *, style: str | None = None, k: int = 1
    ) -> list[ReferenceItem]:
        """Return the ``k`` items whose captions are nearest to ``target_text``, best first.

        Only items of ``style`` when the index holds it; otherwise one item per concept of any
        style. Ties keep index order, so the answer is deterministic.
        """
        # 1. Validate.
        if not isinstance(target_text, str) or not target_text.strip():
            raise ValueError(f"target_text must be a non-empty string, got {target_text!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        if style is not None and not isinstance(style, str):
            raise ValueError(f"style must be a style name or None, got {style!r}")

        # 2. Similarity of the target to every distinct caption.
        query = unit_rows(self._embed([target_text]))
        if query.shape != (1, self._vectors.shape[1]):
            raise ValueError(
                f"embed gave shape {query.shape}; the index holds {self._vectors.shape[1]}-dim "
                "vectors"
            )
        caption_scores = self._vectors @ query[0]

        # 3. Candidates in the asked style (or any), best score first, then index order.
        positions = self._by_style.get(style, self._any_style) if style else self._any_style
        scores = caption_scores[self._rows[positions]]
        order = np.lexsort((positions, -scores))[:k]
        return [self._item(int(positions[i]), float(scores[i])) for i in order]

    def _item(self, position: int, score: float) -> ReferenceItem:
        entry = self._entries[position]
        return ReferenceItem(
            id=entry.id,
            concept=entry.concept,
            label=entry.label,
            caption=entry.caption,
            style=entry.style,
            score=score,
            image=self.thumbnail(position),
        )
