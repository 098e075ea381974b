"""Run the model evaluation on the fixed set: scorer retrieval, then generation in both modes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray

from pmg_engine.corpus.manifest import CorpusItem
from pmg_engine.eval._generate import generate
from pmg_engine.eval._prompts import NUM_DISTRACTORS, NUM_PROMPTS
from pmg_engine.eval.colours import colour_cases, colour_figures
from pmg_engine.eval.evalset import EvalPrompt, EvalSet, resolve_items
from pmg_engine.eval.metrics import match_rate, retrieval
from pmg_engine.eval.samples import load_images, save_grid
from pmg_engine.guidance import BUILTIN_GUIDANCE_SCALE

if TYPE_CHECKING:
    from PIL import Image

    from pmg_engine.generators.base import ImageGenerator
    from pmg_engine.reference import ReferenceIndex

ProgressFn = Callable[[str, int, int], None]


class EvalScorer(Protocol):
    """What the evaluation needs of a scorer: the mini scorer's embeddings and style head."""

    @property
    def styles(self) -> tuple[str, ...]:
        """The style head's classes."""
        ...

    def embed_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Return unit image embeddings ``[B, D]``."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Return unit text embeddings ``[B, D]``."""
        ...

    def classify_styles(self, images: Sequence[Image.Image]) -> list[str]:
        """Return the most likely style of each image."""
        ...


@dataclass(frozen=True)
class EvalSettings:
    """Knobs of one evaluation run; the defaults are the reported configuration."""

    prompts: int = NUM_PROMPTS
    num_inference_steps: int = 20
    guidance_scale: float = BUILTIN_GUIDANCE_SCALE
    strength: float = 0.6
    seed: int = 0
    batch_size: int = 50
    num_distractors: int = NUM_DISTRACTORS
    grid_size: int = 8

    def __post_init__(self) -> None:
        for name in (
            "prompts",
            "num_inference_steps",
            "batch_size",
            "num_distractors",
            "grid_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 < self.strength <= 1:
            raise ValueError(f"strength must be in (0, 1], got {self.strength!r}")
        if int(self.num_inference_steps * self.strength) < 1:
            # Checked here, not by the generator after the text-to-image half has run.
            raise ValueError(
                f"strength {self.strength} x num_inference_steps {self.num_inference_steps} "
                "leaves no denoising step; raise either"
            )
        if not 0 <= self.guidance_scale < float("inf"):
            raise ValueError(f"guidance_scale must be finite and >= 0, got {self.guidance_scale!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")


@dataclass
class EvalReport:
    """The figures (one printed line each) and everything needed to reproduce them."""

    figures: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Return ``name: value`` lines, one per figure."""
        return [f"{name}: {value:.2f}" for name, value in self.figures.items()]

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON values."""
        return {"figures": self.figures, "timings_s": self.timings, **self.details}


def embed_images(
    scorer: EvalScorer, images: Sequence[Image.Image], batch_size: int
) -> NDArray[np.float32]:
    """Embed ``images`` in batches (one batch of all held-out images would not fit in RAM)."""
    parts = [
        scorer.embed_images(images[i : i + batch_size]).float().cpu().numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32)


def classify(scorer: EvalScorer, images: Sequence[Image.Image], batch_size: int) -> list[str]:
    """Classify the style of ``images`` in batches."""
    return [
        s
        for i in range(0, len(images), batch_size)
        for s in scorer.classify_styles(images[i : i + batch_size])
    ]


def scorer_figures(
    scorer: EvalScorer,
    items: Sequence[CorpusItem],
    images: Sequence[Image.Image],
    *,
    captions: Sequence[str] | None = None,
    batch_size: int = 128,
) -> dict[str, float]:
    """Text-to-image retrieval among all ``images`` by each caption; style accuracy.

    ``captions`` default to the items'; the evaluation passes the set's stored captions.
    """
    if len(items) != len(images) or not items:
        raise ValueError(f"got {len(items)} items for {len(images)} images; need one each")
    texts = [item.caption for item in items] if captions is None else list(captions)
    if len(texts) != len(items):
        raise ValueError(f"got {len(texts)} captions for {len(items)} items; need one each")
    image_vectors = embed_images(scorer, images, batch_size)
    text_vectors = scorer.embed_texts(texts).float().cpu().numpy()
    found = retrieval(text_vectors @ image_vectors.T, range(len(items)), ks=(1, 5))
    styles = classify(scorer, images, batch_size)
    return {
        "scorer text-to-image top-1": found[1],
        "scorer text-to-image top-5": found[5],
        "scorer style accuracy": match_rate(styles, [item.style for item in items]),
    }


def prompt_figures(
    scorer: EvalScorer,
    cases: Sequence[EvalPrompt],
    images: Sequence[Image.Image],
    *,
    label: str,
    batch_size: int = 128,
) -> dict[str, float]:
    """Rank each image against its prompt and distractors; rate of the asked style.

    The figures are named ``"<label> top-1"`` and ``"<label> style control"``.
    """
    if len(cases) != len(images) or not cases:
        raise ValueError(f"got {len(cases)} prompts for {len(images)} images; need one each")
    texts = sorted({text for case in cases for text in case.texts})
    row = {text: i for i, text in enumerate(texts)}
    text_vectors = scorer.embed_texts(texts).float().cpu().numpy()
    image_vectors = embed_images(scorer, images, batch_size)
    sims = np.stack(
        [
            text_vectors[[row[t] for t in case.texts]] @ image_vectors[i]
            for i, case in enumerate(cases)
        ]
    )
    styles = classify(scorer, images, batch_size)
    return {
        f"{label} top-1": retrieval(sims, [0] * len(cases), ks=(1,))[1],
        f"{label} style control": match_rate(styles, [case.style for case in cases]),
    }


def evaluate_models(
    *,
    items: Sequence[CorpusItem],
    corpus_dir: Path,
    eval_set: EvalSet,
    generator: ImageGenerator,
    scorer: EvalScorer,
    reference: ReferenceIndex,
    grid_path: Path,
    settings: EvalSettings | None = None,
    on_progress: ProgressFn | None = None,
) -> EvalReport:
    """Measure the scorer, then the generator text-to-image and reference-guided, on the set."""
    settings = settings or EvalSettings(num_distractors=eval_set.num_distractors)
    progress = on_progress or (lambda stage, done, total: None)
    report = EvalReport(details={"settings": asdict(settings)})
    # 1. Validate: the prompts, distractors and held-out renderings come from the set.
    if settings.prompts > len(eval_set.prompts):
        raise ValueError(
            f"prompts {settings.prompts} is more than the {len(eval_set.prompts)} of the "
            f"evaluation set {eval_set.label}"
        )
    if settings.num_distractors != eval_set.num_distractors:
        raise ValueError(
            f"the evaluation set {eval_set.label} has {eval_set.num_distractors} distractors per "
            f"prompt, not {settings.num_distractors}"
        )
    cases = list(eval_set.prompts[: settings.prompts])
    held_out = resolve_items(eval_set, items, eval_set.scorer_ids)

    # 2. Scorer: retrieval among all held-out renderings by the set's captions, style accuracy.
    started = time.perf_counter()
    captions = [eval_set.captions[item_id] for item_id in eval_set.scorer_ids]
    report.figures.update(
        scorer_figures(scorer, held_out, load_images(corpus_dir, held_out), captions=captions)
    )
    report.timings["scorer"] = time.perf_counter() - started
    progress("scorer", len(held_out), len(held_out))
    report.details["scorer_images"] = len(held_out)

    # 3. Text-to-image: the same seeds as step 4, so the two modes differ only in the start.
    started = time.perf_counter()
    total = len(cases)
    plain = generate(
        generator, cases, settings, on_batch=lambda done: progress("text-to-image", done, total)
    )
    report.timings["text-to-image"] = time.perf_counter() - started
    save_grid(plain[: settings.grid_size**2], grid_path, columns=settings.grid_size)
    report.figures.update(prompt_figures(scorer, cases, plain, label="generator text-to-image"))

    # 4. Reference-guided: start from the nearest indexed rendering, in the asked style if held.
    started = time.perf_counter()
    picks = [reference.nearest(case.caption, style=case.style)[0] for case in cases]
    guided = generate(
        generator,
        cases,
        settings,
        references=[pick.image for pick in picks],
        on_batch=lambda done: progress("reference-guided", done, total),
    )
    report.timings["reference-guided"] = time.perf_counter() - started
    report.figures.update(prompt_figures(scorer, cases, guided, label="generator reference-guided"))
    # The ceiling the scorer allows: the same ranking of each prompt's own held-out rendering.
    # A generator cannot score much above it, since the scorer misreads some real stickers too.
    own = load_images(corpus_dir, resolve_items(eval_set, items, [case.id for case in cases]))
    report.figures.update(prompt_figures(scorer, cases, own, label="ceiling own renderings"))
    # How often the start was in the asked style, and the same concept in another style: a
    # reference of the prompt's own concept makes top-1 easier, so the report says how often.
    report.figures["reference-guided start in asked style"] = match_rate(
        [p.style for p in picks], [c.style for c in cases]
    )
    report.figures["reference-guided start same concept"] = match_rate(
        [p.concept for p in picks], [c.concept for c in cases]
    )

    # 5. Colour words: does "a red apple" come out red (and "a blue apple" blue)?
    started = time.perf_counter()
    colour_cases_ = colour_cases()
    coloured = generate(generator, colour_cases_, settings)
    report.timings["colour prompts"] = time.perf_counter() - started
    report.figures.update(colour_figures(colour_cases_, coloured))
    progress("colour prompts", len(coloured), len(coloured))
    report.details.update(
        prompts=[
            {"id": c.id, "prompt": c.prompt, "seed": c.seed + settings.seed, "reference": p.id}
            for c, p in zip(cases, picks, strict=True)
        ],
        chance={"generator top-1": 1 / (1 + settings.num_distractors)},
        grid=str(grid_path),
    )
    return report
