"""Conditioning assembly: [w_t·E(target); w_i·implicit; w_p·E(preference)] and its negative."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from pmg_engine.conditioning import (
    Conditioning,
    ConditionWeights,
    build_conditioning,
    build_conditioning_grid,
    personalization_grid,
    stack_conditionings,
)
from pmg_engine.generators.text_encoders import BertTextEncoder, CLIPTextEncoder, SDXLTextEncoder

TARGET = "a cat drinking coffee"
PREFERENCE = "pastel colours, kawaii, pixel art"
N_IMPLICIT = 4
WINDOW = 77


@pytest.fixture(scope="module")
def implicit() -> torch.Tensor:
    """Four soft tokens in the tiny CLIP space."""
    return torch.randn(N_IMPLICIT, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("weights", "expected_length"),
    [
        (ConditionWeights(1, 1, 1), WINDOW + N_IMPLICIT + WINDOW),
        (ConditionWeights(0.5, 2, 1.5), WINDOW + N_IMPLICIT + WINDOW),
        (ConditionWeights(1, 0, 1), WINDOW + WINDOW),
        (ConditionWeights(1, 1, 0), WINDOW + N_IMPLICIT),
        (ConditionWeights(1, 0, 0), WINDOW),
        (ConditionWeights(0, 0, 0), WINDOW),
    ],
)
def test_shapes_for_each_weight_combination(
    clip_encoder: CLIPTextEncoder,
    implicit: torch.Tensor,
    weights: ConditionWeights,
    expected_length: int,
) -> None:
    """Each part adds its tokens unless its weight is 0; the negative has the same shape."""
    cond = build_conditioning(
        encoder=clip_encoder,
        target_text=TARGET,
        preference_text=PREFERENCE,
        implicit=implicit,
        weights=weights,
    )
    assert cond.prompt_embeds.shape == (1, expected_length, 32)
    assert cond.negative_prompt_embeds.shape == cond.prompt_embeds.shape
    assert cond.pooled_prompt_embeds is None
    assert cond.weights == (weights,)


@pytest.mark.parametrize(
    ("preference_text", "use_implicit", "weights"),
    [
        ("", False, ConditionWeights()),
        ("   ", False, ConditionWeights(implicit=0.0)),
        (PREFERENCE, True, ConditionWeights(implicit=0.0, preference=0.0)),
        ("", True, ConditionWeights(implicit=0.0, preference=3.0)),
    ],
)
def test_personalization_off_equals_the_plain_target_embedding(
    clip_encoder: CLIPTextEncoder,
    implicit: torch.Tensor,
    preference_text: str,
    use_implicit: bool,
    weights: ConditionWeights,
) -> None:
    """Weight 0 or an empty preference drops the part, leaving exactly E(target)."""
    cond = build_conditioning(
        encoder=clip_encoder,
        target_text=TARGET,
        preference_text=preference_text,
        implicit=implicit if use_implicit else None,
        weights=weights,
    )
    assert torch.equal(cond.prompt_embeds, clip_encoder.encode([TARGET]).tokens)
    assert torch.equal(cond.negative_prompt_embeds, clip_encoder.encode([""]).tokens)


def test_weights_scale_each_part(clip_encoder: CLIPTextEncoder, implicit: torch.Tensor) -> None:
    """Each slice of prompt_embeds is its encoded part times its weight."""
    weights = ConditionWeights(target=2.0, implicit=0.5, preference=3.0)
    cond = build_conditioning(
        encoder=clip_encoder,
        target_text=TARGET,
        preference_text=PREFERENCE,
        implicit=implicit,
        weights=weights,
    )
    target = clip_encoder.encode([TARGET]).tokens[0]
    preference = clip_encoder.encode([PREFERENCE]).tokens[0]
    row = cond.prompt_embeds[0]
    torch.testing.assert_close(row[:WINDOW], 2.0 * target)
    torch.testing.assert_close(row[WINDOW : WINDOW + N_IMPLICIT], 0.5 * implicit)
    torch.testing.assert_close(row[WINDOW + N_IMPLICIT :], 3.0 * preference)


def test_long_prompts_are_chunked_not_cut(clip_encoder: CLIPTextEncoder) -> None:
    """A target over 75 tokens takes two 77-token windows; its tail still changes the result."""
    long_target = "cat " * 30  # one token per character: 120 tokens
    cond = build_conditioning(
        encoder=clip_encoder,
        target_text=long_target,
        preference_text="",
        implicit=None,
        weights=ConditionWeights(),
    )
    assert cond.prompt_embeds.shape == (1, 2 * WINDOW, 32)
    assert cond.negative_prompt_embeds.shape == (1, 2 * WINDOW, 32)
    changed_tail = build_conditioning(
        encoder=clip_encoder,
        target_text=long_target + "dog",
        preference_text="",
        implicit=None,
        weights=ConditionWeights(),
    )
    assert torch.equal(cond.prompt_embeds[:, :WINDOW], changed_tail.prompt_embeds[:, :WINDOW])
    assert not torch.equal(cond.prompt_embeds[:, WINDOW:], changed_tail.prompt_embeds[:, WINDOW:])


def test_negative_prompt_is_encoded_and_zero_padded(
    clip_encoder: CLIPTextEncoder, implicit: torch.Tensor
) -> None:
    """The negative prompt fills its own window; the rest up to the prompt length is zeros."""
    cond = build_conditioning(
        encoder=clip_encoder,
        target_text=TARGET,
        preference_text=PREFERENCE,
        implicit=implicit,
        weights=ConditionWeights(),
        negative_prompt="blurry, watermark",
    )
    negative = cond.negative_prompt_embeds[0]
    assert torch.equal(negative[:WINDOW], clip_encoder.encode(["blurry, watermark"]).tokens[0])
    assert torch.count_nonzero(negative[WINDOW:]) == 0


def test_negative_longer_than_prompt_pads_the_prompt(clip_encoder: CLIPTextEncoder) -> None:
    """A negative prompt over one window is kept whole and the prompt is zero-padded to match."""
    cond = build_conditioning(
        encoder=clip_encoder,
        target_text=TARGET,
        preference_text="",
        implicit=None,
        weights=ConditionWeights(),
        negative_prompt="blurry " * 20,
    )
    assert cond.prompt_embeds.shape == cond.negative_prompt_embeds.shape == (1, 2 * WINDOW, 32)
    assert torch.equal(cond.prompt_embeds[:, :WINDOW], clip_encoder.encode([TARGET]).tokens)
    assert torch.count_nonzero(cond.prompt_embeds[:, WINDOW:]) == 0


def test_implicit_width_mismatch_names_both_sizes(clip_encoder: CLIPTextEncoder) -> None:
    """Soft tokens from another text space are refused with both widths in the message."""
    with pytest.raises(ValueError, match=r"width 384.*hidden size 32"):
        build_conditioning(
            encoder=clip_encoder,
            target_text=TARGET,
            preference_text=PREFERENCE,
            implicit=torch.zeros(2, 384),
            weights=ConditionWeights(),
        )


@pytest.mark.parametrize(
    "bad",
    [torch.zeros(1, 2, 32), torch.full((2, 32), math.nan)],
    ids=["3d", "nan"],
)
def test_implicit_must_be_finite_n_by_d(clip_encoder: CLIPTextEncoder, bad: torch.Tensor) -> None:
    """Implicit tokens must be a finite [N, D] tensor."""
    with pytest.raises(ValueError, match="implicit"):
        build_conditioning(
            encoder=clip_encoder,
            target_text=TARGET,
            preference_text="",
            implicit=bad,
            weights=ConditionWeights(),
        )


def test_blank_target_is_refused(clip_encoder: CLIPTextEncoder) -> None:
    """The target part anchors the sequence, so it cannot be blank."""
    with pytest.raises(ValueError, match="target_text"):
        build_conditioning(
            encoder=clip_encoder,
            target_text="  ",
            preference_text=PREFERENCE,
            implicit=None,
            weights=ConditionWeights(),
        )


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, True, "1"])
def test_condition_weights_are_validated(value: object) -> None:
    """Weights must be finite non-negative numbers, and the message names the weight."""
    with pytest.raises(ValueError, match="preference weight"):
        ConditionWeights(preference=value)  # type: ignore[arg-type]


def test_grid_equals_stacked_single_rows(
    clip_encoder: CLIPTextEncoder, implicit: torch.Tensor
) -> None:
    """A weight grid built at once equals its rows built one by one and stacked."""
    grid = [ConditionWeights(1, 1, w) for w in (0.5, 1.0, 2.0)]
    parts: dict[str, Any] = {
        "encoder": clip_encoder,
        "target_text": TARGET,
        "preference_text": PREFERENCE,
        "implicit": implicit,
    }
    batched = build_conditioning_grid(weights_grid=grid, **parts)
    stacked = stack_conditionings([build_conditioning(weights=w, **parts) for w in grid])
    assert batched.batch_size == stacked.batch_size == 3
    assert torch.equal(batched.prompt_embeds, stacked.prompt_embeds)
    assert torch.equal(batched.negative_prompt_embeds, stacked.negative_prompt_embeds)
    assert stacked.weights == tuple(grid)


def test_zero_weight_in_a_grid_needs_keep_zero_parts(
    clip_encoder: CLIPTextEncoder, implicit: torch.Tensor
) -> None:
    """A zero weight changes the length; keep_zero_parts keeps it as zeros so rows batch."""
    grid = [ConditionWeights(preference=0.0), ConditionWeights(preference=1.0)]
    parts: dict[str, Any] = {
        "encoder": clip_encoder,
        "target_text": TARGET,
        "preference_text": PREFERENCE,
        "implicit": implicit,
    }
    with pytest.raises(ValueError, match="keep_zero_parts"):
        build_conditioning_grid(weights_grid=grid, **parts)
    with pytest.raises(ValueError, match="keep_zero_parts"):
        stack_conditionings([build_conditioning(weights=w, **parts) for w in grid])
    kept = build_conditioning_grid(weights_grid=grid, keep_zero_parts=True, **parts)
    assert kept.prompt_embeds.shape == (2, 2 * WINDOW + N_IMPLICIT, 32)
    assert torch.count_nonzero(kept.prompt_embeds[0, WINDOW + N_IMPLICIT :]) == 0


def test_sdxl_pooled_comes_from_target_and_empty_negative_is_zeros(
    sdxl_encoder: SDXLTextEncoder,
) -> None:
    """SDXL rows carry the target's pooled vector; no negative prompt means zeros, as diffusers."""
    cond = build_conditioning(
        encoder=sdxl_encoder,
        target_text=TARGET,
        preference_text=PREFERENCE,
        implicit=torch.ones(2, 64),
        weights=ConditionWeights(),
    )
    target = sdxl_encoder.encode([TARGET])
    assert cond.prompt_embeds.shape == (1, WINDOW + 2 + WINDOW, 64)
    assert target.pooled is not None
    assert cond.pooled_prompt_embeds is not None
    assert torch.equal(cond.pooled_prompt_embeds, target.pooled)
    assert cond.negative_pooled_prompt_embeds is not None
    assert torch.count_nonzero(cond.negative_pooled_prompt_embeds) == 0
    assert torch.count_nonzero(cond.negative_prompt_embeds) == 0
    with_negative = build_conditioning(
        encoder=sdxl_encoder,
        target_text=TARGET,
        preference_text="",
        implicit=None,
        weights=ConditionWeights(),
        negative_prompt="blurry",
    )
    blurry = sdxl_encoder.encode(["blurry"]).pooled
    assert with_negative.negative_pooled_prompt_embeds is not None
    assert blurry is not None
    assert torch.equal(with_negative.negative_pooled_prompt_embeds, blurry)


def test_bert_encoder_conditioning_uses_its_fixed_window(bert_encoder: BertTextEncoder) -> None:
    """The own model's parts are multiples of the BERT window (16 for the tiny tokenizer)."""
    cond = build_conditioning(
        encoder=bert_encoder,
        target_text="a cat",
        preference_text="dog " * 10,  # 10 tokens + 2 specials: one window; 20 would take two
        implicit=torch.zeros(3, 32),
        weights=ConditionWeights(),
    )
    assert cond.prompt_embeds.shape == (1, 16 + 3 + 16, 32)


def test_conditioning_rejects_mismatched_negative() -> None:
    """A Conditioning whose negative differs in shape from the prompt cannot be made."""
    with pytest.raises(ValueError, match="negative_prompt_embeds"):
        Conditioning(
            prompt_embeds=torch.zeros(1, 5, 8), negative_prompt_embeds=torch.zeros(1, 4, 8)
        )


def test_scale_mode_multiplies_the_taste_parts_by_alpha() -> None:
    """Scale mode: one row per grid value, taste parts at alpha·g, target at 1."""
    rows = personalization_grid(personalization_weight=0.5, grid=(0.5, 1.0, 1.5))
    assert [(r.target, r.implicit, r.preference, r.repeats) for r in rows] == [
        (1.0, 0.25, 0.25, 1),
        (1.0, 0.5, 0.5, 1),
        (1.0, 0.75, 0.75, 1),
    ]


def test_repeat_mode_writes_the_taste_parts_more_often(
    clip_encoder: CLIPTextEncoder, implicit: torch.Tensor
) -> None:
    """Repeat mode: round(2·alpha·g) copies at scale 1; shorter rows are zero-padded."""
    rows = personalization_grid(personalization_weight=1.0, grid=(0.5, 1.0, 1.5), mode="repeat")
    assert [r.repeats for r in rows] == [1, 2, 3]
    grid = build_conditioning_grid(
        encoder=clip_encoder,
        target_text=TARGET,
        preference_text=PREFERENCE,
        implicit=implicit,
        weights_grid=rows,
    )
    part = N_IMPLICIT + WINDOW
    assert grid.sequence_length == WINDOW + 3 * part
    once = grid.prompt_embeds[0]
    torch.testing.assert_close(once[WINDOW : WINDOW + N_IMPLICIT], implicit)
    assert torch.count_nonzero(once[WINDOW + part :]) == 0
    thrice = grid.prompt_embeds[2]
    for copy in range(3):
        start = WINDOW + copy * N_IMPLICIT
        torch.testing.assert_close(thrice[start : start + N_IMPLICIT], implicit)
    assert torch.count_nonzero(thrice[WINDOW + 3 * part - 1]) > 0


def test_weight_zero_is_one_plain_row_in_both_modes() -> None:
    """Alpha 0 ignores the taste: a single row without implicit or preference parts."""
    for mode in ("scale", "repeat"):
        rows = personalization_grid(personalization_weight=0.0, grid=(0.5, 1.0), mode=mode)
        assert rows == [ConditionWeights(target=1.0, implicit=0.0, preference=0.0)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"personalization_weight": 1.5, "grid": (1.0,)}, "personalization_weight"),
        ({"personalization_weight": 0.5, "grid": ()}, "grid"),
        ({"personalization_weight": 0.5, "grid": (1.0,), "mode": "twice"}, "mode"),
    ],
)
def test_personalization_grid_rejects_bad_input(kwargs: dict[str, Any], match: str) -> None:
    """Out-of-range weight, empty grid or unknown mode: a ValueError naming it."""
    with pytest.raises(ValueError, match=match):
        personalization_grid(**kwargs)
