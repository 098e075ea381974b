"""The compute half of a request: keywords, conditioning grid, candidates, selection, files.

Runs in a worker thread (or a worker process); it touches no database.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmg_engine.conditioning import (
    ConditionWeights,
    build_conditioning_grid,
    personalization_grid,
)
from pmg_engine.errors import PMGError
from pmg_engine.keywords.chains import is_blocked
from pmg_engine.keywords.text import clean_keyword, dedupe
from pmg_engine.scoring import score_candidates
from pmg_engine.service._types import EngineModels, Progress, ProgressCallback, ServiceConfig
from pmg_engine.states import Kind
from pmg_engine.stickers import make_full_image, make_sticker

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from pmg_engine.db.models import Generation
    from pmg_engine.reference import ReferenceItem

log = logging.getLogger(__name__)
CONVERSATION_PREFIX = "a cute emoji sticker"
# Outputs up to this side (our own 64 px generator) go through the learned upscaler; Stable
# Diffusion's 512 px and up are already large enough and are left as they are.
UPSCALE_MAX_SIDE = 128


class NoGeneratorError(PMGError):
    """No generator is configured or its weights are missing."""


@dataclass(frozen=True)
class Job:
    """The plain values of a generation row that the compute thread needs."""

    generation_id: int
    user_id: int
    prompt: str
    kind: Kind
    seed: int
    personalization_weight: float

    @classmethod
    def of(cls, generation: Generation) -> Job:
        return cls(
            generation_id=generation.id,
            user_id=generation.user_id,
            prompt=generation.prompt,
            kind=Kind(generation.kind),
            seed=generation.seed,
            personalization_weight=generation.personalization_weight,
        )


@dataclass(frozen=True)
class Rendered:
    """The selected output and everything needed to explain it."""

    output_key: str
    target_keywords: list[str]
    preference_keywords: list[str]
    candidates: list[dict[str, Any]]
    selected_index: int
    model_id: str


class Renderer:
    """Turns a job and a profile into a stored sticker or image."""

    def __init__(self, *, models: EngineModels, config: ServiceConfig) -> None:
        self.models = models
        self.config = config

    def _reference(self, target_text: str, preference: Sequence[str]) -> ReferenceItem | None:
        index = self.models.reference
        if index is None:
            return None
        style = preferred_style(preference, index.styles)
        return index.nearest(target_text, style=style, k=1)[0]

    def _enlarge(self, image: Image.Image) -> Image.Image:
        """Return a small output drawn larger by the upscaler, or ``image`` when there is none."""
        upscaler = self.models.upscaler
        if upscaler is None or max(image.size) > UPSCALE_MAX_SIDE:
            return image
        return upscaler.upscale(image)

    def preference_keywords(
        self,
        *,
        profile_keywords: Sequence[str],
        pinned: Sequence[str],
        banned: Sequence[str],
        target_keywords: Sequence[str],
    ) -> list[str]:
        """Pins first, then learned keywords; never banned ones or the requested thing."""
        pins = [k for k in (clean_keyword(p) for p in pinned) if k]
        blocked = [k for k in (clean_keyword(b) for b in banned) if k]
        learned = [
            k for k in profile_keywords if not is_blocked(k, blocked) and k not in target_keywords
        ]
        limit = self.models.preference.num_keywords
        return dedupe([*pins, *learned])[: max(limit, len(pins))]

    def render(
        self,
        *,
        job: Job,
        profile_keywords: Sequence[str],
        implicit: torch.Tensor | None,
        pinned: Sequence[str],
        banned: Sequence[str],
        turns: Sequence[tuple[str, str]],
        timings: dict[str, float],
        on_progress: ProgressCallback | None = None,
    ) -> Rendered:
        """Generate the candidate grid in one batch, select by z, post-process and store."""
        notify = on_progress or (lambda _: None)
        generator = self.models.generator
        if generator is None:
            raise NoGeneratorError(
                "no image generator is available: set PMG_GENERATOR__MODEL to a Stable "
                "Diffusion model folder or hub id, or install the project's offline model pack"
            )
        # 1. Target and preference keywords.
        notify(Progress("keywords"))
        started = time.perf_counter()
        if job.prompt:
            target = self.models.target.from_request(job.prompt).keywords or [job.prompt]
            target_text = ", ".join(target)
        else:
            speakers = [("User" if role == "user" else "Friend", text) for role, text in turns]
            target = self.models.target.from_conversation(speakers).keywords
            target_text = ", ".join([CONVERSATION_PREFIX, *target])
        preference = self.preference_keywords(
            profile_keywords=profile_keywords,
            pinned=pinned,
            banned=banned,
            target_keywords=target,
        )
        timings["keywords"] = time.perf_counter() - started
        # 2. The condition grid (paper section 4): weights scale with alpha; alpha 0 is plain.
        started = time.perf_counter()
        alpha = job.personalization_weight
        encoder = generator.text_encoder
        if implicit is not None and implicit.shape[-1] != encoder.hidden_size:
            log.warning("implicit tokens of width %s do not fit this generator", implicit.shape)
            implicit = None
        grid = self.config.preference_grid
        personalized = alpha > 0 and (bool(preference) or implicit is not None)
        weights = personalization_grid(
            personalization_weight=alpha if personalized else 0.0,
            grid=grid,
            mode=self.config.weight_mode,
        )
        preference_text = ", ".join(preference) if personalized else ""
        conditioning = build_conditioning_grid(
            encoder=encoder,
            target_text=target_text,
            preference_text=preference_text,
            implicit=implicit if personalized else None,
            weights_grid=weights,
            negative_prompt=self.config.negative_prompt,
        )
        timings["embeddings"] = time.perf_counter() - started
        # 3. All candidates in one batch, one seed each.
        started = time.perf_counter()
        seeds = [(job.seed + i) % 2**63 for i in range(len(grid))]
        size = self.config.image_size
        reference = self._reference(target_text, preference)
        images = generator.generate(
            conditioning,
            seeds=seeds,
            num_inference_steps=self.config.num_inference_steps,
            guidance_scale=self.config.guidance_scale,
            width=size,
            height=size,
            on_step=lambda i, n: notify(Progress("generating", i, n)),
            init_images=[reference.image] * len(seeds) if reference is not None else None,
            strength=self.config.reference_strength,
        )
        timings["generation"] = time.perf_counter() - started
        # 4. Score and select.
        notify(Progress("scoring"))
        started = time.perf_counter()
        candidates: list[dict[str, Any]] = [
            {"index": i, "seed": seed, "weights": _weights_json(weights[min(i, len(weights) - 1)])}
            for i, seed in enumerate(seeds)
        ]
        selected = 0
        if self.models.scorer is not None:
            selection = score_candidates(
                self.models.scorer,
                images,
                target_text=target_text,
                preference_text=preference_text,
                personalization_weight=alpha,
            )
            selected = selection.chosen_index
            for row, scores in zip(candidates, selection.to_json()["candidates"], strict=True):
                row.update({k: v for k, v in scores.items() if k != "index"})
        timings["scoring"] = time.perf_counter() - started
        # 5. Post-process and store.
        notify(Progress("saving"))
        started = time.perf_counter()
        image = self._enlarge(images[selected])
        data = make_sticker(image).png if job.kind == Kind.STICKER else make_full_image(image)
        key = f"{job.user_id}/{job.generation_id}-{seeds[selected]}.png"
        _write_atomically(self.config.outputs_dir / key, data)
        timings["postprocess"] = time.perf_counter() - started
        if reference is not None:
            for row in candidates:
                row["reference"] = {"id": reference.id, "caption": reference.caption}
        return Rendered(
            output_key=key,
            target_keywords=list(target),
            preference_keywords=preference if personalized else [],
            candidates=candidates,
            selected_index=selected,
            model_id=generator.model_id,
        )


STYLE_WORDS = {
    "fluent-flat": ("flat",),
    "fluent-high-contrast": ("high contrast", "line art", "black and white", "monochrome"),
    "fluent-color": ("glossy", "3d"),
    "twemoji": ("twemoji", "twitter"),
    "noto": ("noto", "google"),
}


def preferred_style(keywords: Sequence[str], styles: Sequence[str]) -> str | None:
    """Return the corpus style the user's keywords ask for, when one is named."""
    text = " " + " ".join(keywords).lower() + " "
    for style, words in STYLE_WORDS.items():
        if style in styles and any(f" {w} " in text for w in words):
            return style
    return None


def _weights_json(weights: ConditionWeights) -> dict[str, float]:
    return {
        "target": weights.target,
        "implicit": weights.implicit,
        "preference": weights.preference,
        "repeats": weights.repeats,
    }


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
