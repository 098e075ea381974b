"""Latents of the training images under the frozen autoencoder, encoded once and cached.

The UNet then trains on cached Gaussian parameters (a fresh sample each step) and never runs the
encoder, which on two CPU cores would cost about as much as the UNet step itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pmg_engine.train._runtime import default_device
from pmg_engine.train.data import to_model_range

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Latents:
    """Posterior mean and std ``[N, 4, s, s]`` of each image, and the scale to unit variance."""

    mean: torch.Tensor
    std: torch.Tensor
    scaling_factor: float


def _digest(vae_dir: Path, images: torch.Tensor) -> str:
    hasher = hashlib.sha256()
    for path in sorted(vae_dir.iterdir()):
        hasher.update(path.name.encode())
        hasher.update(path.read_bytes())
    hasher.update(str(tuple(images.shape)).encode())
    # A strided sample of the pixels: enough to notice another corpus, cheap to compute.
    hasher.update(images.reshape(-1)[:: max(1, images.numel() // 1_000_000)].numpy().tobytes())
    return hasher.hexdigest()[:16]


@torch.no_grad()
def encode_images(vae: Any, images: torch.Tensor, *, batch_size: int = 128) -> Latents:
    """Encode uint8 RGBA ``images`` and compute the factor that gives the latents unit std."""
    device = next(vae.parameters()).device
    means, stds = [], []
    for start in range(0, len(images), batch_size):
        x = to_model_range(images[start : start + batch_size]).to(device)
        posterior = vae.encode(x).latent_dist
        means.append(posterior.mean.float().cpu())
        stds.append(posterior.std.float().cpu())
    mean, std = torch.cat(means), torch.cat(stds)
    # Variance of a sampled latent: spread of the means plus the posterior's own variance.
    variance = mean.var() + std.pow(2).mean()
    return Latents(mean=mean, std=std, scaling_factor=float(variance.rsqrt()))


def cached_latents(vae_dir: Path, images: torch.Tensor, *, cache_dir: Path) -> Latents:
    """Return the latents of ``images`` under the VAE saved in ``vae_dir``, encoding if needed."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file, save_file

    path = cache_dir / f"latents-{_digest(vae_dir, images)}.safetensors"
    if path.exists():
        tensors = load_file(str(path))
        return Latents(
            mean=tensors["mean"],
            std=tensors["std"],
            scaling_factor=float(tensors["scaling_factor"]),
        )
    logger.info("encoding %d images with the autoencoder at %s", len(images), vae_dir)
    vae = AutoencoderKL.from_pretrained(str(vae_dir)).eval()  # type: ignore[no-untyped-call]
    latents = encode_images(vae.to(default_device()), images)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(
        {
            "mean": latents.mean.contiguous(),
            "std": latents.std.contiguous(),
            "scaling_factor": torch.tensor(latents.scaling_factor),
        },
        str(tmp),
    )
    os.replace(tmp, path)
    logger.info(
        "latents %s, scaling factor %.4f", tuple(latents.mean.shape), latents.scaling_factor
    )
    return latents
