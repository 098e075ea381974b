"""The generator's text conditioning during training, shaped like the engine's ``prompt_embeds``.

The engine conditions on ``[w_t·E(target); w_i·soft tokens; w_p·E(preference keywords)]``, padded
with zeros to a common length, and uses ``E(negative prompt)`` padded with zeros as the negative
(DESIGN.md §1 item 5, §6). Training therefore shows the UNet the same shapes: a caption alone or
a caption followed by a separate style segment, zero padding of varying length, and ``E("")`` as
the dropped-caption condition of classifier-free guidance.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pmg_engine.corpus.manifest import CorpusItem
from pmg_engine.train.data import style_phrase
from pmg_engine.train.textcache import MAX_CHUNKS, TextCache

# The caption of a sample is dropped this often, so classifier-free guidance has an unconditional
# model to push away from.
UNCOND_PROBABILITY = 0.1
# What each step shows besides "no caption": (first segment, optional second segment, weight).
# Labels alone ("cat face") are what people type; style segments are what preferences add.
VARIANTS: tuple[tuple[str, str | None, float], ...] = (
    ("styled", None, 0.35),
    ("caption", "style", 0.2),
    ("label", "style", 0.15),
    ("caption", None, 0.1),
    ("label", None, 0.1),
)
EMPTY = ""


def item_texts(item: CorpusItem) -> dict[str, str]:
    """Return the texts the generator is trained with for ``item``, by variant name."""
    return {
        "styled": item.styled_caption,
        "caption": item.caption,
        "label": item.label,
        "style": style_phrase(item),
    }


def all_texts(items: Sequence[CorpusItem]) -> list[str]:
    """Return every text the conditioning of ``items`` needs, the empty prompt included."""
    texts = {EMPTY}
    for item in items:
        texts.update(item_texts(item).values())
    return sorted(texts)


class ConditioningSampler:
    """Draw conditioning ``[B, L, D]`` for a batch of items from the text cache."""

    def __init__(self, cache: TextCache, items: Sequence[CorpusItem]) -> None:
        self.cache = cache
        self.window = cache.window
        self.length = (MAX_CHUNKS + 1) * cache.window
        names = ("styled", "caption", "label", "style")
        texts = [item_texts(item) for item in items]
        self.rows = {name: cache.rows(t[name] for t in texts) for name in names}
        self.empty_row = int(cache.rows([EMPTY])[0])
        self.weights = torch.tensor([UNCOND_PROBABILITY] + [w for *_, w in VARIANTS])
        self.weights = self.weights / self.weights.sum()

    def _segment(self, row: int) -> torch.Tensor:
        # fp32 here: CPU autocast refuses to concatenate the cache's fp16 rows.
        return self.cache.tokens[row, : int(self.cache.chunks[row]) * self.window].float()

    def sample(self, items: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return fp32 conditioning for the item indices ``items`` (one variant per sample)."""
        choice = torch.multinomial(self.weights, len(items), replacement=True, generator=generator)
        rows: list[list[torch.Tensor]] = []
        for item, pick in zip(items.tolist(), choice.tolist(), strict=True):
            if pick == 0:
                rows.append([self._segment(self.empty_row)])
                continue
            first, second, _ = VARIANTS[pick - 1]
            parts = [self._segment(int(self.rows[first][item]))]
            if second is not None:
                parts.append(self._segment(int(self.rows[second][item])))
            rows.append(parts)
        used = max(sum(len(p) for p in parts) for parts in rows)
        # Half the batches are padded to the longest row, half to the full length: the engine's
        # grids pad with zeros to whatever their longest row is.
        full = bool(torch.rand(1, generator=generator) < 0.5)
        length = max(used, self.length) if full else used
        out = torch.zeros(len(items), length, self.cache.tokens.shape[-1])
        for i, parts in enumerate(rows):
            joined = torch.cat(parts)[:length]
            out[i, : len(joined)] = joined
        return out


def prompt_embeds(cache: TextCache, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``prompt_embeds`` and ``negative_prompt_embeds`` as the engine builds them."""
    segments = [cache.token_states(prompt) for prompt in prompts]
    negative = cache.token_states(EMPTY)
    length = max(max(len(s) for s in segments), len(negative))
    positive = torch.zeros(len(prompts), length, negative.shape[-1])
    for i, segment in enumerate(segments):
        positive[i, : len(segment)] = segment
    negatives = torch.zeros_like(positive)
    negatives[:, : len(negative)] = negative
    return positive, negatives


def sample_prompts(items: Sequence[CorpusItem], count: int = 16) -> list[str]:
    """Return a fixed prompt set: held-out styled captions over all styles, plus free prompts."""
    free = ["cat face", "red heart", "smiling face with sunglasses, twemoji style", "pizza"]
    free = free[: count // 4]
    by_style: dict[str, list[CorpusItem]] = {}
    for item in sorted(items, key=lambda i: i.id):
        by_style.setdefault(item.style, []).append(item)
    picked: list[str] = []
    depth = 0
    while len(picked) < count - len(free) and any(len(v) > depth for v in by_style.values()):
        for style in sorted(by_style):
            group = by_style[style]
            if depth < len(group) and len(picked) < count - len(free):
                # Spread over each style's list so the grid is not all keycaps and flags.
                picked.append(group[(depth * 97) % len(group)].styled_caption)
        depth += 1
    return picked + free
