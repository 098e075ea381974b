"""Whether the generator draws the colour a prompt names: "a red apple" should come out red.

The prompts pair colour words with objects both in their usual colour and against it ("a blue
apple"), so a model that only knows apples are red does not pass. An image follows its prompt
when the asked colour is among its dominant colours, named from the pixels by the same rule that
wrote the corpus's colour words (``corpus.visual``).

Two sets. The first 12 prompts (six usual colours, then the same objects against them) are the
figures every pack since the first was measured with; their names and seeds never change. The
wider 12 ask for the other colour words (pink, brown, black, white, cyan, gray) and every object
against its usual colour, and a stricter figure asks for the colour to be the *main* one over
all 24, because "among the three dominant colours" saturates once a model knows colour at all.
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
# The wider set: the colour words the first leaves out, each object against its usual colour.
WIDER_COLOUR_PROMPTS: tuple[tuple[str, str], ...] = (
    ("pink", "dog"),
    ("brown", "fish"),
    ("black", "flower"),
    ("white", "apple"),
    ("cyan", "cat"),
    ("gray", "star"),
    ("orange", "frog"),
    ("blue", "banana"),
    ("purple", "car"),
    ("red", "tree"),
    ("green", "heart"),
    ("yellow", "fish"),
)
SEEDS_PER_PROMPT = 4


@dataclass(frozen=True)
class ColourCase:
    """One colour prompt and the seed it is drawn with."""

    colour: str
    prompt: str
    seed: int


def colour_cases(seed: int = 0) -> list[ColourCase]:
    """Return every colour prompt, first set then wider, with each of its seeds.

    ``seed`` shifts them all; the first set's seeds are the same with or without the wider set.
    """
    return [
        ColourCase(
            colour=colour, prompt=f"{_article(colour)} {colour} {thing}", seed=seed + 1000 * i + k
        )
        for i, (colour, thing) in enumerate((*COLOUR_PROMPTS, *WIDER_COLOUR_PROMPTS))
        for k in range(SEEDS_PER_PROMPT)
    ]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def follows(image: Image.Image, colour: str, *, main: bool = False) -> bool:
    """Return whether ``colour`` is among the image's dominant colours (opaque pixels).

    With ``main``, it must be the most common of them.
    """
    dominant = dominant_colours(np.asarray(image.convert("RGBA")))
    return bool(dominant) and (dominant[0] == colour if main else colour in dominant)


def colour_figures(cases: Sequence[ColourCase], images: Sequence[Image.Image]) -> dict[str, float]:
    """Return the rate of images showing their asked colour, per set and as the main colour.

    ``cases`` are ``colour_cases()``: the first set, then the wider one.
    """
    if len(cases) != len(images) or not cases:
        raise ValueError(f"got {len(cases)} colour prompts for {len(images)} images; need one each")
    expected = (len(COLOUR_PROMPTS) + len(WIDER_COLOUR_PROMPTS)) * SEEDS_PER_PROMPT
    if len(cases) != expected:
        raise ValueError(f"got {len(cases)} colour prompts; colour_cases() gives {expected}")
    pairs = list(zip(cases, images, strict=True))
    hits = [follows(image, case.colour) for case, image in pairs]
    main = [follows(image, case.colour, main=True) for case, image in pairs]
    first = len(COLOUR_PROMPTS) * SEEDS_PER_PROMPT
    usual = first // 2
    return {
        "generator colour words followed": float(np.mean(hits[:first])),
        "generator usual colour words followed": float(np.mean(hits[:usual])),
        "generator wider colour words followed": float(np.mean(hits[first:])),
        "generator colour words as the main colour": float(np.mean(main)),
    }
