"""Visual words computed from pixels: dominant colours, an outline, flat or glossy shading.

They give the captions words about how a sticker looks, which emojibase's names and tags
never say. Thresholds were set on the real sets: OpenMoji is outlined
and flat, Fluent colour and Noto are glossy, Twemoji and Fluent flat are flat.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

OPAQUE = 128
MIN_COLOUR_SHARE = 0.12
MAX_COLOURS = 3
DARK_LUMA = 0.3
OUTLINE_DARK_SHARE = 0.6
OUTLINE_INTERIOR_DARK_SHARE = 0.5
# A neighbour step this small inside one shape is a gradient, not an edge between fills.
SMOOTH_STEP = (1, 10)
EDGE_STEP = 24
EDGE_MARGIN_PX = 2
GLOSSY_SMOOTH_SHARE = 0.25

Image = NDArray[np.uint8]
Mask = NDArray[np.bool_]


def _hsv(rgb: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    chroma = high - low
    saturation = np.where(high > 0, chroma / np.maximum(high, 1e-9), 0.0)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(chroma, 1e-9)
    hue = np.select(
        [high == red, high == green],
        [((green - blue) / safe) % 6.0, (blue - red) / safe + 2.0],
        (red - green) / safe + 4.0,
    )
    return hue * 60.0, saturation, high


COLOUR_WORDS = (
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink",
    "brown", "white", "gray", "black",
)  # fmt: skip
_RED, _PINK, _BROWN, _WHITE, _GRAY, _BLACK = 0, 7, 8, 9, 10, 11
_HUE_EDGES = np.array([15, 36, 70, 165, 195, 255, 290, 345, 360])
_HUE_WORD = np.array([0, 1, 2, 3, 4, 5, 6, 7, _RED])


def _colour_codes(rgb: NDArray[np.float64]) -> NDArray[np.intp]:
    hue, sat, val = _hsv(rgb)
    codes = _HUE_WORD[np.searchsorted(_HUE_EDGES, hue, side="right").clip(0, len(_HUE_EDGES) - 1)]
    warm = (hue < 45) | (hue >= 345)
    codes = np.where(warm & (val < 0.6) & (sat > 0.3), _BROWN, codes)
    codes = np.where(warm & (sat < 0.45) & (val > 0.8) & (sat >= 0.15), _PINK, codes)
    grey = np.where(val > 0.85, _WHITE, np.where(val < 0.25, _BLACK, _GRAY))
    codes = np.where(sat < 0.15, grey, codes)
    return np.where(val < 0.18, _BLACK, codes)


def colour_names(rgb: NDArray[np.float64]) -> NDArray[np.str_]:
    """Name each colour of an ``(..., 3)`` array with values in 0..1 by a basic colour word."""
    return np.array(COLOUR_WORDS)[_colour_codes(rgb)]


def dominant_colours(image: Image) -> list[str]:
    """Return up to three colour names covering most opaque pixels, most common first."""
    opaque = image[..., 3] >= OPAQUE
    if not opaque.any():
        return []
    counts = np.bincount(_colour_codes(image[opaque][:, :3] / 255.0), minlength=len(COLOUR_WORDS))
    # Ties are broken by name so the result never depends on numpy's sort stability.
    ranked = sorted(
        ((int(count), word) for count, word in zip(counts, COLOUR_WORDS, strict=True) if count),
        key=lambda pair: (-pair[0], pair[1]),
    )
    total = int(opaque.sum())
    chosen = [word for count, word in ranked if count / total >= MIN_COLOUR_SHARE]
    return (chosen or [ranked[0][1]])[:MAX_COLOURS]


def _erode(mask: Mask, steps: int) -> Mask:
    out = mask.copy()
    for _ in range(steps):
        padded = np.pad(out, 1, constant_values=False)
        out = (
            padded[1:-1, 1:-1]
            & padded[:-2, 1:-1]
            & padded[2:, 1:-1]
            & padded[1:-1, :-2]
            & padded[1:-1, 2:]
        )
    return out


def _fill_holes(mask: Mask) -> Mask:
    # Grow "outside" from the border through non-mask pixels; whatever it never reaches is
    # inside the silhouette, so a transparent hole in a ring still counts as its interior.
    free = np.pad(~mask, 1, constant_values=True)
    outside = np.zeros_like(free)
    outside[0, :] = outside[-1, :] = outside[:, 0] = outside[:, -1] = True
    while True:
        grown = outside.copy()
        grown[1:, :] |= outside[:-1, :]
        grown[:-1, :] |= outside[1:, :]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= free
        if np.array_equal(grown, outside):
            return ~outside[1:-1, 1:-1]
        outside = grown


def is_outlined(image: Image) -> bool:
    """Return whether a dark ring runs along the silhouette around a lighter interior."""
    # 1. The band along the silhouette's edge, about 3 px wide at 128 px.
    silhouette = _fill_holes(image[..., 3] >= OPAQUE)
    band_px = max(2, image.shape[0] // 40)
    inner = _erode(silhouette, band_px)
    band = silhouette & ~inner
    interior = _erode(silhouette, 2 * band_px)
    if band.sum() == 0 or interior.sum() == 0:
        return False
    # 2. Dark where opaque; a transparent pixel inside the silhouette counts as not dark.
    luma = image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    dark = (luma < DARK_LUMA) & (image[..., 3] >= OPAQUE)
    band_dark = float(dark[band].mean())
    interior_dark = float(dark[interior].mean())
    return band_dark >= OUTLINE_DARK_SHARE and interior_dark < OUTLINE_INTERIOR_DARK_SHARE


def _dilate(mask: Mask, steps: int) -> Mask:
    return ~_erode(~mask, steps)


def smooth_share(image: Image) -> float:
    """Return the share of opaque pixels away from edges whose colour changes a little.

    Pixels within two of a hard edge are left out: anti-aliasing and resampling put small
    steps there in flat art too, while a gradient puts them across whole areas.
    """
    solid = image[..., 3] == 255
    rgb = image[..., :3].astype(np.int16)
    down = np.abs(np.diff(rgb, axis=0)).max(axis=-1)
    right = np.abs(np.diff(rgb, axis=1)).max(axis=-1)
    step = np.zeros(solid.shape, dtype=np.int16)
    step[:-1, :] = np.maximum(step[:-1, :], down)
    step[1:, :] = np.maximum(step[1:, :], down)
    step[:, :-1] = np.maximum(step[:, :-1], right)
    step[:, 1:] = np.maximum(step[:, 1:], right)
    keep = solid & ~_dilate((step > EDGE_STEP) | ~solid, EDGE_MARGIN_PX)
    if not keep.any():
        return 0.0
    low, high = SMOOTH_STEP
    kept = step[keep]
    return float(((kept >= low) & (kept <= high)).mean())


def visual_words(image: Image) -> tuple[str, ...]:
    """Return the colour names, then ``outlined`` if any, then ``flat`` or ``glossy``."""
    if image.ndim != 3 or image.shape[2] != 4:
        raise ValueError(f"image must be an (H, W, 4) RGBA array, got shape {image.shape}")
    words = dominant_colours(image)
    if is_outlined(image):
        words.append("outlined")
    words.append("glossy" if smooth_share(image) >= GLOSSY_SMOOTH_SHARE else "flat")
    return tuple(words)
