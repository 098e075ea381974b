"""Stickers: Discord's limits, background removal, the die-cut outline, input validation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from pmg_engine.errors import InvalidInputError
from pmg_engine.stickers import (
    STICKER_MAX_BYTES,
    ImageTooLargeError,
    StickerResult,
    make_full_image,
    make_sticker,
)

RED = (220, 20, 20)


def _red_disk_on_white(size: int = 256, radius: int = 80) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    centre = size // 2
    ImageDraw.Draw(image).ellipse(
        (centre - radius, centre - radius, centre + radius, centre + radius), fill=RED
    )
    return image


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _decode(result: StickerResult) -> tuple[Image.Image, NDArray[np.uint8]]:
    image = Image.open(io.BytesIO(result.png))
    return image, np.asarray(image.convert("RGBA"))


def _radii(size: int) -> NDArray[np.float64]:
    ys, xs = np.mgrid[0:size, 0:size]
    centre = (size - 1) / 2
    radii: NDArray[np.float64] = np.hypot(ys - centre, xs - centre)
    return radii


def test_sticker_is_a_320_png_within_discords_limit() -> None:
    """A big noisy picture becomes a 320x320 RGBA PNG of at most 512 KB."""
    result = make_sticker(_noise(1024, 768))
    image, _ = _decode(result)
    assert image.format == "PNG"
    assert image.size == (result.width, result.height) == (320, 320)
    assert image.mode == "RGBA"
    assert result.bytes == len(result.png) <= STICKER_MAX_BYTES
    assert not result.background_removed, "a busy picture has no uniform background to cut"


def test_noisy_sticker_is_quantized_until_it_fits() -> None:
    """When full colour is over budget the palette shrinks until the PNG fits."""
    result = make_sticker(_noise(1024, 1024), max_bytes=120_000)
    image, pixels = _decode(result)
    assert result.bytes <= 120_000
    assert image.mode == "P"
    assert image.size == (320, 320)
    assert pixels[0, 0, 3] == 0, "quantizing must keep the transparent margin"


def test_impossible_budget_raises_instead_of_returning_an_oversized_file() -> None:
    """A budget no palette can meet raises ImageTooLargeError naming the limit."""
    with pytest.raises(ImageTooLargeError, match="does not fit in 2000 bytes"):
        make_sticker(_noise(400, 400), max_bytes=2000)


def test_uniform_background_is_removed_and_the_subject_kept() -> None:
    """White around a red disk becomes transparent; the disk stays opaque red."""
    result = make_sticker(_red_disk_on_white())
    _, pixels = _decode(result)
    assert result.background_removed
    assert not result.had_alpha
    for y, x in [(0, 0), (0, 319), (319, 0), (319, 319), (30, 30)]:
        assert pixels[y, x, 3] == 0
    assert tuple(pixels[160, 160]) == (*RED, 255)


def test_outline_surrounds_the_subject() -> None:
    """Just outside the subject is the opaque outline colour; farther out is transparent."""
    outline_px = 8
    result = make_sticker(_red_disk_on_white(), outline_px=outline_px, outline_color=(0, 0, 255))
    _, pixels = _decode(result)
    radii = _radii(320)
    red = (pixels[..., 0] > 150) & (pixels[..., 2] < 100) & (pixels[..., 3] == 255)
    subject_radius = radii[red].max()
    ring = np.abs(radii - (subject_radius + outline_px / 2 + 1)) < 1.5
    assert (pixels[ring][:, :3] == (0, 0, 255)).all()
    assert (pixels[ring][:, 3] == 255).all()
    assert (pixels[radii > subject_radius + outline_px + 2][:, 3] == 0).all()


def test_interior_background_coloured_pixels_stay() -> None:
    """White inside the subject (not connected to the border) is not cut out."""
    image = _red_disk_on_white()
    ImageDraw.Draw(image).ellipse((118, 118, 138, 138), fill="white")
    _, pixels = _decode(make_sticker(image, outline_px=0))
    assert tuple(pixels[160, 160]) == (255, 255, 255, 255)


def test_rgba_input_keeps_its_own_alpha_shape() -> None:
    """An RGBA subject keeps its silhouette, even in the background colour; faint noise goes."""
    pixels = np.zeros((200, 300, 4), dtype=np.uint8)
    pixels[50:150, 50:250] = (255, 255, 255, 255)  # a white 2:1 bar: colour alone would cut it
    pixels[:20, :20] = (90, 90, 90, 6)  # the haze a learned alpha channel leaves behind
    result = make_sticker(Image.fromarray(pixels, "RGBA"), outline_color=(0, 0, 0))
    _, out = _decode(result)
    assert result.had_alpha
    assert not result.background_removed
    white = (out[..., :3] == 255).all(axis=-1) & (out[..., 3] == 255)
    ys, xs = np.nonzero(white)
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert width == pytest.approx(296, abs=2)
    assert width / height == pytest.approx(2.0, rel=0.03)
    assert out[0, 0, 3] == 0
    assert out[4, 4, 3] == 0


def test_fully_transparent_input_is_rejected() -> None:
    """An image with nothing visible raises a clear InvalidInputError."""
    with pytest.raises(InvalidInputError, match="fully transparent"):
        make_sticker(Image.new("RGBA", (64, 64), (255, 0, 0, 0)))


def test_blank_input_is_rejected() -> None:
    """A uniform picture has no subject to cut out and is rejected."""
    with pytest.raises(InvalidInputError, match="no subject"):
        make_sticker(Image.new("RGB", (64, 64), (250, 250, 250)))


def test_same_input_gives_identical_bytes() -> None:
    """Two runs on equal inputs produce byte-identical stickers."""
    first = make_sticker(_red_disk_on_white())
    second = make_sticker(_red_disk_on_white().copy())
    assert first == second
    assert first.png == second.png


@pytest.mark.parametrize("mode", ["P", "LA", "CMYK", "L", "1", "I;16", "I", "F"])
def test_odd_modes_are_converted(mode: str) -> None:
    """Palette, grey, CMYK and 16/32-bit inputs all become a valid sticker."""
    base = _red_disk_on_white(64, 20)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
    else:
        image = base.convert(mode)
    assert image.mode == mode
    result = make_sticker(image)
    decoded, pixels = _decode(result)
    assert decoded.size == (320, 320)
    assert pixels[0, 0, 3] == 0
    assert pixels[160, 160, 3] == 255


@pytest.mark.parametrize(("size", "match"), [((0, 0), "empty"), ((8, 40), "too small")])
def test_empty_and_tiny_images_are_rejected(size: tuple[int, int], match: str) -> None:
    """Zero-sized and tiny inputs raise InvalidInputError saying why."""
    with pytest.raises(InvalidInputError, match=match):
        make_sticker(Image.new("RGB", size))


def test_bad_options_name_the_argument() -> None:
    """Out-of-range options raise ValueError naming the argument and the value."""
    with pytest.raises(ValueError, match="outline_px must be >= 0, got -1"):
        make_sticker(_red_disk_on_white(), outline_px=-1)
    with pytest.raises(TypeError, match=r"PIL\.Image\.Image"):
        make_sticker(np.zeros((64, 64, 3)))  # type: ignore[arg-type]


def test_full_image_is_bounded_in_size_and_bytes() -> None:
    """The full-size mode caps the longer side and reduces colours to meet the budget."""
    data = make_full_image(_noise(1600, 800), max_bytes=600_000)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (1024, 512)
    assert len(data) <= 600_000


def test_full_image_keeps_transparency() -> None:
    """An RGBA input stays transparent where it was."""
    pixels = np.zeros((100, 100, 4), dtype=np.uint8)
    pixels[25:75, 25:75] = (10, 200, 30, 255)
    image = Image.open(io.BytesIO(make_full_image(Image.fromarray(pixels, "RGBA"))))
    rgba = np.asarray(image.convert("RGBA"))
    assert image.size == (100, 100)
    assert rgba[0, 0, 3] == 0
    assert tuple(rgba[50, 50]) == (10, 200, 30, 255)
