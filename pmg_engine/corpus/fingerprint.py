"""What a built corpus is, as one short digest: every item's text fields and its pixels.

Two corpora with the same fingerprint give the same figures to the same models and evaluation
set; the evaluation prints it on every run (DESIGN.md section 5, offline model pack). Pixels are
hashed decoded, not as PNG bytes, so a different zlib that packs the same image otherwise does
not count as a different corpus. Pillow loads when a fingerprint is computed, not on import.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pmg_engine.corpus.manifest import MANIFEST_NAME, CorpusItem, load_manifest

FINGERPRINT_PX = 64
# Bump when what goes into the fingerprint changes, so old and new digests never look alike.
_FINGERPRINT_SCHEME = "pmg-corpus-fingerprint-v1"


@dataclass(frozen=True)
class ItemPrint:
    """One item's identity in a fingerprint: id, split, and the hash of its pixels."""

    id: str
    split: str
    pixels: str


def pixel_hash(path: Path) -> str:
    """Return the SHA-256 of an image's size and RGBA pixels, whatever its PNG encoding."""
    from PIL import Image

    with Image.open(path) as image:
        rgba = image.convert("RGBA")
    digest = hashlib.sha256(f"{rgba.width}x{rgba.height}\n".encode("ascii"))
    digest.update(rgba.tobytes())
    return digest.hexdigest()


def _path_at(item: CorpusItem, size: int) -> str:
    return item.paths.get(size) or item.paths[min(item.paths)]


def item_prints(
    corpus_dir: Path, items: Sequence[CorpusItem] | None = None, *, size: int = FINGERPRINT_PX
) -> list[ItemPrint]:
    """Return id, split and pixel hash at ``size`` px (else the smallest size) of each item."""
    if items is None:
        items = load_manifest(corpus_dir / MANIFEST_NAME)
    return [
        ItemPrint(item.id, item.split, pixel_hash(corpus_dir / _path_at(item, size)))
        for item in items
    ]


def corpus_fingerprint(
    corpus_dir: Path, items: Sequence[CorpusItem] | None = None, *, size: int = FINGERPRINT_PX
) -> str:
    """Return 16 hex digits over every item's fields (not its file paths) and pixels.

    Paths are left out because they name set versions that the pixels already capture.
    """
    if items is None:
        items = load_manifest(corpus_dir / MANIFEST_NAME)
    digest = hashlib.sha256(_FINGERPRINT_SCHEME.encode("ascii"))
    for item, printed in zip(items, item_prints(corpus_dir, items, size=size), strict=True):
        fields = {key: value for key, value in item.to_json().items() if key != "paths"}
        fields["pixels"] = printed.pixels
        line = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]
