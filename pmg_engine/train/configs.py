"""Shapes of the own generator's parts, by preset, and the noise schedule they share.

``small`` is what ships: sized on two CPU cores (training budget) and to keep the
generator and scorer under 40 MB in fp16. ``tiny`` exists for tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

IMAGE_SIZE = 64
CHANNELS = 4  # RGBA: stickers need their transparency, so the VAE reads and writes alpha.

AUTOENCODER_PRESETS: dict[str, dict[str, Any]] = {
    # 64 px -> 16 x 16 x 4: an 8x downscale (8 x 8 latents) lost faces' features at this size.
    "small": {"block_out_channels": (32, 64, 128), "layers_per_block": 1, "norm_num_groups": 32},
    "tiny": {"block_out_channels": (8, 8, 16), "layers_per_block": 1, "norm_num_groups": 4},
}

UNET_PRESETS: dict[str, dict[str, Any]] = {
    "small": {
        "block_out_channels": (64, 128, 192),
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        # Heads of 32 channels at every level (diffusers' legacy name: it is the head count).
        "attention_head_dim": (2, 4, 6),
        "layers_per_block": 1,
        "norm_num_groups": 32,
    },
    "tiny": {
        "block_out_channels": (16, 32),
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "attention_head_dim": (2, 2),
        "layers_per_block": 1,
        "norm_num_groups": 8,
    },
}

# v-prediction on a zero-terminal-SNR schedule with trailing timesteps (Lin et al., 2024): the
# sampler then starts from pure noise as training saw it, so the mostly transparent mean of a
# sticker is learnt instead of leaking from the noise.
SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "timestep_spacing": "trailing",
    # Only "leading" spacing reads it; 1 keeps diffusers' SD pipeline from patching the config.
    "steps_offset": 1,
}


def build_autoencoder(preset: str) -> Any:
    """Return a fresh RGBA ``AutoencoderKL`` of ``preset``."""
    from diffusers import AutoencoderKL

    factory: Any = AutoencoderKL  # diffusers' constructors are untyped for mypy
    shape = AUTOENCODER_PRESETS[preset]
    levels = len(shape["block_out_channels"])
    return factory(
        in_channels=CHANNELS,
        out_channels=CHANNELS,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=shape["block_out_channels"],
        layers_per_block=shape["layers_per_block"],
        norm_num_groups=shape["norm_num_groups"],
        latent_channels=4,
        sample_size=IMAGE_SIZE,
    )


def latent_size(vae: Any) -> int:
    """Return the side of the latents of a 64-px image under ``vae``."""
    return IMAGE_SIZE // 2 ** (len(vae.config.block_out_channels) - 1)  # type: ignore[no-any-return]


def build_unet(preset: str, *, sample_size: int, cross_attention_dim: int) -> Any:
    """Return a fresh ``UNet2DConditionModel`` of ``preset`` over ``sample_size`` latents."""
    from diffusers import UNet2DConditionModel

    factory: Any = UNet2DConditionModel
    shape = UNET_PRESETS[preset]
    return factory(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        cross_attention_dim=cross_attention_dim,
        **shape,
    )


def training_scheduler() -> Any:
    """Return the DDPM scheduler that adds noise during training."""
    from diffusers import DDPMScheduler

    factory: Any = DDPMScheduler
    return factory(clip_sample=False, **SCHEDULE)


def sampling_scheduler() -> Any:
    """Return the fast sampler shipped in the pipeline folder (DPM-Solver++, ~20 steps)."""
    from diffusers import DPMSolverMultistepScheduler

    factory: Any = DPMSolverMultistepScheduler
    return factory(
        algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero", **SCHEDULE
    )


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator inside the block only, so model init is reproducible."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def count_parameters(module: Any) -> int:
    """Return the number of parameters of a torch module."""
    return sum(int(p.numel()) for p in module.parameters())
