"""Training and held-out pairs for the sticker upscaler, rendered from the corpus's vector sources.

A pair is one master drawing fitted twice with the corpus's own ``fit_square``: at 64 px (what
the generator learnt to draw) and at 256 px (the target). Train pairs come from ``train``-split
items; held-out pairs from ``val`` and ``test`` items, concepts no part of the pack trained on.
Items are taken in the order of a salted hash of their id, so the same corpus always gives the
same pairs; they are cached as one ``.npz`` keyed by the corpus fingerprint and the settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from pmg_engine.corpus.manifest import MANIFEST_NAME, CorpusItem, load_manifest

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

LOW_PX = 64
HIGH_PX = 256
# SVGs are drawn at twice the target so that the 256 px target is a downscale, never an
# enlargement that would teach the net to imitate a resampler.
PAIR_MASTER_PX = 512
TRAIN_SPLITS = ("train",)
HELDOUT_SPLITS = ("val", "test")
DEFAULT_TRAIN_PAIRS = 2000
DEFAULT_HELDOUT_PAIRS = 200
DEFAULT_PAIRS_DIR = Path("data/train/upscaler")
# Bump when what a pair is changes, so an old cache is never read as a new one.
PAIRS_VERSION = 2
_ORDER_SALT = "pmg-upscaler-pairs-v1"

Master = tuple[str, "Image.Image"]


@dataclass(frozen=True)
class Pairs:
    """Straight uint8 RGBA pairs ``[N, H, W, 4]``: low-resolution inputs and their targets."""

    train_low: NDArray[np.uint8]
    train_high: NDArray[np.uint8]
    heldout_low: NDArray[np.uint8]
    heldout_high: NDArray[np.uint8]
    train_ids: tuple[str, ...]
    heldout_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        for low, high, ids in (
            (self.train_low, self.train_high, self.train_ids),
            (self.heldout_low, self.heldout_high, self.heldout_ids),
        ):
            if not len(low) == len(high) == len(ids):
                raise ValueError(
                    f"pairs need as many inputs, targets and ids, got {len(low)}, {len(high)}, "
                    f"{len(ids)}"
                )
            if low.ndim != 4 or high.ndim != 4 or low.shape[-1] != 4 or high.shape[-1] != 4:
                raise ValueError(f"pairs must be [N, H, W, 4], got {low.shape} and {high.shape}")

    @property
    def scale(self) -> int:
        """How many times larger the targets are than the inputs."""
        return int(self.train_high.shape[1] // self.train_low.shape[1])

    def save(self, path: Path) -> None:
        """Write all arrays into one compressed ``.npz`` through a temporary file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(
            tmp,
            train_low=self.train_low,
            train_high=self.train_high,
            heldout_low=self.heldout_low,
            heldout_high=self.heldout_high,
            train_ids=np.array(self.train_ids, dtype=str),
            heldout_ids=np.array(self.heldout_ids, dtype=str),
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Pairs:
        """Read pairs written by ``save``."""
        with np.load(path) as data:
            return cls(
                train_low=data["train_low"],
                train_high=data["train_high"],
                heldout_low=data["heldout_low"],
                heldout_high=data["heldout_high"],
                train_ids=tuple(str(i) for i in data["train_ids"]),
                heldout_ids=tuple(str(i) for i in data["heldout_ids"]),
            )


def fit_pair(
    master: Image.Image, *, low: int = LOW_PX, high: int = HIGH_PX
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
    """Return ``(low, high)`` straight RGBA fits of ``master``, or ``None`` if it cannot give both.

    The input is the corpus's own ``fit_square(master, low)``; the target is the same layout
    ``high / low`` times larger. Fitting each size on its own would round the drawing's size
    and offset separately, a shift of up to two target pixels that no upscaler can predict.
    ``None`` also when the drawing is smaller than the target's drawn size: the target would
    then be an enlargement itself (Noto's glyphs come at one 136 px strike).
    """
    from PIL import Image

    from pmg_engine.corpus.render import FILL, clear_transparent, fit_square

    if high % low:
        raise ValueError(f"high must be a multiple of low, got low={low!r}, high={high!r}")
    bbox = master.getchannel("A").getbbox()
    if bbox is None or max(bbox[2] - bbox[0], bbox[3] - bbox[1]) < FILL * high:
        return None
    small = fit_square(master, low)
    if small is None:
        return None
    scale = high // low
    # The 64 px layout: where fit_square put the drawing, read back from its alpha.
    drawing = master.crop(bbox)
    ratio = FILL * low / max(drawing.size)
    width = max(1, round(drawing.width * ratio))
    height = max(1, round(drawing.height * ratio))
    left, top = (low - width) // 2, (low - height) // 2
    large = drawing.resize((width * scale, height * scale), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (high, high), (0, 0, 0, 0))
    canvas.paste(large, (left * scale, top * scale))
    target = clear_transparent(np.asarray(canvas, dtype=np.uint8))
    return np.asarray(small, dtype=np.uint8).copy(), target


def stack_pairs(
    masters: Iterable[Master], *, count: int, low: int = LOW_PX, high: int = HIGH_PX
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], tuple[str, ...]]:
    """Fit masters in order until ``count`` pairs are made; return inputs, targets and ids."""
    lows = np.zeros((count, low, low, 4), dtype=np.uint8)
    highs = np.zeros((count, high, high, 4), dtype=np.uint8)
    ids: list[str] = []
    for item_id, master in masters:
        if len(ids) == count:
            break
        pair = fit_pair(master, low=low, high=high)
        if pair is None:
            continue
        lows[len(ids)], highs[len(ids)] = pair
        ids.append(item_id)
    return lows[: len(ids)], highs[: len(ids)], tuple(ids)


def pair_order(items: Sequence[CorpusItem]) -> list[CorpusItem]:
    """Return ``items`` in the fixed order pairs are drawn in (a salted hash of the id)."""

    def key(item: CorpusItem) -> bytes:
        return hashlib.sha256(f"{_ORDER_SALT}\x1f{item.id}".encode()).digest()

    return sorted(items, key=key)


def corpus_masters(
    items: Sequence[CorpusItem], *, sources_cache: Path, master_px: int = PAIR_MASTER_PX
) -> Iterator[Master]:
    """Yield ``(item id, master)`` for ``items`` in order, drawn from each item's own artwork.

    An item whose set is not in the cache, whose set version differs from the one the corpus
    was built from, or whose drawing fails is skipped with a log line.
    """
    from cairocffi import CairoError

    from pmg_engine.corpus.render import render_master
    from pmg_engine.corpus.sources import DEFAULT_SOURCE_SETS, MissingStyleError, resolve_set

    by_style: dict[str, dict[str, str]] = defaultdict(dict)
    for item in items:
        by_style[item.style][item.concept] = item.emoji
    sets = {source.style: source for source in DEFAULT_SOURCE_SETS}
    artworks = {}
    for style, glyphs in sorted(by_style.items()):
        if style not in sets:
            logger.warning("upscaler pairs: style %s is not a known source set; skipped", style)
            continue
        try:
            found = resolve_set(sets[style], cache_dir=sources_cache, glyphs=glyphs)
        except MissingStyleError as error:
            logger.warning("upscaler pairs: style %s skipped: %s", style, error)
            continue
        artworks[style] = (found.origin, found.artworks)
    for item in items:
        origin, found_artworks = artworks.get(item.style, ("", {}))
        artwork = found_artworks.get(item.concept)
        if artwork is None or origin != item.source:
            continue
        try:
            master = render_master(artwork, px=master_px)
        except (CairoError, MemoryError, OSError, SyntaxError, ValueError) as error:
            # One broken drawing must not stop the pairs, as in the corpus build.
            logger.warning("upscaler pairs: could not draw %s: %s", item.id, error)
            continue
        if master is not None:
            yield item.id, master


def pairs_path(corpus_dir: Path, out_dir: Path, *, train_pairs: int, heldout_pairs: int) -> Path:
    """Return the cache file for these settings on the corpus in ``corpus_dir``."""
    summary = corpus_dir / "summary.json"
    fingerprint = ""
    if summary.is_file():
        fingerprint = str(json.loads(summary.read_text("utf-8")).get("fingerprint", ""))
    key = json.dumps(
        [PAIRS_VERSION, fingerprint, LOW_PX, HIGH_PX, PAIR_MASTER_PX, train_pairs, heldout_pairs]
    )
    return out_dir / f"pairs-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def corpus_pairs(
    *,
    corpus_dir: Path,
    sources_cache: Path,
    out_dir: Path = DEFAULT_PAIRS_DIR,
    train_pairs: int = DEFAULT_TRAIN_PAIRS,
    heldout_pairs: int = DEFAULT_HELDOUT_PAIRS,
    progress: Callable[[Iterable[Master], int, str], Iterable[Master]] | None = None,
) -> tuple[Pairs, Path]:
    """Return the corpus's upscaler pairs and their cache file, rendering them on first use."""
    if train_pairs < 1 or heldout_pairs < 1:
        raise ValueError(
            f"train_pairs and heldout_pairs must be positive, got {train_pairs!r}, "
            f"{heldout_pairs!r}"
        )
    manifest = corpus_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"no corpus manifest at {manifest}: run `pmg data build` first")
    # 1. Reuse the cache of these settings on this corpus.
    path = pairs_path(corpus_dir, out_dir, train_pairs=train_pairs, heldout_pairs=heldout_pairs)
    if path.is_file():
        return Pairs.load(path), path
    # 2. Draw train and held-out items in their fixed order and fit each master twice.
    items = load_manifest(manifest)
    wrap = progress or (lambda masters, total, desc: masters)
    stacked = []
    for splits, count, desc in (
        (TRAIN_SPLITS, train_pairs, "train pairs"),
        (HELDOUT_SPLITS, heldout_pairs, "held-out pairs"),
    ):
        ordered = pair_order([item for item in items if item.split in splits])
        masters = corpus_masters(ordered, sources_cache=sources_cache)
        stacked.append(stack_pairs(wrap(masters, count, desc), count=count))
    (train_low, train_high, train_ids), (held_low, held_high, held_ids) = stacked
    if not train_ids or not held_ids:
        raise ValueError(
            f"no upscaler pairs could be drawn from {corpus_dir} with the sources in "
            f"{sources_cache}: run `pmg data build` there first"
        )
    pairs = Pairs(train_low, train_high, held_low, held_high, train_ids, held_ids)
    # 3. Cache them.
    pairs.save(path)
    logger.info("upscaler pairs: %d train, %d held-out in %s", len(train_ids), len(held_ids), path)
    return pairs, path
