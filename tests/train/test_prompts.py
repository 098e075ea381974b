"""Training conditioning: the engine's shapes, E("") for dropped captions, zero padding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from pmg_engine.models.minilm import MiniLM
from pmg_engine.train.data import load_items
from pmg_engine.train.prompts import (
    EMPTY,
    ConditioningSampler,
    all_texts,
    item_texts,
    prompt_embeds,
    sample_prompts,
)
from pmg_engine.train.textcache import TextCache, text_cache_path


@pytest.fixture(scope="module")
def cache(corpus_dir: Path, cache_dir: Path, minilm_loader: Callable[[], MiniLM]) -> TextCache:
    """The text cache of the synthetic corpus."""
    items = load_items(corpus_dir)
    return TextCache.open(text_cache_path(cache_dir, 32), all_texts(items), minilm_loader)


def test_cache_reopens_without_the_encoder(cache: TextCache, cache_dir: Path) -> None:
    """A cached text set reopens from disk without loading MiniLM again."""

    def refuse() -> MiniLM:
        raise AssertionError("MiniLM should not be loaded")

    again = TextCache.open(text_cache_path(cache_dir, 32), cache.texts[:3], refuse)
    torch.testing.assert_close(again.tokens, cache.tokens)


def test_sampled_conditioning_has_engine_layout(cache: TextCache, corpus_dir: Path) -> None:
    """Every row starts with one text's states, then a second segment or zeros."""
    items = load_items(corpus_dir)
    sampler = ConditioningSampler(cache, items)
    generator = torch.Generator().manual_seed(0)
    empty = cache.token_states(EMPTY)
    seen_uncond = seen_two_segments = False
    seen_variants: set[str] = set()
    for _ in range(20):
        rows = torch.arange(len(items))
        cond = sampler.sample(rows, generator)
        assert cond.shape[0] == len(items)
        assert cond.shape[2] == 384
        assert cond.shape[1] % cache.window == 0
        assert cond.shape[1] <= sampler.length
        for row, item in zip(cond, items, strict=True):
            texts = item_texts(item)
            if torch.equal(row[: cache.window], empty):
                seen_uncond = True
                assert row[cache.window :].abs().sum() == 0
                continue
            names = ("styled", "styled_label", "caption", "label")
            starts = {name: cache.token_states(texts[name]) for name in names}
            name = next(n for n, s in starts.items() if torch.equal(row[: len(s)], s))
            rest = row[len(starts[name]) :]
            style = cache.token_states(texts["style"])
            if len(rest) >= len(style) and torch.equal(rest[: len(style)], style):
                seen_two_segments = True
                rest = rest[len(style) :]
            elif name in ("caption", "label"):
                # Every variant carries the style words: a bare caption never trains.
                raise AssertionError(f"{name} without its style segment")
            seen_variants.add(name)
            assert rest.abs().sum() == 0
    assert seen_uncond
    assert seen_two_segments
    assert seen_variants == {"styled", "styled_label", "caption", "label"}


def test_prompt_embeds_pad_negative_to_the_same_shape(
    cache: TextCache,
    corpus_dir: Path,
    cache_dir: Path,
    minilm_loader: Callable[[], MiniLM],
) -> None:
    """Sampling embeds: E(prompt) and E("") zero-padded to one shape, as the engine builds them."""
    prompts = sample_prompts(load_items(corpus_dir, ("style-heldout",)), 4)
    assert len(prompts) == 4
    # The sample prompts are held-out texts: the cache encodes them on open, as training does.
    with_prompts = TextCache.open(
        text_cache_path(cache_dir, 32), [*cache.texts, *prompts], minilm_loader
    )
    positive, negative = prompt_embeds(with_prompts, prompts)
    assert positive.shape[0] == len(prompts)
    assert positive.shape == negative.shape
    torch.testing.assert_close(negative[0, : cache.window], with_prompts.token_states(EMPTY))
