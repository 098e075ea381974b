"""Train the mini scorer: InfoNCE against frozen MiniLM sentence vectors, plus a style head.

Trained on the ``train`` split only; the ``style-heldout`` renderings (concepts seen, style held
out) are what its retrieval figures are measured on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pmg_engine.models.minilm import DEFAULT_WINDOW, MiniLM
from pmg_engine.models.scorer import ScorerConfig, ScorerModel, rgba_to_pixels, save_scorer
from pmg_engine.train._runtime import default_device
from pmg_engine.train.configs import count_parameters, seeded
from pmg_engine.train.data import load_images, load_items
from pmg_engine.train.export import write_card
from pmg_engine.train.textcache import TextCache, text_cache_path

logger = logging.getLogger(__name__)

SCORER_PRESETS: dict[str, tuple[int, ...]] = {"small": (32, 64, 128, 256), "tiny": (8, 8, 16)}
STYLE_LOSS_WEIGHT = 0.5
# Which text stands for an image in a step: with style words, the caption, or the bare label.
TEXT_VARIANTS = ("styled", "caption", "label")
TEXT_WEIGHTS = (0.5, 0.25, 0.25)
SHIFT_PX = 4


def _texts(item: Any) -> dict[str, str]:
    return {"styled": item.styled_caption, "caption": item.caption, "label": item.label}


def _shift(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # Small random translations: generated stickers are not centred like the renderings.
    padded = nn.functional.pad(batch, (SHIFT_PX,) * 4)
    size = batch.shape[-1]
    offsets = torch.randint(0, 2 * SHIFT_PX + 1, (len(batch), 2), generator=generator)
    return torch.stack(
        [
            p[:, y : y + size, x : x + size]
            for p, (y, x) in zip(padded, offsets.tolist(), strict=True)
        ]
    )


def retrieval(image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> dict[str, float]:
    """Return text-to-image top-1 / top-5 where text ``i`` belongs to image ``i``."""
    sims = text_embeds @ image_embeds.T
    ranks = (sims > sims.diagonal()[:, None]).sum(dim=1)
    return {"top1": float((ranks < 1).float().mean()), "top5": float((ranks < 5).float().mean())}


class ScorerTask:
    """Contrastive image-text alignment and style classification on the training split."""

    name = "scorer"

    def __init__(
        self,
        *,
        corpus_dir: Path,
        out_dir: Path,
        cache_dir: Path,
        preset: str = "small",
        text_encoder: Callable[[], MiniLM] | None = None,
        seed: int = 0,
    ) -> None:
        # 1. Training and held-out renderings with their styles.
        self.items = load_items(corpus_dir, ("train",))
        self.held_out = load_items(corpus_dir, ("style-heldout",))
        self.images = load_images(corpus_dir, self.items, size=64, cache_dir=cache_dir)
        self.held_images = load_images(corpus_dir, self.held_out, size=64, cache_dir=cache_dir)
        styles = tuple(sorted({item.style for item in [*self.items, *self.held_out]}))
        style_index = {style: i for i, style in enumerate(styles)}
        self.style_ids = torch.tensor([style_index[i.style] for i in self.items])
        self.held_style_ids = torch.tensor([style_index[i.style] for i in self.held_out])
        # 2. Frozen MiniLM sentence vectors of every text, from the shared cache.
        per_item = [_texts(item) for item in [*self.items, *self.held_out]]
        texts = sorted({t for entry in per_item for t in entry.values()} | {""})
        self.cache = TextCache.open(
            text_cache_path(cache_dir, DEFAULT_WINDOW),
            texts,
            text_encoder or (lambda: MiniLM.load(device=default_device())),
        )
        self.text_rows = torch.stack(
            [self.cache.rows(_texts(item)[v] for item in self.items) for v in TEXT_VARIANTS], 1
        )
        self.held_rows = {
            v: self.cache.rows(_texts(item)[v] for item in self.held_out) for v in TEXT_VARIANTS
        }
        # 3. The model.
        self.preset = preset
        self.out_dir = out_dir
        self.styles = styles
        config = ScorerConfig(widths=SCORER_PRESETS[preset], styles=styles)
        with seeded(seed):
            self.model: nn.Module = ScorerModel(config)
        logger.info(
            "scorer %s: %.2f M parameters, %d training images, %d held-out, %d styles",
            preset,
            count_parameters(self.model) / 1e6,
            len(self.items),
            len(self.held_out),
            len(styles),
        )

    def describe(self) -> dict[str, Any]:
        """Return the preset and data sizes, stored in checkpoints."""
        return {
            "preset": self.preset,
            "styles": list(self.styles),
            "items": len(self.items),
            "held_out": len(self.held_out),
        }

    def loss(
        self, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """Return symmetric InfoNCE over the batch plus the weighted style cross-entropy."""
        rows = torch.randperm(len(self.items), generator=generator)[:batch_size]
        variant = torch.multinomial(
            torch.tensor(TEXT_WEIGHTS), len(rows), replacement=True, generator=generator
        )
        text_rows = self.text_rows[rows, variant]
        texts = self.cache.sentences[text_rows].to(device)
        pixels = rgba_to_pixels(_shift(self.images[rows], generator)).to(device)
        embeds, style_logits = self.model(pixels)
        scale = self.model.logit_scale.exp().clamp(max=100.0)  # type: ignore[operator]
        logits = scale * embeds.float() @ texts.T
        # Two images of one concept can draw the same text (its caption or label): both count
        # as matches instead of one being pushed away as a negative.
        same = (text_rows[:, None] == text_rows[None, :]).float().to(device)
        targets = same / same.sum(dim=1, keepdim=True)
        contrastive = 0.5 * (
            nn.functional.cross_entropy(logits, targets)
            + nn.functional.cross_entropy(logits.T, targets)
        )
        style = nn.functional.cross_entropy(style_logits.float(), self.style_ids[rows].to(device))
        return contrastive + STYLE_LOSS_WEIGHT * style

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Return held-out retrieval (among all held-out images) and style accuracy."""
        device = next(model.parameters()).device
        embeds, logits = [], []
        for start in range(0, len(self.held_images), 256):
            pixels = rgba_to_pixels(self.held_images[start : start + 256]).to(device)
            e, s = model(pixels)
            embeds.append(e.float().cpu())
            logits.append(s.float().cpu())
        image_embeds = torch.cat(embeds)
        figures: dict[str, float] = {}
        for variant in ("styled", "caption"):
            found = retrieval(image_embeds, self.cache.sentences[self.held_rows[variant]])
            figures.update({f"heldout_{variant}_{k}": v for k, v in found.items()})
        accuracy = (torch.cat(logits).argmax(dim=1) == self.held_style_ids).float().mean()
        figures["heldout_style_accuracy"] = float(accuracy)
        return figures

    def on_checkpoint(self, step: int, ema_model: nn.Module) -> dict[str, float]:
        """Return held-out figures of the EMA model."""
        return self.evaluate(ema_model)

    def finish(self, step: int, ema_model: nn.Module) -> None:
        """Save the EMA scorer as ``<out>/model`` (config.json + fp16 safetensors)."""
        assert isinstance(ema_model, ScorerModel)
        folder = self.out_dir / "model"
        save_scorer(ema_model, folder)
        write_card(folder, {**self.describe(), "steps": step, **self.evaluate(ema_model)})
