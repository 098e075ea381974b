"""Visual words computed from synthetic RGBA images."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from pmg_engine.corpus.visual import colour_names, is_outlined, smooth_share, visual_words

SIZE = 128


def _disc(radius: float) -> NDArray[np.bool_]:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    inside: NDArray[np.bool_] = (yy - SIZE / 2 + 0.5) ** 2 + (xx - SIZE / 2 + 0.5) ** 2 <= radius**2
    return inside


def _paint(
    mask: NDArray[np.bool_], rgb: tuple[int, int, int], image: NDArray[np.uint8] | None = None
) -> NDArray[np.uint8]:
    out = np.zeros((SIZE, SIZE, 4), np.uint8) if image is None else image
    out[mask] = (*rgb, 255)
    return out


def test_solid_red_circle_is_red_and_flat() -> None:
    """A solid red disc is named red only, has no outline and is flat."""
    assert visual_words(_paint(_disc(55), (255, 0, 0))) == ("red", "flat")


def test_yellow_face_with_dark_ring_is_outlined() -> None:
    """A yellow disc inside a black ring reads as outlined, yellow first."""
    image = _paint(_disc(58), (0, 0, 0))
    image = _paint(_disc(53), (255, 220, 0), image)
    words = visual_words(image)
    assert words[0] == "yellow"
    assert "outlined" in words


def test_bare_ring_is_outlined() -> None:
    """A black ring with a transparent middle counts as outlined (the hole is its interior)."""
    assert is_outlined(_paint(_disc(58) & ~_disc(52), (0, 0, 0)))


def test_black_disc_is_not_outlined() -> None:
    """A uniformly dark shape is dark all through, not outlined."""
    assert not is_outlined(_paint(_disc(58), (10, 10, 10)))


def test_gradient_is_glossy() -> None:
    """A disc shaded by a smooth vertical gradient reads as glossy."""
    image = _paint(_disc(58), (0, 0, 0))
    ramp = np.linspace(80, 255, SIZE).astype(np.uint8)[:, None]
    image[..., 0] = np.where(_disc(58), ramp, 0)
    image[..., 1] = np.where(_disc(58), ramp // 2, 0)
    assert smooth_share(image) > 0.5
    assert visual_words(image)[-1] == "glossy"


def test_empty_image_has_only_a_shading_word() -> None:
    """A fully transparent image gets no colour and no outline."""
    assert visual_words(np.zeros((SIZE, SIZE, 4), np.uint8)) == ("flat",)


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((255, 0, 0), "red"),
        ((255, 140, 0), "orange"),
        ((255, 204, 77), "yellow"),
        ((40, 180, 60), "green"),
        ((30, 90, 230), "blue"),
        ((140, 60, 200), "purple"),
        ((255, 105, 180), "pink"),
        ((120, 70, 30), "brown"),
        ((250, 250, 250), "white"),
        ((128, 128, 128), "gray"),
        ((5, 5, 5), "black"),
    ],
)
def test_colour_names(rgb: tuple[int, int, int], name: str) -> None:
    """Typical colours get their everyday name."""
    assert str(colour_names(np.array(rgb, dtype=np.float64) / 255.0)) == name


def test_rejects_non_rgba() -> None:
    """An image without an alpha channel is refused with its shape in the message."""
    with pytest.raises(ValueError, match=r"\(4, 4, 3\)"):
        visual_words(np.zeros((4, 4, 3), np.uint8))
