"""Turn a generated image into a Discord sticker or a full-size image file."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from pmg_engine.errors import InvalidInputError
from pmg_engine.stickers._matte import clean_alpha, dilate, remove_background
from pmg_engine.stickers._modes import check_image, to_rgb_or_rgba
from pmg_engine.stickers._png import ImageTooLargeError, encode_within

# Discord's sticker limits: a 320x320 PNG of at most 512 KB.
STICKER_SIZE = 320
STICKER_MAX_BYTES = 512 * 1024
# Discord shows attachments up to 8 MiB to every user, whatever the server's boost level.
FULL_IMAGE_MAX_BYTES = 8 * 1024 * 1024
FULL_IMAGE_MAX_SIDE = 1024

DEFAULT_OUTLINE_PX = 8
DEFAULT_MARGIN_PX = 4
WHITE = (255, 255, 255)
# Euclidean RGB distance (0..441) under which a pixel counts as background. Diffusion models
# paint "white background" as 235..255 with faint noise; 48 takes that and spares pastel subjects.
DEFAULT_BACKGROUND_TOLERANCE = 48.0
# Alpha below this from our emoji model is noise, not subject (see clean_alpha).
DEFAULT_NOISE_ALPHA = 16
# Background removal works on at most twice the output size: enough detail for a clean edge,
# and it bounds the cost of a 1024 px Stable Diffusion output.
WORKING_SCALE = 2
MIN_SUBJECT_PIXELS = 16

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class StickerResult:
    """A sticker ready to upload: PNG bytes and what was done to get them.

    ``bytes`` is ``len(png)``; ``had_alpha`` says the input carried an alpha channel;
    ``background_removed`` says a uniform background was cut out by colour.
    """

    png: builtins.bytes = field(repr=False)
    width: int
    height: int
    bytes: int
    had_alpha: bool
    background_removed: bool


def make_sticker(
    image: Image.Image,
    *,
    size: int = STICKER_SIZE,
    outline_px: int = DEFAULT_OUTLINE_PX,
    outline_color: RGB = WHITE,
    margin_px: int = DEFAULT_MARGIN_PX,
    background_tolerance: float = DEFAULT_BACKGROUND_TOLERANCE,
    max_bytes: int = STICKER_MAX_BYTES,
) -> StickerResult:
    """Cut out the subject, centre it with a die-cut outline, and encode a PNG within budget.

    RGB input (Stable Diffusion) has its near-uniform background flood-filled away from the
    borders; RGBA input (our emoji model) keeps its own alpha, minus faint noise.
    """
    image = check_image(image)
    _check_sticker_options(
        size=size,
        outline_px=outline_px,
        outline_color=outline_color,
        margin_px=margin_px,
        background_tolerance=background_tolerance,
        max_bytes=max_bytes,
    )
    # 1. Normalise the mode and bound the working resolution.
    working = _fit_within(to_rgb_or_rgba(image), WORKING_SCALE * size)
    had_alpha = working.mode == "RGBA"
    # 2. Matte: keep a real alpha channel, otherwise cut the background out.
    background_removed = False
    if had_alpha:
        working = clean_alpha(working, noise_alpha=DEFAULT_NOISE_ALPHA)
        if working.getchannel("A").getbbox() is None:
            raise InvalidInputError("image is fully transparent: there is no subject to show")
    if not had_alpha or _is_opaque(working):
        working, background_removed = remove_background(working, tolerance=background_tolerance)
    # 3. Crop to the subject and centre it, leaving room for the outline and the margin.
    alpha = np.asarray(working.getchannel("A"))
    if int(np.count_nonzero(alpha)) < MIN_SUBJECT_PIXELS:
        raise InvalidInputError("image has no subject: it is all background")
    subject = working.crop(working.getchannel("A").getbbox())
    sticker = _centre(subject, size=size, inset=outline_px + margin_px)
    # 4. Die-cut outline: the subject's silhouette grown by outline_px, underneath the subject.
    if outline_px > 0:
        sticker = _outline(sticker, outline_px=outline_px, outline_color=outline_color)
    # 5. Encode, quantizing progressively until it fits.
    png = encode_within(_clear_hidden_colour(sticker), max_bytes=max_bytes, what="sticker")
    return StickerResult(
        png=png,
        width=size,
        height=size,
        bytes=len(png),
        had_alpha=had_alpha,
        background_removed=background_removed,
    )


def make_full_image(
    image: Image.Image,
    *,
    max_side: int = FULL_IMAGE_MAX_SIDE,
    max_bytes: int = FULL_IMAGE_MAX_BYTES,
) -> bytes:
    """Encode ``image`` as a PNG no larger than ``max_side`` per side and ``max_bytes``.

    Colours are reduced first; only if a palette of the smallest size still does not fit is
    the image scaled down further.
    """
    image = check_image(image)
    if max_side < 64:
        raise ValueError(f"max_side must be at least 64, got {max_side!r}")
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
    # 1. Normalise the mode and the size.
    picture = _fit_within(to_rgb_or_rgba(image), max_side)
    if picture.mode == "RGBA":
        picture = clean_alpha(picture, noise_alpha=1)
    # 2. Encode; shrink in steps when even the smallest palette is too big.
    longest = max(picture.size)
    for scale in (1.0, 0.75):
        try:
            return encode_within(
                _fit_within(picture, round(longest * scale)), max_bytes=max_bytes, what="image"
            )
        except ImageTooLargeError:
            pass
    return encode_within(
        _fit_within(picture, round(longest * 0.5)), max_bytes=max_bytes, what="image"
    )


def _check_sticker_options(
    *,
    size: int,
    outline_px: int,
    outline_color: RGB,
    margin_px: int,
    background_tolerance: float,
    max_bytes: int,
) -> None:
    if size < 64:
        raise ValueError(f"size must be at least 64, got {size!r}")
    if outline_px < 0:
        raise ValueError(f"outline_px must be >= 0, got {outline_px!r}")
    if margin_px < 0:
        raise ValueError(f"margin_px must be >= 0, got {margin_px!r}")
    if 4 * (outline_px + margin_px) > size:
        raise ValueError(
            f"outline_px + margin_px must leave half the sticker for the subject, "
            f"got outline_px={outline_px!r}, margin_px={margin_px!r} for size={size!r}"
        )
    if len(outline_color) != 3 or any(not 0 <= channel <= 255 for channel in outline_color):
        raise ValueError(f"outline_color must be three 0..255 values, got {outline_color!r}")
    if not background_tolerance >= 0:  # also rejects NaN
        raise ValueError(f"background_tolerance must be >= 0, got {background_tolerance!r}")
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")


def _fit_within(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale so the longer side is at most ``max_side``; never upscale."""
    width, height = image.size
    if max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return _resize(image, new_size)


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.mode != "RGBA":
        return image.resize(size, Image.Resampling.LANCZOS)
    # Resampling straight alpha drags the colour of invisible pixels into the edge (dark or
    # coloured fringes); premultiplied alpha weights each colour by its opacity.
    return image.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")


def _is_opaque(rgba: Image.Image) -> bool:
    # An RGBA file whose alpha never drops below half carries no cut-out: treat it as RGB.
    return bool(np.asarray(rgba.getchannel("A")).min() >= 128)


def _centre(subject: Image.Image, *, size: int, inset: int) -> Image.Image:
    box = size - 2 * inset
    width, height = subject.size
    scale = box / max(width, height)
    scaled_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Upscaling rings a few pixels past the edge at alpha 1..10; the outline would trace it.
    scaled = clean_alpha(_resize(subject, scaled_size), noise_alpha=DEFAULT_NOISE_ALPHA)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(scaled, ((size - scaled_size[0]) // 2, (size - scaled_size[1]) // 2))
    return canvas


def _outline(sticker: Image.Image, *, outline_px: int, outline_color: RGB) -> Image.Image:
    alpha = np.asarray(sticker.getchannel("A")).astype(np.int16)
    # Grow from the half-opaque contour with a short ramp: dilating the feather itself would
    # give the outline a wide faint rim and make its width depend on the input's blur.
    silhouette = np.clip((alpha - 64) * 2, 0, 255).astype(np.uint8)
    grown = np.maximum(dilate(silhouette, outline_px), alpha.astype(np.uint8))
    backing = Image.new("RGBA", sticker.size, (*outline_color, 0))
    backing.putalpha(Image.fromarray(grown, "L"))
    return Image.alpha_composite(backing, sticker)


def _clear_hidden_colour(rgba: Image.Image) -> Image.Image:
    pixels = np.array(rgba)
    pixels[pixels[..., 3] == 0, :3] = 0
    return Image.fromarray(pixels, "RGBA")
