"""Requests, results and configuration of the generation service."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pmg_engine.guidance import BUILTIN_GUIDANCE_SCALE
from pmg_engine.states import Kind
from pmg_engine.text import clean_text

if TYPE_CHECKING:
    from pmg_engine.conditioning import WeightMode
    from pmg_engine.generators import ImageGenerator
    from pmg_engine.implicit import ImplicitEmbedder
    from pmg_engine.keywords import PreferenceKeywordExtractor, TargetKeywordExtractor
    from pmg_engine.models.upscaler import Upscaler
    from pmg_engine.reference import ReferenceIndex
    from pmg_engine.scoring import Scorer

DEFAULT_NEGATIVE_PROMPT = "lowres, text, watermark, signature, blurry, worst quality, low quality"


def local_user_id(name: str) -> int:
    """Map a local-chat name to a stable id below zero, where no Discord snowflake lives."""
    digest = hashlib.sha256(clean_text(name).strip().casefold().encode("utf-8")).digest()
    return -(int.from_bytes(digest[:7], "big") + 1)


@dataclass(frozen=True)
class Progress:
    """A progress event: ``stage`` is keywords, generating, scoring or saving."""

    stage: str
    step: int = 0
    total: int = 0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ServiceConfig:
    """How the service generates: files, steps, the candidate grid, limits."""

    outputs_dir: Path
    num_inference_steps: int = 25
    guidance_scale: float = BUILTIN_GUIDANCE_SCALE
    # Paper section 4: candidates over a grid of condition weights, scaled by alpha.
    preference_grid: tuple[float, ...] = (0.5, 1.0, 1.5)
    max_prompt_chars: int = 300
    history_window: int = 64
    chat_window: int = 6
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    image_size: int | None = None
    learning_opt_in_default: bool = True
    # Reference-guided mode: img2img from the reference index's nearest item.
    reference_strength: float = 0.6
    # How the user's weight reaches the condition: scale the taste parts, or repeat them.
    weight_mode: WeightMode = "scale"
    # "background": a request draws with the newest stored profile (updated inline only when
    # the user has none) and chat turns and votes refresh it after a quiet ``delay``;
    # "inline": every request first brings the profile up to date (a process that alone holds
    # the implicit embedder, such as a scale-out worker, DESIGN.md section 4). The delay is a
    # pause in the chat: the update then runs while the user reads and types, not while the
    # CPU model writes a reply or draws.
    profile_updates: Literal["background", "inline"] = "background"
    profile_refresh_delay_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.preference_grid or any(g <= 0 for g in self.preference_grid):
            raise ValueError(
                f"preference_grid must hold positive values, got {self.preference_grid}"
            )
        if self.profile_refresh_delay_s < 0:
            raise ValueError(
                f"profile_refresh_delay_s must not be negative, got {self.profile_refresh_delay_s}"
            )
        if self.max_prompt_chars < 1:
            raise ValueError(f"max_prompt_chars must be positive, got {self.max_prompt_chars}")


@dataclass
class EngineModels:
    """The models one process owns; loaded once, never mutated per request."""

    preference: PreferenceKeywordExtractor
    target: TargetKeywordExtractor
    generator: ImageGenerator | None = None
    scorer: Scorer | None = None
    embedder: ImplicitEmbedder | None = None
    reference: ReferenceIndex | None = None
    # Enlarges small outputs before the sticker or full image is made; None: resampling only.
    upscaler: Upscaler | None = None
    llm_model_id: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """One request: a prompt, or ``None`` for a sticker that answers the conversation."""

    user_id: int
    prompt: str | None
    kind: Kind = Kind.STICKER
    personalization_weight: float | None = None
    seed: int | None = None
    job_key: str | None = None
    user_name: str | None = None
    channel_id: int | None = None
    guild_id: int | None = None
    parent_id: int | None = None


@dataclass(frozen=True)
class ChatTurn:
    """The answer to one chat message, whether it was learned from, and whether it was cut.

    ``cut_to`` is the length limit when the message was longer and only its start was kept.
    """

    reply: str
    learned: bool
    cut_to: int | None = None


@dataclass(frozen=True)
class ProfileUpdate:
    """The outcome of a profile update; ``updated`` is False when nothing new was seen."""

    profile_id: int | None
    version: int
    keywords: list[str]
    updated: bool
    llm_called: bool
    new_behaviours: int


@dataclass(frozen=True)
class GenerationResult:
    """What a user is shown: the file and why it looks the way it does."""

    generation_id: int
    job_key: str
    kind: Kind
    output_path: Path
    output_key: str
    prompt: str
    target_keywords: list[str]
    preference_keywords: list[str]
    personalization_weight: float
    seed: int
    model_id: str
    selected_index: int
    candidates: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
