"""Train the sticker upscaler on pairs rendered from the corpus's vector sources.

L1 on premultiplied RGBA plus an L1 on horizontal and vertical differences, which rewards
edges that are as steep as the target's rather than the average of possible edges that plain
L1 drifts to. Steps see random crops (with horizontal flips) of the 64 px inputs and the
matching target regions, so a CPU step stays cheap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pmg_engine.models.upscaler import UpscalerConfig, UpscalerNet, premultiply, save_upscaler
from pmg_engine.train.configs import count_parameters, seeded
from pmg_engine.train.export import write_card
from pmg_engine.train.upscaler_pairs import Pairs

logger = logging.getLogger(__name__)

UPSCALER_PRESETS: dict[str, UpscalerConfig] = {
    "small": UpscalerConfig(scale=4, channels=32, layers=4),
    "tiny": UpscalerConfig(scale=4, channels=4, layers=1),
}
CROP_PX = 32
EDGE_WEIGHT = 0.5
# Held-out pairs measured at each checkpoint; `pmg eval upscaler` measures them all.
CHECKPOINT_EVAL_PAIRS = 64


def edge_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return the L1 distance of neighbouring-pixel differences along both axes."""
    dx = (prediction[..., :, 1:] - prediction[..., :, :-1]) - (
        target[..., :, 1:] - target[..., :, :-1]
    )
    dy = (prediction[..., 1:, :] - prediction[..., :-1, :]) - (
        target[..., 1:, :] - target[..., :-1, :]
    )
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def psnr_premultiplied(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return per-image PSNR in dB of premultiplied RGBA batches in [0, 1]."""
    mse = ((prediction - target) ** 2).flatten(1).mean(dim=1).clamp(min=1e-10)
    return 10.0 * torch.log10(1.0 / mse)


class UpscalerTask:
    """Residual super-resolution 64 -> 256 px on premultiplied RGBA pairs."""

    name = "upscaler"

    def __init__(
        self,
        *,
        pairs: Pairs,
        out_dir: Path,
        pairs_file: str = "",
        preset: str = "small",
        crop_px: int = CROP_PX,
        seed: int = 0,
    ) -> None:
        if preset not in UPSCALER_PRESETS:
            raise ValueError(f"preset must be one of {sorted(UPSCALER_PRESETS)}, got {preset!r}")
        low_px = pairs.train_low.shape[1]
        if not 1 <= crop_px <= low_px:
            raise ValueError(f"crop_px must be between 1 and {low_px}, got {crop_px!r}")
        # 1. Pairs as channel-first uint8; targets are premultiplied per batch (2 GB as floats).
        self.train_low = torch.from_numpy(pairs.train_low).permute(0, 3, 1, 2).contiguous()
        self.train_high = torch.from_numpy(pairs.train_high).permute(0, 3, 1, 2).contiguous()
        held = min(CHECKPOINT_EVAL_PAIRS, len(pairs.heldout_ids))
        self.held_low = premultiply(pairs.heldout_low[:held])
        self.held_high = premultiply(pairs.heldout_high[:held])
        # 2. The model, sized for the pairs' scale.
        base = UPSCALER_PRESETS[preset]
        config = UpscalerConfig(
            scale=pairs.scale, channels=base.channels, layers=base.layers, input_size=low_px
        )
        with seeded(seed):
            self.model: nn.Module = UpscalerNet(config)
        self.config = config
        self.preset = preset
        self.crop_px = crop_px
        self.out_dir = out_dir
        self.pairs_file = pairs_file
        self.counts = {"train_pairs": len(pairs.train_ids), "heldout_pairs": len(pairs.heldout_ids)}
        with torch.no_grad():
            self.bicubic_psnr = float(
                psnr_premultiplied(self._bicubic(self.held_low), self.held_high).mean()
            )
        logger.info(
            "upscaler %s: %d parameters, %d train pairs, %d held-out (bicubic %.2f dB on %d)",
            preset,
            count_parameters(self.model),
            self.counts["train_pairs"],
            self.counts["heldout_pairs"],
            self.bicubic_psnr,
            held,
        )

    def _bicubic(self, low: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(
            low, scale_factor=self.config.scale, mode="bicubic", align_corners=False
        )
        return up.clamp(0.0, 1.0)

    def describe(self) -> dict[str, Any]:
        """Return the preset, shape, crop and data sizes, stored in checkpoints."""
        return {
            "preset": self.preset,
            "config": self.config.to_json(),
            "crop_px": self.crop_px,
            "edge_weight": EDGE_WEIGHT,
            "pairs_file": self.pairs_file,
            **self.counts,
        }

    def loss(
        self, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """Return L1 plus the weighted edge L1 on one batch of random crops."""
        scale, crop = self.config.scale, self.crop_px
        span = self.train_low.shape[-1] - crop + 1
        rows = torch.randint(0, len(self.train_low), (batch_size,), generator=generator)
        corners = torch.randint(0, span, (batch_size, 2), generator=generator).tolist()
        flips = (torch.rand(batch_size, generator=generator) < 0.5).tolist()
        lows, highs = [], []
        for row, (y, x), flip in zip(rows.tolist(), corners, flips, strict=True):
            low = self.train_low[row, :, y : y + crop, x : x + crop]
            high = self.train_high[
                row, :, y * scale : (y + crop) * scale, x * scale : (x + crop) * scale
            ]
            lows.append(low.flip(-1) if flip else low)
            highs.append(high.flip(-1) if flip else high)
        low_batch = premultiply(torch.stack(lows)).to(device)
        target = premultiply(torch.stack(highs)).to(device)
        prediction = self.model(low_batch).float()
        return nn.functional.l1_loss(prediction, target) + EDGE_WEIGHT * edge_l1(prediction, target)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Return the mean held-out PSNR (premultiplied RGBA) of ``model`` and of bicubic."""
        device = next(model.parameters()).device
        scores = []
        for start in range(0, len(self.held_low), 16):
            low = self.held_low[start : start + 16].to(device)
            prediction = model(low).float().cpu()
            scores.append(psnr_premultiplied(prediction, self.held_high[start : start + 16]))
        return {
            "heldout_psnr": float(torch.cat(scores).mean()),
            "heldout_bicubic_psnr": self.bicubic_psnr,
        }

    def on_checkpoint(self, step: int, ema_model: nn.Module) -> dict[str, float]:
        """Return held-out figures of the EMA model."""
        return self.evaluate(ema_model)

    def finish(self, step: int, ema_model: nn.Module) -> None:
        """Save the EMA upscaler as ``<out>/model`` (config.json + fp16 safetensors)."""
        if not isinstance(ema_model, UpscalerNet):
            raise TypeError(f"expected an UpscalerNet, got {type(ema_model).__name__}")
        folder = self.out_dir / "model"
        save_upscaler(ema_model, folder)
        facts = {
            **self.describe(),
            "parameters": count_parameters(ema_model),
            "steps": step,
            **self.evaluate(ema_model),
        }
        write_card(folder, facts)
