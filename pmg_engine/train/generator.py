"""Train the generator's UNet on cached latents and cached MiniLM token states.

Objective: v-prediction with the loss weighted as min(SNR + 1, 5) on the x0 error (min-SNR
weighting, Hang et al. 2023, in its v form, which keeps full weight at the pure-noise end of a
zero-terminal-SNR schedule), the setting reported to converge several times faster than plain
epsilon-MSE; the small budget of two CPU cores is why.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pmg_engine.models.minilm import DEFAULT_WINDOW, HIDDEN_SIZE, MiniLM
from pmg_engine.train._runtime import default_device
from pmg_engine.train.configs import (
    build_unet,
    count_parameters,
    latent_size,
    seeded,
    training_scheduler,
)
from pmg_engine.train.data import load_images, load_items
from pmg_engine.train.export import build_pipeline, export_pipeline
from pmg_engine.train.grid import save_grid
from pmg_engine.train.latents import cached_latents
from pmg_engine.train.prompts import (
    ConditioningSampler,
    all_texts,
    prompt_embeds,
    sample_prompts,
)
from pmg_engine.train.textcache import TextCache, text_cache_path

logger = logging.getLogger(__name__)

SNR_GAMMA = 5.0
SAMPLE_STEPS = 20
SAMPLE_GUIDANCE = 4.0
SAMPLE_SEED = 1234


class GeneratorTask:
    """Denoise latents of training renderings, conditioned on their captions."""

    name = "generator"

    def __init__(
        self,
        *,
        corpus_dir: Path,
        out_dir: Path,
        vae_dir: Path,
        cache_dir: Path,
        preset: str = "small",
        window: int = DEFAULT_WINDOW,
        splits: tuple[str, ...] = ("train",),
        text_encoder: Callable[[], MiniLM] | None = None,
        sample_count: int = 16,
        sample_steps: int = SAMPLE_STEPS,
        seed: int = 0,
        init_from: Path | None = None,
    ) -> None:
        from diffusers import AutoencoderKL

        # 1. The autoencoder, frozen: a private copy, so retraining it later cannot silently
        #    change the latent space under a UNet that is half trained.
        own_vae = out_dir / "vae"
        if not own_vae.exists():
            if not (vae_dir / "config.json").exists():
                raise FileNotFoundError(
                    f"no trained autoencoder at {vae_dir}: run `pmg train autoencoder` first"
                )
            shutil.copytree(vae_dir, own_vae)
        vae: Any = AutoencoderKL.from_pretrained(str(own_vae))  # type: ignore[no-untyped-call]
        self.vae = vae.eval().requires_grad_(False)
        # 2. Training items, their latents and the factor that gives them unit variance.
        self.items = load_items(corpus_dir, splits)
        images = load_images(corpus_dir, self.items, size=64, cache_dir=cache_dir)
        latents = cached_latents(own_vae, images, cache_dir=cache_dir)
        self.mean, self.std = latents.mean, latents.std
        self.vae.register_to_config(scaling_factor=latents.scaling_factor)
        # 3. Token states of every caption variant and of the sample prompts, cached once.
        held_out = load_items(corpus_dir, ("style-heldout", "val"))
        self.prompts = sample_prompts(held_out, sample_count)
        self.sample_steps = sample_steps
        texts = [*all_texts(self.items), *self.prompts]
        self.cache = TextCache.open(
            text_cache_path(cache_dir, window),
            texts,
            text_encoder or (lambda: MiniLM.load(window=window, device=default_device())),
        )
        self.conditioning = ConditioningSampler(self.cache, self.items)
        # 4. The UNet and the noise schedule.
        self.preset = preset
        self.out_dir = out_dir
        self.window = window
        self.init_from = init_from
        if init_from is not None:
            # Fine-tuning: a UNet that already draws the corpus's shapes learns a changed latent
            # space (a retrained autoencoder) in far fewer steps than one from scratch.
            self.unet: Any = _load_unet(init_from)
            if self.unet.config.sample_size != latent_size(self.vae):
                raise ValueError(
                    f"the UNet at {init_from} draws {self.unet.config.sample_size} px latents, "
                    f"the autoencoder gives {latent_size(self.vae)}"
                )
        else:
            with seeded(seed):
                self.unet = build_unet(
                    preset, sample_size=latent_size(self.vae), cross_attention_dim=HIDDEN_SIZE
                )
        self.model: nn.Module = self.unet
        self.noise_scheduler = training_scheduler()
        alphas = self.noise_scheduler.alphas_cumprod.float()
        self.snr = alphas / (1.0 - alphas).clamp(min=1e-12)
        logger.info(
            "generator %s: UNet %.2f M parameters, latents %s, %d items, %d texts",
            preset,
            count_parameters(self.unet) / 1e6,
            tuple(self.mean.shape[1:]),
            len(self.items),
            len(self.cache.texts),
        )

    def describe(self) -> dict[str, Any]:
        """Return the preset, latent shape and scaling, stored in checkpoints."""
        return {
            "preset": self.preset,
            "latent_shape": list(self.mean.shape[1:]),
            "scaling_factor": float(self.vae.config.scaling_factor),
            "items": len(self.items),
            "window": self.window,
            "init_from": None if self.init_from is None else str(self.init_from),
        }

    def loss(
        self, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """Return the min-SNR weighted v-prediction loss of one batch."""
        # The data lives where the UNet does: only the random draws (a CPU generator, so a
        # resumed run repeats them exactly) cross over, a few MB a step.
        self._place(device)
        rows = torch.randint(len(self.items), (batch_size,), generator=generator)
        shape = (batch_size, *self.mean.shape[1:])
        sample = torch.randn(shape, generator=generator).to(device)
        picked = rows.to(device)
        x0 = (self.mean[picked] + self.std[picked] * sample) * self.vae.config.scaling_factor
        cond = self.conditioning.sample(rows, generator)
        steps = torch.randint(0, len(self.snr), (batch_size,), generator=generator).to(device)
        noise = torch.randn(shape, generator=generator).to(device)
        noisy = self.noise_scheduler.add_noise(x0, noise, steps)
        target = self.noise_scheduler.get_velocity(x0, noise, steps)
        pred = self.unet(noisy, steps, encoder_hidden_states=cond).sample
        per_sample = (pred.float() - target).pow(2).mean(dim=(1, 2, 3))
        weight = (SNR_GAMMA / (self.snr[steps] + 1.0)).clamp(max=1.0)
        loss: torch.Tensor = (per_sample * weight).mean()
        return loss

    def _place(self, device: torch.device) -> None:
        if self.mean.device != device:
            self.mean, self.std = self.mean.to(device), self.std.to(device)
            self.snr = self.snr.to(device)
            self.conditioning.to(device)

    @torch.no_grad()
    def sample(self, unet: nn.Module, prompts: list[str], *, seed: int = SAMPLE_SEED) -> Any:
        """Return float RGBA ``[B, H, W, 4]`` in [0, 1] for ``prompts`` through the SD pipeline."""
        device = next(unet.parameters()).device
        pipe = build_pipeline(self.vae.to(device), unet)
        pipe.set_progress_bar_config(disable=True)
        positive, negative = prompt_embeds(self.cache, prompts)
        generators = [torch.Generator().manual_seed(seed + i) for i in range(len(prompts))]
        return pipe(
            prompt_embeds=positive.to(device),
            negative_prompt_embeds=negative.to(device),
            num_inference_steps=self.sample_steps,
            guidance_scale=SAMPLE_GUIDANCE,
            generator=generators,
            output_type="np",
        ).images

    def on_checkpoint(self, step: int, ema_model: nn.Module) -> dict[str, float]:
        """Write a grid of the fixed prompts drawn by the EMA UNet."""
        images = self.sample(ema_model, self.prompts)
        folder = self.out_dir / "samples"
        save_grid((images * 255).round().astype("uint8"), folder / f"step-{step:07d}.png")
        prompts_file = folder / "prompts.json"
        if not prompts_file.exists():
            prompts_file.write_text(json.dumps(self.prompts, indent=1) + "\n", "utf-8")
        return {}

    def finish(self, step: int, ema_model: nn.Module) -> None:
        """Export the EMA UNet with the autoencoder as ``<out>/pipeline`` (fp16)."""
        export_pipeline(
            vae=self.vae,
            unet=ema_model,
            out_dir=self.out_dir / "pipeline",
            window=self.window,
            card={**self.describe(), "steps": step},
        )


def _load_unet(folder: Path) -> Any:
    """Load a trained UNet in fp32 from a pipeline folder or a ``unet`` folder itself."""
    from diffusers import UNet2DConditionModel

    unet_dir = folder / "unet" if (folder / "unet" / "config.json").is_file() else folder
    if not (unet_dir / "config.json").is_file():
        raise FileNotFoundError(f"no UNet at {folder} (no config.json there or in unet/)")
    factory: Any = UNet2DConditionModel
    return factory.from_pretrained(str(unet_dir), torch_dtype=torch.float32)
