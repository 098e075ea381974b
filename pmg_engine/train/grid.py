"""Sample grids: RGBA tiles composited on white, written as one PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def save_grid(rgba: torch.Tensor | np.ndarray, path: Path, *, columns: int = 8) -> Path:
    """Write uint8 RGBA tiles ``[N, 4, H, W]`` (or ``[N, H, W, 4]``) on white to ``path``."""
    from PIL import Image

    tiles = rgba.numpy() if isinstance(rgba, torch.Tensor) else rgba
    if tiles.ndim != 4 or 4 not in (tiles.shape[1], tiles.shape[-1]):
        raise ValueError(f"tiles must be [N, 4, H, W] or [N, H, W, 4], got {tiles.shape}")
    if tiles.shape[1] == 4 and tiles.shape[-1] != 4:
        tiles = tiles.transpose(0, 2, 3, 1)
    count, height, width = tiles.shape[:3]
    rows = -(-count // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for i, tile in enumerate(tiles.astype(np.uint8)):
        image = Image.fromarray(tile, mode="RGBA")
        sheet.paste(image, ((i % columns) * width, (i // columns) * height), image)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    sheet.save(tmp)
    os.replace(tmp, path)
    return path
