"""Images in and out of the evaluation: corpus renderings, and the sample grid."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pmg_engine.corpus.manifest import CorpusItem

if TYPE_CHECKING:
    from PIL import Image

# Every `pmg eval` command writes here; docs/samples/ only with --docs, when the docs change.
DEFAULT_EVAL_DIR = Path("data/eval")
DOCS_SAMPLES_DIR = Path("docs/samples")


def load_images(corpus_dir: Path, items: Sequence[CorpusItem], size: int = 64) -> list[Image.Image]:
    """Read each item's rendering of ``size`` px (else its smallest) as RGBA."""
    from PIL import Image

    images = []
    for item in items:
        rel = item.paths.get(size) or item.paths[min(item.paths)]
        with Image.open(corpus_dir / rel) as image:
            images.append(image.convert("RGBA"))
    return images


def save_grid(
    images: Sequence[Image.Image], path: Path, *, columns: int = 8, tile: int = 64
) -> Path:
    """Write ``images`` as a grid of ``tile`` px cells on white, row by row, to ``path``."""
    from PIL import Image

    if not images:
        raise ValueError("save_grid needs at least one image")
    if columns < 1 or tile < 1:
        raise ValueError(f"columns and tile must be positive, got {columns} and {tile}")
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), "white")
    for i, image in enumerate(images):
        cell = image.convert("RGBA").resize((tile, tile), Image.Resampling.LANCZOS)
        # Pasted through its alpha: transparent stickers show on white, not on black.
        sheet.paste(cell, ((i % columns) * tile, (i // columns) * tile), cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sheet.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)
    return path
