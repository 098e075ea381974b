"""Train the RGBA ``AutoencoderKL`` whose latents the generator's UNet learns to draw."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pmg_engine.train.configs import build_autoencoder, count_parameters, seeded
from pmg_engine.train.data import load_images, load_items, to_model_range
from pmg_engine.train.grid import save_grid

logger = logging.getLogger(__name__)

PREVIEW_COUNT = 16
EVAL_COUNT = 256
# Alpha counts double: a sticker's silhouette is what the outline and transparency rest on.
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 2.0)
EDGE_WEIGHT = 0.5
KL_WEIGHT = 1e-6
# The chroma term: L1 on OKLab's a and b where the sticker is visible. Plain RGB L1 let the first
# autoencoder trade red-green for luminance (its latents kept one blue-orange axis); a and b span
# about ±0.3, so the scale brings an error across the hue circle to RGB L1's size.
CHROMA_WEIGHT = 1.0
CHROMA_SCALE = 4.0


def _chroma_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return L1 on OKLab a, b of two model-range RGBA batches, weighted by the target's alpha."""
    from pmg_engine.colour import srgb_to_oklab

    alpha = ((target[:, 3:4] + 1) / 2).clamp(0, 1)
    ab_pred = srgb_to_oklab((pred[:, :3].float() + 1) / 2)[:, 1:]
    ab_target = srgb_to_oklab((target[:, :3].float() + 1) / 2)[:, 1:]
    error = ((ab_pred - ab_target).abs() * alpha).sum() / (alpha.sum() * 2).clamp(min=1.0)
    return CHROMA_SCALE * error


def _edge_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # L1 on neighbour differences: without a perceptual or GAN loss (no LPIPS weights exist
    # here), this keeps outlines from blurring into their surroundings.
    dx = (pred.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
    dy = (pred.diff(dim=-2) - target.diff(dim=-2)).abs().mean()
    return dx + dy


class AutoencoderTask:
    """Reconstruct training renderings; held-out ones are previewed and measured."""

    name = "autoencoder"

    def __init__(
        self,
        *,
        corpus_dir: Path,
        out_dir: Path,
        cache_dir: Path,
        preset: str = "small",
        splits: tuple[str, ...] = ("train",),
        seed: int = 0,
        init_from: Path | None = None,
        decoder_only: bool = False,
    ) -> None:
        # 1. Pixels of the training split, and a fixed held-out set to preview and measure.
        items = load_items(corpus_dir, splits)
        self.images = load_images(corpus_dir, items, size=64, cache_dir=cache_dir)
        held_out = load_items(corpus_dir, ("style-heldout", "val"))
        step = max(1, len(held_out) // EVAL_COUNT)
        picked = held_out[::step][:EVAL_COUNT]
        self.eval_images = load_images(corpus_dir, picked, size=64, cache_dir=cache_dir)
        # 2. The model.
        self.preset = preset
        self.out_dir = out_dir
        # diffusers' models are untyped for mypy; ``model`` is the same object, as a Module.
        self.vae: Any
        if init_from is not None:
            from diffusers import AutoencoderKL

            self.vae = AutoencoderKL.from_pretrained(str(init_from))  # type: ignore[no-untyped-call]
        else:
            with seeded(seed):
                self.vae = build_autoencoder(preset)
        self.decoder_only = decoder_only
        if decoder_only:
            if init_from is None:
                raise ValueError("decoder_only needs init_from: a trained autoencoder to keep")
            # The encoder side stays as it is, so latents a UNet was trained on keep their
            # meaning: only how they are drawn improves (the fine-tuned-decoder recipe).
            self.vae.encoder.requires_grad_(False)
            self.vae.quant_conv.requires_grad_(False)
        self.model: nn.Module = self.vae
        self.weights = torch.tensor(CHANNEL_WEIGHTS).view(1, 4, 1, 1)
        logger.info(
            "autoencoder %s: %.2f M parameters, %d training images",
            preset,
            count_parameters(self.model) / 1e6,
            len(self.images),
        )

    def describe(self) -> dict[str, Any]:
        """Return the preset and data size, stored in checkpoints."""
        return {
            "preset": self.preset,
            "images": len(self.images),
            "decoder_only": self.decoder_only,
            "chroma_weight": CHROMA_WEIGHT,
        }

    def loss(
        self, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """Return weighted L1, edge L1, OKLab chroma L1 and a tiny KL on one batch (flips too)."""
        rows = torch.randint(len(self.images), (batch_size,), generator=generator)
        flip = torch.rand(batch_size, generator=generator) < 0.5
        batch = self.images[rows]
        # Left-right flips double the shapes the autoencoder sees; it never reads captions.
        batch[flip] = batch[flip].flip(-1)
        target = to_model_range(batch).to(device)
        with torch.set_grad_enabled(not self.decoder_only):
            posterior = self.vae.encode(target).latent_dist
        latents = posterior.mean + posterior.std * torch.randn(
            posterior.mean.shape, generator=generator
        ).to(device)
        recon: torch.Tensor = self.vae.decode(latents).sample.float()
        weights = self.weights.to(device)
        l1 = ((recon - target).abs() * weights).mean() / weights.mean()
        kl = posterior.kl().mean() / target[0].numel()
        loss: torch.Tensor = (
            l1
            + EDGE_WEIGHT * _edge_l1(recon, target)
            + CHROMA_WEIGHT * _chroma_l1(recon, target)
            + KL_WEIGHT * kl
        )
        return loss

    def on_checkpoint(self, step: int, ema_model: nn.Module) -> dict[str, float]:
        """Write originals above reconstructions; return held-out L1, PSNR and colour error."""
        from pmg_engine.eval.autoencoder import measure, reconstruct

        recon = reconstruct(ema_model, self.eval_images)
        # Every n-th held-out item: the list is sorted by style, the preview should span them.
        every = max(1, len(recon) // PREVIEW_COUNT)
        originals = self.eval_images[::every][:PREVIEW_COUNT]
        preview = torch.cat([originals, recon[::every][:PREVIEW_COUNT]])
        save_grid(preview, self.out_dir / "samples" / f"step-{step:07d}.png", columns=8)
        diff = recon.float() - self.eval_images.float()
        figures = measure(self.eval_images, recon)
        return {
            "heldout_l1": float(diff.abs().mean()),
            "heldout_alpha_l1": figures.alpha_l1,
            "heldout_psnr": figures.psnr_db,
            "heldout_ciede2000": figures.ciede2000,
            "heldout_hue_error": figures.hue_error_deg,
        }

    def finish(self, step: int, ema_model: nn.Module) -> None:
        """Save the EMA autoencoder in diffusers' layout as ``<out>/vae``."""
        save_pretrained(ema_model, self.out_dir / "vae")


def save_pretrained(model: nn.Module, folder: Path) -> None:
    """Save a diffusers model with ``save_pretrained`` into a fresh copy of ``folder``."""
    import shutil

    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))  # type: ignore[operator]
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
