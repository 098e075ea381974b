"""Generation for the evaluation: one image per prompt, batched, as the engine conditions it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import torch

from pmg_engine.conditioning import Conditioning, ConditionWeights, build_conditioning_grid

if TYPE_CHECKING:
    from PIL import Image

    from pmg_engine.eval._run import EvalSettings
    from pmg_engine.generators.base import ImageGenerator


class Drawable(Protocol):
    """What one evaluation image is drawn from: a prompt and its own seed."""

    @property
    def prompt(self) -> str:
        """The text the generator is conditioned on."""
        ...

    @property
    def seed(self) -> int:
        """The seed, before the run's ``settings.seed`` is added."""
        ...


def batch_conditioning(generator: ImageGenerator, prompts: Sequence[str]) -> Conditioning:
    """Condition each prompt as the engine does (``E(prompt)``, negative ``E("")``), batched.

    Prompts of different lengths are zero-padded to the longest, as the engine pads its grids
    and as the own generator is trained (pmg_engine/train/prompts.py).
    """
    rows = [
        build_conditioning_grid(
            encoder=generator.text_encoder,
            target_text=prompt,
            preference_text="",
            implicit=None,
            weights_grid=[ConditionWeights()],
        )
        for prompt in prompts
    ]
    length = max(c.sequence_length for c in rows)

    def padded(tensor: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(tensor, (0, 0, 0, length - tensor.shape[1]))

    def pooled(name: str) -> torch.Tensor | None:
        parts = [getattr(c, name) for c in rows]
        return None if parts[0] is None else torch.cat(parts)

    return Conditioning(
        prompt_embeds=torch.cat([padded(c.prompt_embeds) for c in rows]),
        negative_prompt_embeds=torch.cat([padded(c.negative_prompt_embeds) for c in rows]),
        pooled_prompt_embeds=pooled("pooled_prompt_embeds"),
        negative_pooled_prompt_embeds=pooled("negative_pooled_prompt_embeds"),
        weights=tuple(w for c in rows for w in c.weights),
    )


def generate(
    generator: ImageGenerator,
    cases: Sequence[Drawable],
    settings: EvalSettings,
    *,
    references: Sequence[Image.Image] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[Image.Image]:
    """Generate one image per prompt in batches, each with its set seed plus ``settings.seed``."""
    images: list[Image.Image] = []
    for start in range(0, len(cases), settings.batch_size):
        batch = cases[start : start + settings.batch_size]
        images += generator.generate(
            batch_conditioning(generator, [case.prompt for case in batch]),
            seeds=[settings.seed + case.seed for case in batch],
            num_inference_steps=settings.num_inference_steps,
            guidance_scale=settings.guidance_scale,
            init_images=None if references is None else references[start : start + len(batch)],
            strength=settings.strength,
        )
        if on_batch is not None:
            on_batch(len(images))
    return images
