"""Whether the generator draws the colour a prompt names: "a red apple" should come out red.

The prompts pair colour words with objects both in their usual colour and against it ("a blue
apple"), so a model that only knows apples are red does not pass. An image follows its prompt
when the asked colour is among its dominant colours, named from the pixels by the same rule that
wrote the corpus's colour words (``corpus.visual``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pmg_engine.corpus.visual import dominant_colours

# (colour, object): usual colours first, then the same objects against their usual colour.
COLOUR_PROMPTS: tuple[tuple[str, str], ...] = (
    ("red", "apple"),
    ("green", "frog"),
    ("yellow", "star"),
    ("blue", "car"),
    ("purple", "flower"),
    ("orange", "cat"),
    ("blue", "apple"),
    ("purple", "frog"),
    ("green", "star"),
    ("red", "car"),
    ("yellow", "flower"),
    ("green", "cat"),
)
SEEDS_PER_PROMPT = 4


@dataclass(frozen=True)
class ColourCase:
    """One colour prompt and the seed it is drawn with."""

    colour: str
    prompt: str
    seed: int


def colour_cases(seed: int = 0) -> list[ColourCase]:
    """Return every colour prompt with each of its seeds (``seed`` shifts them all)."""
    return [
        ColourCase(
            colour=colour, prompt=f"{_article(colour)} {colour} {thing}", seed=seed + 1000 * i + k
        )
        for i, (colour, thing) in enumerate(COLOUR_PROMPTS)
        for k in range(SEEDS_PER_PROMPT)
    ]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def follows(image: Image.Image, colour: str) -> bool:
    """Return whether ``colour`` is among the image's dominant colours (opaque pixels)."""
    return colour in dominant_colours(np.asarray(image.convert("RGBA")))


def colour_figures(cases: Sequence[ColourCase], images: Sequence[Image.Image]) -> dict[str, float]:
    """Return the rate of images showing their asked colour, over all and on usual colours."""
    if len(cases) != len(images) or not cases:
        raise ValueError(f"got {len(cases)} colour prompts for {len(images)} images; need one each")
    hits = [follows(image, case.colour) for case, image in zip(cases, images, strict=True)]
    usual = len(COLOUR_PROMPTS) // 2 * SEEDS_PER_PROMPT
    return {
        "generator colour words followed": float(np.mean(hits)),
        "generator usual colour words followed": float(np.mean(hits[:usual])),
    }
