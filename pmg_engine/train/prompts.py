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
# Every variant carries the style words, inline or as the separate segment that preferences add,
# so the look asked for is always in the condition the UNet learns to follow (style control).
# Labels ("cat face") are what people type; the styled label pairs them with the look.
VARIANTS: tuple[tuple[str, str | None, float], ...] = (
    ("styled", None, 0.3),
    ("styled_label", None, 0.2),
    ("caption", "style", 0.2),
    ("label", "style", 0.2),
)
EMPTY = ""
TEXT_NAMES = ("styled", "styled_label", "caption", "label", "style")


def item_texts(item: CorpusItem) -> dict[str, str]:
    """Return the texts the generator is trained with for ``item``, by variant name."""
    style = style_phrase(item)
    return {
        "styled": item.styled_caption,
        "styled_label": f"{item.label}, {style}",
        "caption": item.caption,
        "label": item.label,
        "style": style,
    }


def all_texts(items: Sequence[CorpusItem]) -> list[str]:
    """Return every text the conditioning of ``items`` needs, the empty prompt included."""
    texts = {EMPTY}
    for item in items:
        texts.update(item_texts(item).values())
    return sorted(texts)


class ConditioningSampler:
    """Draw conditioning ``[B, L, D]`` for a batch of items from the text cache.

    Sampling is vectorised: a table gives each (variant, item) its first and second cache row,
    and one gather builds the batch, on whatever device the sampler was moved to. The per-row
    Python loop it replaces launched three small copies per sample, the likely bound of the GPU
    run at 6-8 steps/s; on two CPU cores it is 1.4-1.7x faster
    (``benchmarks/conditioning_sampler.py``).
    """

    def __init__(self, cache: TextCache, items: Sequence[CorpusItem]) -> None:
        self.window = cache.window
        self.length = (MAX_CHUNKS + 1) * cache.window
        texts = [item_texts(item) for item in items]
        rows = {name: cache.rows(t[name] for t in texts) for name in TEXT_NAMES}
        empty_row = int(cache.rows([EMPTY])[0])
        count = len(items)
        # Row 0 of each table is the dropped caption: E("") and no second segment.
        first = [torch.full((count,), empty_row, dtype=torch.long)]
        second = [torch.full((count,), -1, dtype=torch.long)]
        for head, tail, _ in VARIANTS:
            first.append(rows[head])
            second.append(rows[tail] if tail is not None else torch.full((count,), -1))
        self.first = torch.stack(first)
        self.second = torch.stack(second)
        self.tokens = cache.tokens
        self.lengths = cache.chunks.long() * cache.window
        self.weights = torch.tensor([UNCOND_PROBABILITY] + [w for *_, w in VARIANTS])
        self.weights = self.weights / self.weights.sum()

    def to(self, device: torch.device) -> ConditioningSampler:
        """Move the token states and the tables to ``device`` (the GPU run keeps them there)."""
        self.first, self.second = self.first.to(device), self.second.to(device)
        self.tokens, self.lengths = self.tokens.to(device), self.lengths.to(device)
        return self

    def sample(self, items: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return fp32 conditioning for the item indices ``items`` (one variant per sample)."""
        choice = torch.multinomial(self.weights, len(items), replacement=True, generator=generator)
        # Half the batches are padded to the longest row, half to the full length: the engine's
        # grids pad with zeros to whatever their longest row is.
        full = bool(torch.rand(1, generator=generator) < 0.5)
        device = self.tokens.device
        choice, items = choice.to(device), items.to(device)
        head = self.first[choice, items]
        tail = self.second[choice, items]
        head_len = self.lengths[head]
        tail_len = torch.where(tail >= 0, self.lengths[tail.clamp(min=0)], 0)
        used = int((head_len + tail_len).max())
        length = max(used, self.length) if full else used
        position = torch.arange(length, device=device).unsqueeze(0)
        in_head = position < head_len.unsqueeze(1)
        tail_position = position - head_len.unsqueeze(1)
        in_tail = ~in_head & (tail_position < tail_len.unsqueeze(1))
        # One gather: each output position reads the head, the tail, or (masked) anything.
        source = torch.where(in_head, head.unsqueeze(1), tail.clamp(min=0).unsqueeze(1))
        span, width = self.tokens.shape[1:]
        offset = torch.where(in_head, position, tail_position).clamp(0, span - 1)
        flat = (source * span + offset).flatten()
        # fp32: CPU autocast refuses to concatenate the cache's fp16 rows downstream.
        out = self.tokens.view(-1, width).index_select(0, flat).float()
        out = out.view(len(items), length, width)
        out[~(in_head | in_tail)] = 0
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
