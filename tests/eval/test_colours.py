"""The colour-word figure: an image follows "a red apple" when red dominates its opaque pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pmg_engine.eval.colours import (
    COLOUR_PROMPTS,
    SEEDS_PER_PROMPT,
    WIDER_COLOUR_PROMPTS,
    colour_cases,
    colour_figures,
    follows,
)


def _disc(rgb: tuple[int, int, int], *, outline: bool = False) -> Image.Image:
    """A 64 px sticker: a filled disc of ``rgb`` on transparency, optionally outlined in black."""
    y, x = np.mgrid[:64, :64]
    radius = np.hypot(x - 32, y - 32)
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[radius < 24] = (*rgb, 255)
    if outline:
        rgba[(radius >= 20) & (radius < 24)] = (0, 0, 0, 255)
    return Image.fromarray(rgba, mode="RGBA")


def test_the_asked_colour_must_dominate_the_opaque_pixels() -> None:
    """Red is red, an outline does not hide it, and orange or transparency is not red."""
    assert follows(_disc((220, 30, 40)), "red")
    assert follows(_disc((220, 30, 40), outline=True), "red")
    assert not follows(_disc((240, 140, 30)), "red")
    assert follows(_disc((240, 140, 30)), "orange")
    assert not follows(Image.new("RGBA", (64, 64)), "red")


def test_main_colour_must_be_the_most_common() -> None:
    """A red disc with a wide green ring has green among its colours but not as the main one."""
    y, x = np.mgrid[:64, :64]
    radius = np.hypot(x - 32, y - 32)
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[radius < 28] = (40, 170, 60, 255)
    rgba[radius < 18] = (220, 30, 40, 255)
    image = Image.fromarray(rgba, mode="RGBA")
    assert follows(image, "red")
    assert follows(image, "green")
    assert follows(image, "green", main=True)
    assert not follows(image, "red", main=True)
    assert not follows(Image.new("RGBA", (64, 64)), "red", main=True)


def test_cases_cover_every_prompt_with_distinct_seeds() -> None:
    """Each prompt gets its seeds; a run seed shifts them all."""
    cases = colour_cases()
    assert len(cases) == (len(COLOUR_PROMPTS) + len(WIDER_COLOUR_PROMPTS)) * SEEDS_PER_PROMPT
    assert len({case.seed for case in cases}) == len(cases)
    assert cases[0].prompt == "a red apple"
    assert "an orange cat" in {case.prompt for case in cases}
    assert cases[len(COLOUR_PROMPTS) * SEEDS_PER_PROMPT].prompt == "a pink dog"
    # The first set keeps the seeds it was first measured with.
    assert [c.seed for c in cases[:8]] == [0, 1, 2, 3, 1000, 1001, 1002, 1003]
    assert [c.seed + 5 for c in cases] == [c.seed for c in colour_cases(5)]


def test_figures_count_usual_all_wider_and_main_colours() -> None:
    """A model that draws every apple red passes the usual half and fails "a blue apple"."""
    cases = colour_cases()
    first = len(COLOUR_PROMPTS) * SEEDS_PER_PROMPT
    red = {"red": (220, 30, 40), "green": (40, 170, 60), "yellow": (250, 220, 40)}
    images = [
        _disc(red.get(case.colour, (128, 128, 128))) if i < first // 2 else _disc((0, 0, 0))
        for i, case in enumerate(cases)
    ]
    # The wider set: only the black flower is right (every image there is black).
    figures = colour_figures(cases, images)
    usual = [c.colour for c in cases[: first // 2]]
    expected_usual = sum(colour in red for colour in usual) / len(usual)
    assert figures["generator usual colour words followed"] == pytest.approx(expected_usual)
    assert figures["generator colour words followed"] == pytest.approx(expected_usual / 2)
    assert figures["generator wider colour words followed"] == pytest.approx(1 / 12)
    # One-colour discs: "followed" and "main colour" agree, over all 24 prompts.
    expected_main = (expected_usual * first // 2 + SEEDS_PER_PROMPT) / len(cases)
    assert figures["generator colour words as the main colour"] == pytest.approx(expected_main)
    with pytest.raises(ValueError, match="need one each"):
        colour_figures(cases, images[:-1])
    with pytest.raises(ValueError, match="colour_cases"):
        colour_figures(cases[:first], images[:first])
