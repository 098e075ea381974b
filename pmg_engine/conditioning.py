"""Assemble the generator's text conditioning from the target, implicit and preference parts.

PMG conditions the diffusion model on ``[w_t·E(target); w_i·soft tokens; w_p·E(preference)]``,
concatenated along the sequence axis of the text encoder's output (PAPER.md §1.3 step 8, the
[C-BN] embedding-scaling variant of §6 item 6). Classifier-free guidance needs negative embeddings
of exactly the same shape; they are the encoded negative prompt padded with zeros (DESIGN.md §6).
In the rare case that the negative prompt is the longer one (over 75 tokens against a short
target), the prompt is zero-padded instead, so neither text is cut.

The un-personalized conditioning is ``E(target)`` alone. A part is dropped, not zeroed, when it
has nothing to say: the implicit part when ``implicit`` is ``None`` or ``w_i == 0``, the preference
part when the preference text is blank or ``w_p == 0``. With ``w_t == 1`` the result then equals
``encoder.encode([target_text]).tokens`` exactly, so "personalization off" reproduces the plain
model. The target part is always kept (scaled by ``w_t``) so the sequence is never empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch

from pmg_engine.generators.text_encoders import EncodedText, TextEncoder

WeightMode = Literal["scale", "repeat"]
WEIGHT_MODES: tuple[WeightMode, ...] = ("scale", "repeat")
# In "repeat" mode a grid value g at weight alpha writes the taste parts round(2·alpha·g) times
# (at least once): alpha 1 with the default grid (0.5, 1, 1.5) repeats them 1, 2 and 3 times,
# the range the paper's released demo uses for its keyword repetition (PAPER.md §1.2 step 4).
REPEAT_SCALE = 2.0


@dataclass(frozen=True)
class ConditionWeights:
    """Scale of each conditioning part; 0 drops the part (see the module docstring).

    ``repeats`` writes the implicit and preference parts that many times (the paper's keyword
    repetition, applied to both taste parts); their scales still apply to every copy.
    """

    target: float = 1.0
    implicit: float = 1.0
    preference: float = 1.0
    repeats: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int):
            raise ValueError(f"repeats must be an int, got {self.repeats!r}")
        if not 1 <= self.repeats <= 8:
            raise ValueError(f"repeats must be between 1 and 8, got {self.repeats}")
        for name in ("target", "implicit", "preference"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} weight must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} weight must be finite and >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))


@dataclass(frozen=True, eq=False)
class Conditioning:
    """A batch of text conditions ready for a diffusers pipeline (one row per candidate)."""

    prompt_embeds: torch.Tensor  # [B, L, D]
    negative_prompt_embeds: torch.Tensor  # [B, L, D]
    pooled_prompt_embeds: torch.Tensor | None = None  # [B, D2], SDXL only
    negative_pooled_prompt_embeds: torch.Tensor | None = None  # [B, D2], SDXL only
    weights: tuple[ConditionWeights, ...] = ()  # one per row, for the generation record

    def __post_init__(self) -> None:
        if self.prompt_embeds.ndim != 3:
            raise ValueError(
                f"prompt_embeds must be [B, L, D], got shape {tuple(self.prompt_embeds.shape)}"
            )
        if self.negative_prompt_embeds.shape != self.prompt_embeds.shape:
            raise ValueError(
                "negative_prompt_embeds must match prompt_embeds: "
                f"{tuple(self.negative_prompt_embeds.shape)} vs {tuple(self.prompt_embeds.shape)}"
            )
        pooled = (self.pooled_prompt_embeds, self.negative_pooled_prompt_embeds)
        if (pooled[0] is None) != (pooled[1] is None):
            raise ValueError("pooled_prompt_embeds and negative_pooled_prompt_embeds go together")
        if (
            pooled[0] is not None
            and pooled[1] is not None
            and (pooled[0].shape != pooled[1].shape or pooled[0].shape[0] != self.batch_size)
        ):
            raise ValueError(
                f"pooled embeddings must both be [{self.batch_size}, D2], got "
                f"{tuple(pooled[0].shape)} and {tuple(pooled[1].shape)}"
            )
        if self.weights and len(self.weights) != self.batch_size:
            raise ValueError(
                f"weights has {len(self.weights)} rows for a batch of {self.batch_size}"
            )

    @property
    def batch_size(self) -> int:
        """Number of rows (candidates)."""
        return int(self.prompt_embeds.shape[0])

    @property
    def sequence_length(self) -> int:
        """Tokens per row."""
        return int(self.prompt_embeds.shape[1])

    def to(self, *, device: torch.device | str, dtype: torch.dtype) -> Conditioning:
        """Return a copy on ``device`` in ``dtype``."""

        def move(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.to(device=device, dtype=dtype)

        return Conditioning(
            prompt_embeds=self.prompt_embeds.to(device=device, dtype=dtype),
            negative_prompt_embeds=self.negative_prompt_embeds.to(device=device, dtype=dtype),
            pooled_prompt_embeds=move(self.pooled_prompt_embeds),
            negative_pooled_prompt_embeds=move(self.negative_pooled_prompt_embeds),
            weights=self.weights,
        )

    def repeat(self, times: int) -> Conditioning:
        """Repeat every row ``times`` times in place (row 0, row 0, row 1, row 1, ...)."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")

        def rep(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.repeat_interleave(times, dim=0)

        return Conditioning(
            prompt_embeds=self.prompt_embeds.repeat_interleave(times, dim=0),
            negative_prompt_embeds=self.negative_prompt_embeds.repeat_interleave(times, dim=0),
            pooled_prompt_embeds=rep(self.pooled_prompt_embeds),
            negative_pooled_prompt_embeds=rep(self.negative_pooled_prompt_embeds),
            weights=tuple(w for w in self.weights for _ in range(times)),
        )


def personalization_grid(
    *, personalization_weight: float, grid: Sequence[float], mode: WeightMode = "scale"
) -> list[ConditionWeights]:
    """Return one weights row per grid value for a user's weight alpha (PAPER.md §4).

    ``scale`` multiplies the taste parts by ``alpha·g`` (the [C-BN] embedding scaling);
    ``repeat`` writes them ``round(2·alpha·g)`` times at scale 1 (the [C-MS] repetition), so
    the embeddings keep the norms the generator saw in training. Alpha 0 is one plain row.
    """
    alpha = float(personalization_weight)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(
            f"personalization_weight must be in [0, 1], got {personalization_weight!r}"
        )
    if mode not in WEIGHT_MODES:
        raise ValueError(f"mode must be one of {WEIGHT_MODES}, got {mode!r}")
    if not grid or any(not g > 0 for g in grid):
        raise ValueError(f"grid must hold positive values, got {list(grid)}")
    if alpha == 0:
        return [ConditionWeights(target=1.0, implicit=0.0, preference=0.0)]
    if mode == "scale":
        return [
            ConditionWeights(target=1.0, implicit=alpha * g, preference=alpha * g) for g in grid
        ]
    return [ConditionWeights(repeats=max(1, min(8, round(REPEAT_SCALE * alpha * g)))) for g in grid]


def build_conditioning(
    *,
    encoder: TextEncoder,
    target_text: str,
    preference_text: str,
    implicit: torch.Tensor | None,
    weights: ConditionWeights,
    negative_prompt: str = "",
    keep_zero_parts: bool = False,
) -> Conditioning:
    """Build one row ``[w_t·E(target); w_i·implicit; w_p·E(preference)]`` and its negative.

    ``keep_zero_parts=True`` keeps a zero-weighted part as zeros instead of dropping it, so the
    row has the same length as its grid neighbours; it is then close to, not equal to, the
    un-personalized conditioning (zero keys still take a share of the attention softmax).
    """
    return build_conditioning_grid(
        encoder=encoder,
        target_text=target_text,
        preference_text=preference_text,
        implicit=implicit,
        weights_grid=[weights],
        negative_prompt=negative_prompt,
        keep_zero_parts=keep_zero_parts,
    )


def build_conditioning_grid(
    *,
    encoder: TextEncoder,
    target_text: str,
    preference_text: str,
    implicit: torch.Tensor | None,
    weights_grid: Sequence[ConditionWeights],
    negative_prompt: str = "",
    keep_zero_parts: bool = False,
) -> Conditioning:
    """Build one row per weights in ``weights_grid``, encoding each text once (§4 balancing)."""
    # 1. Validate.
    if not isinstance(target_text, str) or not target_text.strip():
        raise ValueError(f"target_text must be a non-empty string, got {target_text!r}")
    if not isinstance(preference_text, str):
        raise ValueError(f"preference_text must be a string, got {preference_text!r}")
    if not isinstance(negative_prompt, str):
        raise ValueError(f"negative_prompt must be a string, got {negative_prompt!r}")
    if not weights_grid:
        raise ValueError("weights_grid must hold at least one ConditionWeights")
    for weights in weights_grid:
        if not isinstance(weights, ConditionWeights):
            raise ValueError(f"weights must be ConditionWeights, got {weights!r}")
    _check_implicit(implicit, encoder)

    # 2. Encode each text once, separately, so a part never depends on the others' lengths.
    target = encoder.encode([target_text])
    preference = encoder.encode([preference_text]) if preference_text.strip() else None
    negative = _encode_negative(encoder, negative_prompt, like=target)
    soft = (
        None
        if implicit is None
        else implicit.to(device=target.tokens.device, dtype=target.tokens.dtype).unsqueeze(0)
    )

    # 3. Scale and concatenate each row; pad positive and negative to one length with zeros.
    rows = [
        _assemble(target, soft, preference, weights, keep_zero_parts=keep_zero_parts)
        for weights in weights_grid
    ]
    lengths = {row.shape[1] for row in rows}
    if len(lengths) > 1 and len({w.repeats for w in weights_grid}) > 1:
        # Rows that differ only in how often the taste is written: pad the shorter ones with
        # zeros, as the engine pads every batch and as the own generator was trained.
        longest = max(lengths)
        rows = [_pad_to(row, longest) for row in rows]
        lengths = {longest}
    if len(lengths) > 1:
        raise ValueError(
            f"weights in one grid give different sequence lengths {sorted(lengths)}: a zero "
            "weight drops its part; use keep_zero_parts=True to batch such a grid"
        )
    length = max(rows[0].shape[1], negative.tokens.shape[1])
    prompt_embeds = torch.cat([_pad_to(row, length) for row in rows], dim=0)
    negative_prompt_embeds = _pad_to(negative.tokens, length).expand(len(rows), -1, -1)

    # 4. SDXL also conditions on a pooled vector: the target's, unweighted (it is a global
    # summary, and scaling it would move the sample off the model's training distribution).
    pooled = negative_pooled = None
    if target.pooled is not None:
        pooled = target.pooled.expand(len(rows), -1)
        negative_pooled = (
            negative.pooled.expand(len(rows), -1)
            if negative.pooled is not None
            else torch.zeros_like(pooled)
        )
    return Conditioning(
        prompt_embeds=prompt_embeds,
        negative_prompt_embeds=negative_prompt_embeds.contiguous(),
        pooled_prompt_embeds=None if pooled is None else pooled.contiguous(),
        negative_pooled_prompt_embeds=(
            None if negative_pooled is None else negative_pooled.contiguous()
        ),
        weights=tuple(weights_grid),
    )


def stack_conditionings(conditionings: Sequence[Conditioning]) -> Conditioning:
    """Stack candidates into one batch; all must have the same sequence length and width.

    Within one request the texts and the number of implicit tokens are fixed, so non-zero grid
    weights only scale parts and every row has the same length. Only a zero weight changes the
    length (it drops its part); build such rows with ``keep_zero_parts=True`` or run them in a
    batch of their own.
    """
    if not conditionings:
        raise ValueError("conditionings must hold at least one Conditioning")
    first = conditionings[0]
    shapes = {tuple(c.prompt_embeds.shape[1:]) for c in conditionings}
    if len(shapes) > 1:
        raise ValueError(
            f"cannot stack conditionings of different [L, D] shapes {sorted(shapes)}: a zero "
            "weight drops its part; use keep_zero_parts=True for rows that share a batch"
        )
    has_pooled = {c.pooled_prompt_embeds is not None for c in conditionings}
    if len(has_pooled) > 1:
        raise ValueError("cannot stack conditionings with and without pooled embeddings")
    if any(not c.weights for c in conditionings):
        weights: tuple[ConditionWeights, ...] = ()
    else:
        weights = tuple(w for c in conditionings for w in c.weights)

    def cat(name: str) -> torch.Tensor | None:
        parts = [getattr(c, name) for c in conditionings]
        return None if parts[0] is None else torch.cat(parts, dim=0)

    return replace(
        first,
        prompt_embeds=torch.cat([c.prompt_embeds for c in conditionings], dim=0),
        negative_prompt_embeds=torch.cat([c.negative_prompt_embeds for c in conditionings], dim=0),
        pooled_prompt_embeds=cat("pooled_prompt_embeds"),
        negative_pooled_prompt_embeds=cat("negative_pooled_prompt_embeds"),
        weights=weights,
    )


def _check_implicit(implicit: torch.Tensor | None, encoder: TextEncoder) -> None:
    if implicit is None:
        return
    if not isinstance(implicit, torch.Tensor) or implicit.ndim != 2:
        shape = tuple(implicit.shape) if isinstance(implicit, torch.Tensor) else implicit
        raise ValueError(f"implicit must be an [N, D] tensor, got {shape!r}")
    if implicit.shape[-1] != encoder.hidden_size:
        raise ValueError(
            f"implicit tokens have width {implicit.shape[-1]} but the text encoder "
            f"{encoder.model_id!r} has hidden size {encoder.hidden_size}"
        )
    if not torch.isfinite(implicit).all():
        raise ValueError("implicit tokens contain NaN or infinite values")


def _encode_negative(
    encoder: TextEncoder, negative_prompt: str, *, like: EncodedText
) -> EncodedText:
    if not negative_prompt.strip() and getattr(encoder, "zeros_for_empty_prompt", False):
        # SDXL was trained with zeroed unconditional embeddings; diffusers does the same.
        pooled = None if like.pooled is None else torch.zeros_like(like.pooled)
        return EncodedText(tokens=torch.zeros_like(like.tokens), pooled=pooled)
    return encoder.encode([negative_prompt])


def _assemble(
    target: EncodedText,
    soft: torch.Tensor | None,
    preference: EncodedText | None,
    weights: ConditionWeights,
    *,
    keep_zero_parts: bool,
) -> torch.Tensor:
    parts = [target.tokens * weights.target]
    if soft is not None and (weights.implicit > 0 or keep_zero_parts):
        parts.extend([soft * weights.implicit] * weights.repeats)
    if preference is not None and (weights.preference > 0 or keep_zero_parts):
        parts.extend([preference.tokens * weights.preference] * weights.repeats)
    return torch.cat(parts, dim=1)


def _pad_to(tokens: torch.Tensor, length: int) -> torch.Tensor:
    missing = length - tokens.shape[1]
    if missing == 0:
        return tokens
    padding = tokens.new_zeros(tokens.shape[0], missing, tokens.shape[2])
    return torch.cat([tokens, padding], dim=1)
