"""Corpus items and their pixels for training, decoded once and cached as one uint8 array."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from pmg_engine.corpus.manifest import MANIFEST_NAME, CorpusItem, load_manifest

logger = logging.getLogger(__name__)

TRAIN_SPLITS = ("train",)


def load_items(corpus_dir: Path, splits: Sequence[str] = TRAIN_SPLITS) -> list[CorpusItem]:
    """Return the corpus items of ``splits``, in manifest order."""
    manifest = corpus_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"no corpus manifest at {manifest}: run `pmg data build` first")
    items = [item for item in load_manifest(manifest) if item.split in splits]
    if not items:
        raise ValueError(f"the corpus at {corpus_dir} has no items in splits {list(splits)}")
    return items


def style_phrase(item: CorpusItem) -> str:
    """Return what the caption says about looks alone, e.g. ``twemoji style, yellow, flat``."""
    return ", ".join((f"{item.style} style", *item.visual_words))


def _read_rgba(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        rgba = image.convert("RGBA")
        if rgba.size != (size, size):
            rgba = rgba.resize((size, size), Image.Resampling.LANCZOS)
        array = np.asarray(rgba, dtype=np.uint8).copy()
    # Colour under fully transparent pixels is arbitrary in PNGs and hurts the autoencoder
    # with only a small training budget: pin it to black, which premultiplied alpha would give too.
    array[array[..., 3] == 0, :3] = 0
    return array.transpose(2, 0, 1)


def load_images(
    corpus_dir: Path, items: Sequence[CorpusItem], *, size: int, cache_dir: Path
) -> torch.Tensor:
    """Return the items' RGBA pixels ``[N, 4, size, size]`` uint8, decoded once and cached."""
    keys = "\n".join(f"{item.id}\t{item.paths}" for item in items)
    digest = hashlib.sha256(f"{size}\n{keys}".encode()).hexdigest()[:16]
    cache = cache_dir / f"images-{size}px-{digest}.npy"
    if cache.exists():
        return torch.from_numpy(np.load(cache))
    logger.info("decoding %d images at %d px into %s", len(items), size, cache)
    arrays = np.empty((len(items), 4, size, size), dtype=np.uint8)
    for row, item in enumerate(items):
        # Prefer the rendering of the wanted size; resample the nearest other one otherwise.
        source = item.paths.get(size) or item.paths[min(item.paths, key=lambda s: abs(s - size))]
        arrays[row] = _read_rgba(corpus_dir / source, size)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Per process: parts trained side by side may decode the same cache at once.
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp.npy")
    np.save(tmp, arrays)
    os.replace(tmp, cache)
    return torch.from_numpy(arrays)


def to_model_range(rgba: torch.Tensor) -> torch.Tensor:
    """Map uint8 RGBA to floats in [-1, 1], the range diffusers' VAEs read and write."""
    return rgba.float() / 127.5 - 1.0


def from_model_range(values: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] RGBA back to uint8, clamping what the decoder overshoots."""
    return ((values.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
