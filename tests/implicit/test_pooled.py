"""The pooled-encoder implicit embedder on a tiny real CLIP text encoder."""

from __future__ import annotations

import pytest
import torch

from pmg_engine.generators import DiffusersGenerator
from pmg_engine.implicit import PooledEncoderEmbedder

LINES = [
    'User said: "I love cats"',
    "User used the emoji cat face",
    'User said: "pastel colours please"',
    'User asked for a sticker of "a dragon"',
    'User said: "neon pixel art"',
]


def test_shape_norm_and_determinism(tiny_generator: DiffusersGenerator) -> None:
    """N tokens of the encoder's width, with a real token's norm, the same every time."""
    encoder = tiny_generator.text_encoder
    embedder = PooledEncoderEmbedder(encoder, num_tokens=3)
    soft = embedder.embed(LINES)
    assert soft.shape == (3, encoder.hidden_size)
    assert torch.isfinite(soft).all()
    real_norm = encoder.encode([LINES[0]]).tokens[0].float().norm(dim=-1).mean()
    assert soft.norm(dim=-1).mean() == pytest.approx(float(real_norm), rel=0.5)
    assert torch.equal(soft, embedder.embed(LINES))
    assert embedder.model_id.startswith("pooled:")


def test_tokens_follow_the_history(tiny_generator: DiffusersGenerator) -> None:
    """Different histories give different tokens; the newest stretch drives the last token."""
    embedder = PooledEncoderEmbedder(tiny_generator.text_encoder, num_tokens=2)
    base = embedder.embed(LINES)
    changed_end = embedder.embed([*LINES[:-1], 'User said: "gothic castles at night"'])
    assert torch.allclose(base[0], changed_end[0])
    assert not torch.allclose(base[1], changed_end[1])


def test_short_history_and_bad_input(tiny_generator: DiffusersGenerator) -> None:
    """One line still gives N tokens; an empty history and N=0 are clear errors."""
    embedder = PooledEncoderEmbedder(tiny_generator.text_encoder, num_tokens=4)
    assert embedder.embed(["User said: hi cats"]).shape[0] == 4
    with pytest.raises(ValueError, match="empty history"):
        embedder.embed(["  ", ""])
    with pytest.raises(ValueError, match="num_tokens"):
        PooledEncoderEmbedder(tiny_generator.text_encoder, num_tokens=0)
