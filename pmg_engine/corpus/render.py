"""Render one concept in one style to square RGBA PNGs, and read its visual words back.

Every rendering is cropped to its drawing and fitted to the same share of the square, so
the sets' different paddings do not become a style cue. PNGs hold straight RGBA with RGB
set to 0 wherever alpha is 0: the colour under transparent pixels is defined, which the
autoencoder needed.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from pmg_engine.corpus.manifest import FILE_MODE
from pmg_engine.corpus.sources import Artwork
from pmg_engine.corpus.visual import visual_words

MASTER_PX = 256
# The drawing's longer side fills this share of the square; the rest is an even margin.
FILL = 0.92
NOTO_PX = 109  # the one size at which Noto Color Emoji's bitmap strikes load

RenderStatus = Literal["rendered", "reused", "missing"]

# A gradient skewed by 90 degrees has a non-invertible transform: browsers paint nothing
# with it, cairo runs out of memory (Fluent's umbrella emoji, 2602 and 2614, have one).
_DEGENERATE_GRADIENT = re.compile(
    r'<(?:linear|radial)Gradient id="([^"]+)"[^>]*gradientTransform="[^"]*skew[XY]\(-?90\)'
)


@dataclass(frozen=True)
class RenderJob:
    """Render ``artwork`` to ``outputs`` (size, path), skipping paths that already exist."""

    item_id: str
    artwork: Artwork
    outputs: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class RenderResult:
    """What one job did, with the visual words of its largest rendering."""

    item_id: str
    status: RenderStatus
    visual_words: tuple[str, ...] = ()
    error: str = ""


def drop_degenerate_gradients(svg: str) -> str:
    """Return ``svg`` with paints that use a non-invertible gradient replaced by ``none``."""
    for gradient_id in _DEGENERATE_GRADIENT.findall(svg):
        svg = svg.replace(f'"url(#{gradient_id})"', '"none"')
    return svg


def _render_svg(artwork: Artwork, px: int) -> Image.Image:
    import cairosvg  # cairo is loaded only in processes that render

    if artwork.svg_text is not None:
        text = artwork.svg_text
    elif artwork.svg_path is not None:
        text = Path(artwork.svg_path).read_text(encoding="utf-8")
    else:
        raise ValueError(f"artwork {artwork!r} has no SVG")
    source = drop_degenerate_gradients(text).encode("utf-8")
    png = cairosvg.svg2png(bytestring=source, output_width=px, output_height=px)
    return Image.open(io.BytesIO(png)).convert("RGBA")


@lru_cache(maxsize=2)
def _font(path: str) -> ImageFont.FreeTypeFont:
    # Raqm shapes ZWJ sequences and flags into one glyph; the basic layout would not.
    return ImageFont.truetype(path, NOTO_PX, layout_engine=ImageFont.Layout.RAQM)


def _render_glyph(artwork: Artwork) -> Image.Image | None:
    if artwork.font_path is None or artwork.glyph_text is None:
        raise ValueError(f"artwork {artwork!r} has no glyph")
    font = _font(artwork.font_path)
    left, top, right, bottom = (int(edge) for edge in font.getbbox(artwork.glyph_text))
    # A sequence the font cannot shape comes out empty or as several glyphs side by side.
    if right - left <= 0 or bottom - top <= 0 or right - left > 1.5 * (bottom - top):
        return None
    image = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((-left, -top), artwork.glyph_text, font=font, embedded_color=True)
    return image


def render_master(artwork: Artwork, *, px: int = MASTER_PX) -> Image.Image | None:
    """Return the artwork as a large RGBA image, or ``None`` when the set cannot draw it.

    SVG artwork is drawn in a ``px`` square; a font glyph comes at the font's one strike size.
    """
    if artwork.font_path is not None:
        return _render_glyph(artwork)
    return _render_svg(artwork, px)


def clear_transparent(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Return a copy of an ``(H, W, 4)`` uint8 array with RGB set to 0 where alpha is 0."""
    out = pixels.copy()
    out[out[..., 3] == 0, :3] = 0
    return out


def fit_square(master: Image.Image, size: int) -> Image.Image | None:
    """Crop ``master`` to its drawing and centre it in a ``size`` square; ``None`` if empty."""
    bbox = master.getchannel("A").getbbox()
    if bbox is None:
        return None
    drawing = master.crop(bbox)
    scale = FILL * size / max(drawing.size)
    width = max(1, round(drawing.width * scale))
    height = max(1, round(drawing.height * scale))
    # Pillow resamples RGBA in premultiplied form, so no dark fringe comes from clear pixels.
    drawing = drawing.resize((width, height), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(drawing, ((size - width) // 2, (size - height) // 2))
    return Image.fromarray(clear_transparent(np.asarray(canvas)), "RGBA")


def _write_png(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so an interrupted build never leaves a torn file.
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
    try:
        with os.fdopen(handle, "wb") as stream:
            image.save(stream, format="PNG", optimize=False, compress_level=9)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes files private; the corpus is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_job(job: RenderJob) -> RenderResult:
    """Render ``job`` unless every output exists; return the visual words of the largest."""
    largest = Path(max(job.outputs)[1])
    if all(Path(path).is_file() for _, path in job.outputs):
        with Image.open(largest) as reused:
            pixels = np.asarray(reused.convert("RGBA"))
        return RenderResult(job.item_id, "reused", visual_words(pixels))
    from cairocffi import CairoError

    try:
        master = render_master(job.artwork)
    except (CairoError, MemoryError, OSError, SyntaxError, ValueError) as error:
        # One broken drawing must not stop a build of thousands; the build logs it.
        return RenderResult(job.item_id, "missing", error=f"{type(error).__name__}: {error}")
    if master is None:
        return RenderResult(job.item_id, "missing")
    words: tuple[str, ...] = ()
    for size, path in sorted(job.outputs):
        image = fit_square(master, size)
        if image is None:
            return RenderResult(job.item_id, "missing")
        _write_png(image, Path(path))
        if Path(path) == largest:
            words = visual_words(np.asarray(image))
    return RenderResult(job.item_id, "rendered", words)
