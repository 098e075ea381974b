"""Synthetic sticker drawings and upscaler pairs made from them, shared by the upscaler tests.

Each master is a vector-like drawing (filled shapes with dark outlines and a highlight) drawn at
512 px with Pillow, then fitted to 64 and 256 px by the same ``fit_pair`` as the corpus pairs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from pmg_engine.models.upscaler import Upscaler, UpscalerConfig, UpscalerNet
from pmg_engine.train.upscaler_pairs import Pairs, fit_pair, stack_pairs

MASTER_PX = 512
COLOURS = ((220, 40, 40), (40, 170, 70), (240, 200, 30), (60, 90, 220), (150, 60, 170))
SHAPES = ("circle", "square", "triangle", "star", "ring")


def _star(cx: float, cy: float, outer: float, inner: float) -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius = outer if k % 2 == 0 else inner
        angle = math.pi / 2 + k * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
    return points


def draw_master(shape: str, colour: tuple[int, int, int], *, px: int = MASTER_PX) -> Image.Image:
    """Return one RGBA drawing on a transparent square: a filled shape, outline and highlight."""
    image = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    lo, hi = px * 0.1, px * 0.9
    fill, outline, width = (*colour, 255), (30, 20, 20, 255), px // 24
    if shape == "circle":
        draw.ellipse((lo, lo, hi, hi), fill=fill, outline=outline, width=width)
    elif shape == "square":
        draw.rounded_rectangle(
            (lo, lo, hi, hi), radius=px // 10, fill=fill, outline=outline, width=width
        )
    elif shape == "triangle":
        draw.polygon([(px / 2, lo), (hi, hi), (lo, hi)], fill=fill, outline=outline, width=width)
    elif shape == "star":
        draw.polygon(
            _star(px / 2, px / 2, px * 0.42, px * 0.18), fill=fill, outline=outline, width=width
        )
    else:
        draw.ellipse((lo, lo, hi, hi), fill=fill, outline=outline, width=width)
        draw.ellipse((px * 0.3, px * 0.3, px * 0.7, px * 0.7), fill=(0, 0, 0, 0))
    # A small white highlight and a dark eye: fine detail that 64 px only hints at.
    draw.ellipse((px * 0.32, px * 0.3, px * 0.42, px * 0.4), fill=(255, 255, 255, 255))
    draw.ellipse((px * 0.56, px * 0.5, px * 0.62, px * 0.56), fill=(20, 20, 20, 255))
    return image


def masters() -> list[tuple[str, Image.Image]]:
    """Return every shape in every colour, with ids ``synthetic/<shape>-<n>``."""
    return [
        (f"synthetic/{shape}-{n}", draw_master(shape, colour))
        for shape in SHAPES
        for n, colour in enumerate(COLOURS)
    ]


def synthetic_pairs(train: int = 16, heldout: int = 6) -> Pairs:
    """Return pairs from the synthetic masters: the first ``train`` train, the next held out."""
    drawn = masters()
    if train + heldout > len(drawn):
        raise ValueError(f"only {len(drawn)} synthetic masters, asked for {train + heldout}")
    train_low, train_high, train_ids = stack_pairs(drawn[:train], count=train)
    held_low, held_high, held_ids = stack_pairs(drawn[train:], count=heldout)
    return Pairs(train_low, train_high, held_low, held_high, train_ids, held_ids)


def pair_of(shape: str, colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``(64 px, 256 px)`` straight RGBA pair of one synthetic drawing."""
    pair = fit_pair(draw_master(shape, colour))
    assert pair is not None
    return pair


def random_net(seed: int = 0, *, channels: int = 4, layers: int = 1) -> UpscalerNet:
    """Return a tiny upscaler net with random weights everywhere, the tail included."""
    torch.manual_seed(seed)
    net = UpscalerNet(UpscalerConfig(scale=4, channels=channels, layers=layers))
    torch.nn.init.normal_(net.tail.weight, std=0.05)
    return net.eval()


def random_upscaler(seed: int = 0) -> Upscaler:
    """Return an ``Upscaler`` around a tiny random net."""
    return Upscaler(random_net(seed))
