"""The generator's autoencoder on held-out renderings: fidelity, colour, and a colour grid.

Figures (all on renderings no autoencoder trained on or was selected with, the ``test`` split):

- ``psnr_db``: PSNR over RGBA on the 0-255 scale, what training logs as ``heldout_psnr``;
- ``ciede2000``: the mean CIEDE2000 between input and reconstruction over visible pixels (input
  alpha at least half), the colour as drawn;
- ``hue_error_deg``: the mean hue angle error on saturated visible pixels (CIELab chroma at
  least 30), where a hue exists to be kept;
- ``alpha_l1``: the mean alpha error on the 0-255 scale (the silhouette).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pmg_engine.colour import ciede2000, hue_degrees, hue_error, srgb_to_lab
from pmg_engine.corpus.manifest import CorpusItem

VISIBLE_ALPHA = 128
SATURATED_CHROMA = 30.0
# The colour grid: columns of colours the first autoencoder lost, picked by the corpus's colour
# words (computed from the pixels); skin is the hands of the people-body group, drawn in each
# set's default skin colour (the corpus holds no skin-tone variants).
GRID_COLOURS = ("red", "green", "yellow", "purple", "skin")
GRID_PER_COLOUR = 2


@dataclass(frozen=True)
class AutoencoderFigures:
    """What one autoencoder keeps of held-out renderings."""

    psnr_db: float
    ciede2000: float
    hue_error_deg: float
    alpha_l1: float

    def to_json(self) -> dict[str, float]:
        """Return the figures rounded for a result file."""
        return {
            "psnr_db": round(self.psnr_db, 3),
            "ciede2000": round(self.ciede2000, 3),
            "hue_error_deg": round(self.hue_error_deg, 2),
            "alpha_l1": round(self.alpha_l1, 3),
        }


@torch.no_grad()
def reconstruct(vae: Any, images: torch.Tensor, *, batch_size: int = 64) -> torch.Tensor:
    """Return uint8 RGBA reconstructions of uint8 ``images`` through the latent mean (on CPU),
    running on whatever device ``vae`` is on."""
    from pmg_engine.train.data import from_model_range, to_model_range

    device = next(vae.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        x = to_model_range(images[start : start + batch_size]).to(device)
        latents = vae.encode(x).latent_dist.mean
        out.append(from_model_range(vae.decode(latents).sample).cpu())
    return torch.cat(out)


def measure(originals: torch.Tensor, recon: torch.Tensor) -> AutoencoderFigures:
    """Return the figures of uint8 RGBA reconstructions ``[N, 4, H, W]`` against originals."""
    if originals.shape != recon.shape:
        raise ValueError(f"shapes differ: {tuple(originals.shape)} and {tuple(recon.shape)}")
    diff = recon.float() - originals.float()
    mse = diff.pow(2).mean().clamp(min=1e-10)
    visible = originals[:, 3] >= VISIBLE_ALPHA
    if not bool(visible.any()):
        raise ValueError("the renderings have no visible pixels to compare colours on")
    lab_in = srgb_to_lab(originals[:, :3].float() / 255)
    lab_out = srgb_to_lab(recon[:, :3].float() / 255)
    delta = ciede2000(lab_in.movedim(1, -1)[visible], lab_out.movedim(1, -1)[visible])
    hue_in, chroma_in = hue_degrees(lab_in)
    hue_out, _ = hue_degrees(lab_out)
    saturated = visible & (chroma_in >= SATURATED_CHROMA)
    hue = hue_error(hue_in[saturated], hue_out[saturated]) if bool(saturated.any()) else None
    return AutoencoderFigures(
        psnr_db=float(10 * torch.log10(255.0**2 / mse)),
        ciede2000=float(delta.mean()),
        hue_error_deg=float(hue.mean()) if hue is not None else float("nan"),
        alpha_l1=float(diff[:, 3].abs().mean()),
    )


def heldout_items(items: Sequence[CorpusItem], count: int) -> list[CorpusItem]:
    """Return up to ``count`` ``test``-split items, strided so every style is present."""
    test = [item for item in items if item.split == "test"]
    if not test:
        raise ValueError("the corpus has no test split to evaluate the autoencoder on")
    step = max(1, len(test) // count)
    return test[::step][:count]


def grid_items(items: Sequence[CorpusItem]) -> list[tuple[str, CorpusItem]]:
    """Return ``(colour, item)`` for the colour grid: per colour, items of different styles."""
    styles = sorted({item.style for item in items})
    picked: list[tuple[str, CorpusItem]] = []
    for index, colour in enumerate(GRID_COLOURS):
        # Each colour starts at another style, so the grid spans the sets, not one of them.
        shift = (index * GRID_PER_COLOUR) % max(1, len(styles))
        order = styles[shift:] + styles[:shift]
        chosen = 0
        for style in order:
            if chosen == GRID_PER_COLOUR:
                break
            for item in items:
                if item.style == style and _shows(item, colour):
                    picked.append((colour, item))
                    chosen += 1
                    break
    return picked


def _shows(item: CorpusItem, colour: str) -> bool:
    if colour == "skin":
        return item.group == "people-body" and item.subgroup.startswith("hand")
    # Flags come first in code-point order and would fill the grid; objects show more.
    return item.group != "flags" and bool(item.visual_words) and item.visual_words[0] == colour


def write_grid(
    path: Path, originals: torch.Tensor, rows: dict[str, torch.Tensor], *, scale: int = 2
) -> Path:
    """Write columns of items: the original on top, then each named reconstruction, enlarged."""
    from PIL import Image

    named = {"original": originals, **rows}
    size = originals.shape[-1] * scale
    sheet = Image.new("RGB", (size * len(originals), size * len(named)), "white")
    for row, tiles in enumerate(named.values()):
        for column, tile in enumerate(tiles):
            array = np.ascontiguousarray(tile.numpy().transpose(1, 2, 0))
            image = Image.fromarray(array, mode="RGBA").resize(
                (size, size), Image.Resampling.NEAREST
            )
            sheet.paste(image, (column * size, row * size), image)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
