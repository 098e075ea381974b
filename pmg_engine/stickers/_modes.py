"""Bring any PIL image to RGB or RGBA, rejecting what cannot become a sticker."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pmg_engine.errors import InvalidInputError

# Below this a generator produced nothing usable; our own emoji model's smallest output is 64 px.
MIN_INPUT_SIDE = 16

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_BIT_DEPTH_MODES = frozenset({"I", "F"})


def check_image(image: object, *, argument: str = "image") -> Image.Image:
    """Raise unless ``image`` is a PIL image of a usable size; return it typed."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"{argument} must be a PIL.Image.Image, got {type(image).__name__}")
    width, height = image.size
    if width == 0 or height == 0:
        raise InvalidInputError(f"{argument} is empty ({width}x{height} pixels)")
    if min(width, height) < MIN_INPUT_SIDE:
        raise InvalidInputError(
            f"{argument} is too small ({width}x{height} pixels); "
            f"each side needs at least {MIN_INPUT_SIDE} pixels"
        )
    return image


def to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """Convert to RGBA when the image carries transparency, else to RGB."""
    mode = image.mode
    if mode in {"RGB", "RGBA"}:
        return image.copy()
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if mode in _HIGH_BIT_DEPTH_MODES or mode.startswith("I;16"):
        return _high_bit_depth_to_rgb(image)
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise InvalidInputError(f"image mode {mode!r} cannot be converted to RGB") from exc


def _high_bit_depth_to_rgb(image: Image.Image) -> Image.Image:
    # PIL clips 16/32-bit grey to 0..255 instead of scaling, which turns most such images white.
    values = np.nan_to_num(np.asarray(image, dtype=np.float64))
    if image.mode.startswith("I;16"):
        scaled = values / 257.0
    elif values.min() >= 0.0 and values.max() <= 255.0:
        scaled = values
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0.0
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")
