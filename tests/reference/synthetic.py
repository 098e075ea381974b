"""A tiny synthetic emoji corpus (PNGs + manifest) and a word-hashing text embedder, for tests.

Each rendering is a disc whose colour encodes its concept and style, so a fake scorer can read
the answer off the pixels.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pmg_engine.corpus.manifest import CorpusItem

CONCEPTS: tuple[tuple[str, str, str], ...] = (
    ("1F431", "cat face", "cat face, cat, face, pet"),
    ("1F436", "dog face", "dog face, dog, face, pet"),
    ("2615", "hot beverage", "hot beverage, coffee, drink, hot"),
    ("1F355", "pizza", "pizza, cheese, slice"),
    ("2764", "red heart", "red heart, heart, love"),
    ("1F680", "rocket", "rocket, space, launch"),
)
STYLES: tuple[str, ...] = ("twemoji", "noto", "fluent-flat", "openmoji")
SIZE = 64
EMBED_DIM = 64


def split_of(concept_index: int, style_index: int) -> str:
    """Return the split of one rendering: the last concept is test, one cell per style held out."""
    if concept_index == len(CONCEPTS) - 1:
        return "test"
    if concept_index == style_index:
        return "style-heldout"
    return "train"


def colour_of(concept_index: int, style_index: int) -> tuple[int, int, int]:
    """Return the disc colour that encodes a concept (red) and a style (green)."""
    return (30 + 40 * concept_index, 30 + 50 * style_index, 128)


def decode_colour(rgb: Sequence[int]) -> tuple[int, int]:
    """Return ``(concept_index, style_index)`` from a disc colour."""
    return round((rgb[0] - 30) / 40), round((rgb[1] - 30) / 50)


def disc(colour: tuple[int, int, int], size: int = SIZE) -> Image.Image:
    """Return an RGBA disc of ``colour`` on transparent black."""
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 <= (size * 0.4) ** 2
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[inside] = (*colour, 255)
    return Image.fromarray(rgba, mode="RGBA")


def write_corpus(root: Path, *, noise: bool = False) -> Path:
    """Write the renderings and ``manifest.jsonl`` under ``root``; return the manifest path.

    ``noise`` fills the discs with random pixels, so PNGs do not compress (for the size cap).
    """
    rng = np.random.default_rng(0)
    lines = []
    for s, style in enumerate(STYLES):
        for c, (concept, label, caption) in enumerate(CONCEPTS):
            rel = f"images/{style}/64px/{concept}.png"
            image = disc(colour_of(c, s))
            if noise:
                rgba = np.asarray(image).copy()
                rgba[..., :3] = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
                image = Image.fromarray(rgba, mode="RGBA")
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(root / rel)
            item = CorpusItem(
                id=f"{style}/{concept}",
                concept=concept,
                hexcode=concept,
                emoji="?",
                label=label,
                caption=caption,
                style=style,
                source=f"{style}-package@1.0.0",
                visual_words=("red", "flat"),
                group="test",
                subgroup="test",
                split=split_of(c, s),
                paths={SIZE: rel},
            )
            lines.append(json.dumps(item.to_json()))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def hash_embed(texts: Sequence[str]) -> NDArray[np.float32]:
    """Embed texts as unit bags of hashed words: shared words make texts similar."""
    out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            out[i, zlib.crc32(word.encode()) % EMBED_DIM] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    result: NDArray[np.float32] = out / np.maximum(norms, 1e-12)
    return result
