"""Figures of the sticker upscaler on held-out pairs: PSNR and edge sharpness, against resampling.

PSNR is measured twice: on premultiplied RGBA (all four channels in [0, 1], so transparency
counts and hidden colour does not) and on RGB composited on white (what a sticker looks like
on a light chat). Edge sharpness is the mean Sobel gradient magnitude of the on-white luminance
on the target's own edge pixels, as a share of the target's: 1.0 is as crisp as the rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from pmg_engine.models.upscaler import Upscaler

# A target pixel is an edge where its Sobel magnitude (a unit step gives 1.0) exceeds this.
EDGE_THRESHOLD = 0.1
GRID_COLUMNS = ("bicubic", "learned", "truth")

Method = Callable[[Image.Image, int], Image.Image]


def resample(kind: Image.Resampling) -> Method:
    """Return a method that enlarges RGBA by ``kind`` in premultiplied form, as stickers do."""

    def enlarge(image: Image.Image, size: int) -> Image.Image:
        return image.convert("RGBa").resize((size, size), kind).convert("RGBA")

    return enlarge


def learned(upscaler: Upscaler) -> Method:
    """Return a method that enlarges with ``upscaler`` (then resamples if the size differs)."""

    def enlarge(image: Image.Image, size: int) -> Image.Image:
        out = upscaler.upscale(image)
        return out if out.size == (size, size) else resample(Image.Resampling.LANCZOS)(out, size)

    return enlarge


def premultiplied(rgba: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Return straight uint8 RGBA ``[..., 4]`` as premultiplied floats in [0, 1]."""
    values = rgba.astype(np.float64) / 255.0
    return np.concatenate([values[..., :3] * values[..., 3:], values[..., 3:]], axis=-1)


def on_white(rgba: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Return straight uint8 RGBA ``[..., 4]`` composited on white, RGB floats in [0, 1]."""
    values = premultiplied(rgba)
    return values[..., :3] + (1.0 - values[..., 3:])


def psnr(prediction: NDArray[np.float64], target: NDArray[np.float64]) -> float:
    """Return the PSNR in dB of two arrays in [0, 1] (capped at 100 dB for equal arrays)."""
    mse = float(np.mean((prediction - target) ** 2))
    return 100.0 if mse <= 1e-10 else float(10.0 * np.log10(1.0 / mse))


def sobel_magnitude(gray: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the Sobel gradient magnitude of ``[H, W]``, scaled so a unit step gives 1.0."""
    padded = np.pad(gray, 1, mode="edge")
    a = padded[:-2, :-2]
    b = padded[:-2, 1:-1]
    c = padded[:-2, 2:]
    d = padded[1:-1, :-2]
    f = padded[1:-1, 2:]
    g = padded[2:, :-2]
    h = padded[2:, 1:-1]
    i = padded[2:, 2:]
    gx = (c + 2 * f + i) - (a + 2 * d + g)
    gy = (g + 2 * h + i) - (a + 2 * b + c)
    return np.hypot(gx, gy) / 4.0


def luminance(rgb: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return Rec. 709 luma of ``[..., 3]`` RGB."""
    weights = np.array([0.2126, 0.7152, 0.0722])
    return np.asarray(rgb @ weights, dtype=np.float64)


@dataclass
class MethodFigures:
    """Running sums of one method's figures over the pairs."""

    psnr_premultiplied: list[float] = field(default_factory=list)
    psnr_on_white: list[float] = field(default_factory=list)
    edge_prediction: float = 0.0
    edge_target: float = 0.0

    def add(self, prediction: NDArray[np.uint8], target: NDArray[np.uint8]) -> None:
        """Add one pair's figures."""
        self.psnr_premultiplied.append(psnr(premultiplied(prediction), premultiplied(target)))
        white_pred, white_target = on_white(prediction), on_white(target)
        self.psnr_on_white.append(psnr(white_pred, white_target))
        target_edges = sobel_magnitude(luminance(white_target))
        mask = target_edges > EDGE_THRESHOLD
        self.edge_prediction += float(sobel_magnitude(luminance(white_pred))[mask].sum())
        self.edge_target += float(target_edges[mask].sum())

    def to_json(self) -> dict[str, float]:
        """Return the mean per-pair PSNRs and the pooled edge sharpness."""
        return {
            "psnr_premultiplied_db": float(np.mean(self.psnr_premultiplied)),
            "psnr_on_white_db": float(np.mean(self.psnr_on_white)),
            "edge_sharpness": self.edge_prediction / max(self.edge_target, 1e-12),
        }


@dataclass(frozen=True)
class UpscalerReport:
    """Figures per method on ``pairs`` held-out pairs, and the grid written."""

    pairs: int
    low_px: int
    high_px: int
    figures: dict[str, dict[str, float]]
    grid_path: Path | None

    def lines(self) -> list[str]:
        """Return the table as text lines."""
        head = ("method", "PSNR RGBA premult.", "PSNR on white", "edge sharpness")
        rows = [
            f"held-out pairs: {self.pairs} ({self.low_px} -> {self.high_px} px)",
            f"{head[0]:<28} {head[1]:>19} {head[2]:>14} {head[3]:>15}",
        ]
        for name, f in self.figures.items():
            premult, white = f["psnr_premultiplied_db"], f["psnr_on_white_db"]
            rows.append(
                f"{name:<28} {premult:>16.2f} dB {white:>11.2f} dB {f['edge_sharpness']:>15.3f}"
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON values."""
        return {
            "pairs": self.pairs,
            "low_px": self.low_px,
            "high_px": self.high_px,
            "figures": self.figures,
            "grid": None if self.grid_path is None else str(self.grid_path),
        }


def evaluate_upscaler(
    *,
    low: NDArray[np.uint8],
    high: NDArray[np.uint8],
    methods: dict[str, Method],
) -> dict[str, dict[str, float]]:
    """Return each method's figures on straight RGBA pairs ``[N, h, w, 4]`` / ``[N, H, W, 4]``."""
    if len(low) != len(high) or not len(low):
        raise ValueError(f"need the same positive number of inputs and targets, got {len(low)}")
    if not methods:
        raise ValueError("methods must name at least one way to enlarge")
    size = high.shape[1]
    sums = {name: MethodFigures() for name in methods}
    for small, target in zip(low, high, strict=True):
        image = Image.fromarray(small, "RGBA")
        for name, method in methods.items():
            out = np.asarray(method(image, size).convert("RGBA"), dtype=np.uint8)
            sums[name].add(out, target)
    return {name: figures.to_json() for name, figures in sums.items()}


def _checkerboard(size: int, cell: int = 16) -> Image.Image:
    ys, xs = np.mgrid[0:size, 0:size]
    light = ((ys // cell + xs // cell) % 2 == 0)[..., None]
    pixels = np.where(light, 255, 230).astype(np.uint8).repeat(3, axis=2)
    return Image.fromarray(pixels, "RGB").convert("RGBA")


def write_grid(
    path: Path,
    *,
    low: NDArray[np.uint8],
    high: NDArray[np.uint8],
    rows: Sequence[int],
    methods: dict[str, Method],
    labels: Sequence[str] = GRID_COLUMNS,
) -> Path:
    """Save one row per pair index: each method's enlargement, then the truth, on a checkerboard."""
    size = high.shape[1]
    header = 20
    columns = [*methods.values(), None]
    grid = Image.new("RGB", (size * len(columns), header + size * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for col, label in enumerate(labels):
        draw.text((col * size + 6, 4), label, fill=(0, 0, 0))
    board = _checkerboard(size)
    for row, index in enumerate(rows):
        image = Image.fromarray(low[index], "RGBA")
        for col, method in enumerate(columns):
            tile = Image.fromarray(high[index], "RGBA") if method is None else method(image, size)
            grid.paste(
                Image.alpha_composite(board, tile.convert("RGBA")).convert("RGB"),
                (col * size, header + row * size),
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path, format="PNG", optimize=True)
    return path


def grid_rows(ids: Sequence[str], count: int) -> list[int]:
    """Return up to ``count`` pair indices, the first of each style in turn, for a varied grid."""
    by_style: dict[str, list[int]] = {}
    for index, item_id in enumerate(ids):
        by_style.setdefault(item_id.split("/", 1)[0], []).append(index)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < min(count, len(ids)):
        for style in sorted(by_style):
            if depth < len(by_style[style]) and len(chosen) < count:
                chosen.append(by_style[style][depth])
        depth += 1
    return chosen
