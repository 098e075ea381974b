"""Compose the ⚖ comparison: two results side by side, each labelled with its weight."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

LABEL_HEIGHT = 28
GAP = 12


def side_by_side(left: Path, right: Path, *, labels: tuple[str, str], height: int = 320) -> bytes:
    """Return a PNG with ``left`` and ``right`` scaled to ``height``, labels underneath."""
    if height < 16:
        raise ValueError(f"height must be at least 16 pixels, got {height}")
    images: list[Image.Image] = []
    for path in (left, right):
        with Image.open(path) as opened:
            rgba = opened.convert("RGBA")
        width = max(1, round(rgba.width * height / rgba.height))
        images.append(rgba.resize((width, height), Image.Resampling.LANCZOS))
    total_width = images[0].width + GAP + images[1].width
    canvas = Image.new("RGBA", (total_width, height + LABEL_HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    x = 0
    for image, label in zip(images, labels, strict=True):
        canvas.alpha_composite(image, (x, 0))
        draw.text((x + 4, height + 6), label, fill=(128, 128, 128, 255), font=font)
        x += image.width + GAP
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
