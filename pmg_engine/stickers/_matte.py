"""Alpha mattes: cut a near-uniform background out of RGB, clean an RGBA model's alpha."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

Mask = NDArray[np.bool_]

# Share of border pixels that must match the background colour before we dare to cut it:
# below this the picture is a scene (subject touching the edges), and cutting it would eat it.
MIN_BACKGROUND_BORDER_SHARE = 0.6
# A one-pixel feather hides the staircase of a hard cut without blurring the subject.
EDGE_SOFTNESS_PX = 1.0


def clean_alpha(rgba: Image.Image, *, noise_alpha: int) -> Image.Image:
    """Zero alpha below ``noise_alpha`` and the colour under fully transparent pixels."""
    pixels = np.array(rgba.convert("RGBA"))
    alpha = pixels[..., 3]
    # A learned alpha channel leaves a faint haze where it should be empty; that haze would
    # both get an outline drawn around it and widen the subject's bounding box.
    alpha[alpha < noise_alpha] = 0
    # Hidden colour under alpha 0 is arbitrary; zeroing it keeps the PNG small and deterministic.
    pixels[alpha == 0, :3] = 0
    return Image.fromarray(pixels, "RGBA")


def remove_background(rgb: Image.Image, *, tolerance: float) -> tuple[Image.Image, bool]:
    """Return an RGBA image with the border-connected background cut out, and whether it was."""
    pixels = np.asarray(rgb.convert("RGB"), dtype=np.int32)
    height, width, _ = pixels.shape
    # 1. The background colour is the median border colour: robust to a subject touching an edge.
    border = np.zeros((height, width), dtype=bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    background = np.median(pixels[border], axis=0)
    near = ((pixels - background) ** 2).sum(axis=-1) <= tolerance**2
    if near[border].mean() < MIN_BACKGROUND_BORDER_SHARE:
        opaque = np.full((height, width), 255, dtype=np.uint8)
        return Image.fromarray(np.dstack([pixels.astype(np.uint8), opaque]), "RGBA"), False
    # 2. Only background reachable from the border goes: a white eye inside a face stays.
    cut = flood(near, near & border)
    hard = np.where(cut, 0, 255).astype(np.uint8)
    # 3. Feather inward only, so no background-coloured fringe becomes visible outside.
    soft = np.asarray(Image.fromarray(hard).filter(ImageFilter.GaussianBlur(EDGE_SOFTNESS_PX)))
    alpha = np.minimum(hard, soft)
    colour = np.where(alpha[..., None] > 0, pixels, 0).astype(np.uint8)
    return Image.fromarray(np.dstack([colour, alpha]), "RGBA"), bool(cut.any())


def flood(passable: Mask, seed: Mask) -> Mask:
    """Return the pixels of ``passable`` 4-connected to ``seed``."""
    reached = seed & passable
    while True:
        # Whole runs are filled per pass, so a pass costs O(pixels) in numpy and only shapes
        # with many turns need more than a handful of passes (pure-Python BFS took seconds).
        grown = _spread_along_rows(passable, reached)
        grown = _spread_along_rows(passable.T, grown.T).T
        if np.array_equal(grown, reached):
            return grown
        reached = grown


def _spread_along_rows(passable: Mask, reached: Mask) -> Mask:
    height, width = passable.shape
    flat = np.ascontiguousarray(passable).ravel()
    previous = np.zeros_like(flat)
    previous[1:] = flat[:-1]
    previous[::width] = False
    run_ids = np.cumsum(flat & ~previous)
    run_reached = np.zeros(int(run_ids[-1]) + 1, dtype=bool)
    run_reached[run_ids[np.ascontiguousarray(reached).ravel()]] = True
    return (flat & run_reached[run_ids]).reshape(height, width)


def dilate(alpha: NDArray[np.uint8], radius: int) -> NDArray[np.uint8]:
    """Grey-dilate ``alpha`` with a disc, so the outline keeps the subject's soft edge."""
    height, width = alpha.shape
    padded = np.pad(alpha, radius)
    out = alpha.copy()
    for dy in range(-radius, radius + 1):
        # The +0.5 rounds the disc; an exact radius leaves single-pixel nubs at the poles.
        half = int(np.floor(np.sqrt((radius + 0.5) ** 2 - dy**2)))
        rows = padded[radius + dy : radius + dy + height]
        for dx in range(-half, half + 1):
            np.maximum(out, rows[:, radius + dx : radius + dx + width], out=out)
    return out
