"""PNG encoding under a byte budget: full colour first, then fewer and fewer palette colours."""

from __future__ import annotations

import io

from PIL import Image

from pmg_engine.errors import PMGError

# Halving the palette roughly trades 1/8 of the bits per pixel; 8 colours is where a sticker
# stops looking like its source, so we fail there rather than send a posterised mess.
PALETTE_STEPS = (256, 128, 64, 32, 16, 8)


class ImageTooLargeError(PMGError, ValueError):
    """An image that cannot be encoded within the requested number of bytes."""


def png_bytes(image: Image.Image) -> bytes:
    """Encode ``image`` as an optimised PNG (deterministic: no timestamps, fixed zlib level)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def quantize(image: Image.Image, colors: int) -> Image.Image:
    """Reduce ``image`` to a palette of ``colors``, keeping its alpha when it has one."""
    # MEDIANCUT gives nicer palettes but cannot hold alpha; FASTOCTREE can and is deterministic.
    # Dithering noise defeats zlib, the opposite of why we quantize.
    if image.mode == "RGBA":
        method = Image.Quantize.FASTOCTREE
    else:
        image, method = image.convert("RGB"), Image.Quantize.MEDIANCUT
    return image.quantize(colors=colors, method=method, dither=Image.Dither.NONE)


def encode_within(image: Image.Image, *, max_bytes: int, what: str) -> bytes:
    """Return the first of full colour, then ever smaller palettes, that fits ``max_bytes``."""
    data = png_bytes(image)
    if len(data) <= max_bytes:
        return data
    for colors in PALETTE_STEPS:
        data = png_bytes(quantize(image, colors))
        if len(data) <= max_bytes:
            return data
    raise ImageTooLargeError(
        f"the {what} does not fit in {max_bytes} bytes even with {PALETTE_STEPS[-1]} colours "
        f"({len(data)} bytes)"
    )
