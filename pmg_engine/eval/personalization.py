"""``pmg eval personalization``: does a user's taste reach the picture while the request survives?

The paper's protocol (PAPER.md §5) on users whose taste is known: each method draws the same
target for the same user with the same seed, and the picture is compared with the user's history
(personalization) and with the target (accuracy).

Methods (DESIGN.md §1 steps 2-6):
- ``none``: the target alone, weight 0;
- ``keywords``: the target and the preference keywords;
- ``implicit-pooled``: the target and the pooled-encoder tokens (no training);
- ``implicit-trained``: the target and the trained soft-prompt tokens;
- ``pmg``: keywords + trained tokens over the weight grid at the user's weight, the candidate
  chosen by ``z`` (the product's own path); ``pmg-repeat`` is the same with the weight applied
  by repetition instead of scaling.

Metrics:
- ``style_match``: the scorer's style head puts the picture in one of the user's styles;
- ``history_similarity``: mean scorer image-image cosine to the user's history pictures;
- ``ssim`` / ``ms_ssim``: mean (MS-)SSIM to the history pictures (pytorch-msssim, on RGB
  composited on white and resized to 192 px, which MS-SSIM's five scales need);
- ``accuracy``: the scorer ranks the target's words first among them and 19 distractors;
- ``target_similarity``: scorer image-image cosine to the target's own rendering.
LPIPS needs a VGG or AlexNet backbone whose weights are not available offline: it is not
reported, and no other metric stands in for it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from pmg_engine.conditioning import (
    Conditioning,
    ConditionWeights,
    WeightMode,
    build_conditioning_grid,
    personalization_grid,
)
from pmg_engine.guidance import BUILTIN_GUIDANCE_SCALE
from pmg_engine.scoring.selection import score_candidates

if TYPE_CHECKING:
    from pmg_engine.generators.base import ImageGenerator
    from pmg_engine.implicit import ImplicitEmbedder
    from pmg_engine.keywords import PreferenceKeywordExtractor
    from pmg_engine.models.scorer import MiniScorer

METHODS = ("none", "keywords", "implicit-pooled", "implicit-trained", "pmg", "pmg-repeat")
HEADLINE = ("style_match", "history_similarity", "accuracy")
METRICS = (*HEADLINE, "target_similarity", "ssim", "ms_ssim", "combined")
LPIPS_NOTE = (
    "LPIPS: not reported (it needs VGG/AlexNet backbone weights, which are not available "
    "offline; no other metric is reported under its name)"
)
SWEEP_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
SSIM_SIZE = 192


@dataclass(frozen=True)
class EvalUser:
    """A user with a known taste: history lines and pictures, one target, expected styles."""

    user: str
    history: tuple[str, ...]
    target: str
    expect_styles: tuple[str, ...]
    history_images: tuple[Image.Image, ...] = ()
    target_image: Image.Image | None = None
    distractors: tuple[str, ...] = ()

    @property
    def seed(self) -> int:
        """The seed every method uses for this user."""
        return int(hashlib.sha256(self.user.encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class EvalOptions:
    """Sampling and selection settings shared by every method."""

    num_inference_steps: int = 20
    guidance_scale: float = BUILTIN_GUIDANCE_SCALE
    personalization_weight: float = 2 / 3
    grid: tuple[float, ...] = (0.5, 1.0, 1.5)
    batch_size: int = 16
    sweep: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.personalization_weight <= 1:
            raise ValueError(
                f"personalization_weight must be in [0, 1], got {self.personalization_weight}"
            )
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")


@dataclass
class PersonalizationReport:
    """Per-method figures, the weight sweep and what each method drew."""

    methods: dict[str, dict[str, float]]
    users: int
    sweep: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    images: dict[str, list[Image.Image]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return ``{"methods": {name: {metric: x}}, "users": n, "sweep": [...]}``."""
        return {
            "methods": {k: {m: round(v, 4) for m, v in f.items()} for k, f in self.methods.items()},
            "users": self.users,
            "sweep": self.sweep,
            "notes": self.notes,
        }

    def markdown(self) -> str:
        """Return the figures as a markdown table, one row per method."""
        head = "| method | " + " | ".join(METRICS) + " |"
        rule = "|---|" + "---:|" * len(METRICS)
        rows = [
            f"| {name} | "
            + " | ".join(f"{figures.get(m, float('nan')):.3f}" for m in METRICS)
            + " |"
            for name, figures in self.methods.items()
        ]
        return "\n".join([head, rule, *rows])

    def write_csv(self, path: Path) -> None:
        """Write one row per method with every metric."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["method", *METRICS, "users"])
            for name, figures in self.methods.items():
                writer.writerow(
                    [name, *(f"{figures.get(m, float('nan')):.4f}" for m in METRICS), self.users]
                )

    def plot(self, path: Path) -> None:
        """Plot accuracy against style match as the weight goes 0 -> 1 (the sweep)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path.parent.mkdir(parents=True, exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        xs = [row["weight"] for row in self.sweep]
        for ax, metric, label in (
            (axes[0], "style_match", "style match (personalization)"),
            (axes[1], "history_similarity", "history similarity (personalization)"),
        ):
            ax.plot(
                [row[metric] for row in self.sweep], [row["accuracy"] for row in self.sweep], "o-"
            )
            for x, row in zip(xs, self.sweep, strict=True):
                ax.annotate(f"w={x:g}", (row[metric], row["accuracy"]), fontsize=8)
            ax.set_xlabel(label)
            ax.set_ylabel("accuracy (top-1 of 20)")
            ax.grid(alpha=0.3)
        fig.suptitle(f"pmg as the personalization weight goes 0 -> 1 ({self.users} users)")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


class _Encoded:
    """Scorer embeddings and SSIM tensors of a user's reference pictures, computed once."""

    def __init__(self, scorer: MiniScorer, user: EvalUser) -> None:
        self.history = (
            scorer.embed_images(list(user.history_images)) if user.history_images else None
        )
        self.history_pixels = (
            _ssim_pixels(list(user.history_images)) if user.history_images else None
        )
        self.target = (
            scorer.embed_images([user.target_image]) if user.target_image is not None else None
        )
        self.texts = scorer.embed_texts([user.target, *user.distractors])


def evaluate_personalization(
    users: Sequence[EvalUser],
    *,
    generator: ImageGenerator,
    scorer: MiniScorer,
    keywords: PreferenceKeywordExtractor,
    pooled: ImplicitEmbedder,
    trained: ImplicitEmbedder | None,
    options: EvalOptions,
    methods: Sequence[str] = METHODS,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> PersonalizationReport:
    """Draw every method for every user with the same seed and measure the pictures."""
    if not users:
        raise ValueError("no users to evaluate")
    progress = on_progress or (lambda *_: None)
    notes = [LPIPS_NOTE]
    if trained is None:
        methods = [m for m in methods if m not in ("implicit-trained", "pmg", "pmg-repeat")]
        notes.append("no trained soft-prompt module: implicit-trained and pmg are not reported")
    # 1. What each user's history gives: keywords and both kinds of implicit tokens.
    prepared = []
    for number, user in enumerate(users):
        progress("history", number, len(users))
        preference = keywords.extract(lines=list(user.history), previous_keywords=[]).keywords
        prepared.append(
            _Prepared(
                user=user,
                preference_text=", ".join(preference),
                pooled=pooled.embed(list(user.history)),
                trained=trained.embed(list(user.history)) if trained is not None else None,
                encoded=_Encoded(scorer, user),
            )
        )
    # 2. Each method's picture per user.
    report = PersonalizationReport(methods={}, users=len(users), notes=notes)
    encoder = generator.text_encoder
    for method in methods:
        progress(method, 0, len(users))
        images = _draw(method, prepared, generator, scorer, encoder, options)
        report.images[method] = images
        report.methods[method] = _measure(scorer, prepared, images)
    # 3. The weight sweep of pmg: accuracy against personalization as the weight goes 0 -> 1.
    if options.sweep and trained is not None:
        for weight in SWEEP_WEIGHTS:
            progress(f"sweep w={weight:g}", 0, len(users))
            swept = EvalOptions(**{**options.__dict__, "personalization_weight": weight})
            images = _draw("pmg", prepared, generator, scorer, encoder, swept)
            report.sweep.append({"weight": weight, **_measure(scorer, prepared, images)})
    return report


@dataclass(frozen=True, eq=False)
class _Prepared:
    user: EvalUser
    preference_text: str
    pooled: torch.Tensor
    trained: torch.Tensor | None
    encoded: _Encoded


def _conditioning_rows(
    method: str, item: _Prepared, encoder: Any, options: EvalOptions
) -> Conditioning:
    target = item.user.target

    def one(
        preference: str, implicit: torch.Tensor | None, grid: list[ConditionWeights]
    ) -> Conditioning:
        return build_conditioning_grid(
            encoder=encoder,
            target_text=target,
            preference_text=preference,
            implicit=implicit,
            weights_grid=grid,
        )

    if method == "none":
        return one("", None, [ConditionWeights(implicit=0.0, preference=0.0)])
    if method == "keywords":
        return one(item.preference_text, None, [ConditionWeights(implicit=0.0)])
    if method == "implicit-pooled":
        return one("", item.pooled, [ConditionWeights(preference=0.0)])
    if method == "implicit-trained":
        return one("", item.trained, [ConditionWeights(preference=0.0)])
    mode: WeightMode = "repeat" if method == "pmg-repeat" else "scale"
    grid = personalization_grid(
        personalization_weight=options.personalization_weight, grid=options.grid, mode=mode
    )
    implicit = item.trained if options.personalization_weight > 0 else None
    preference = item.preference_text if options.personalization_weight > 0 else ""
    if preference == "" and implicit is None:
        # No taste to balance (weight 0): one plain candidate, the same picture as "none".
        grid = [ConditionWeights(implicit=0.0, preference=0.0)]
    return one(preference, implicit, grid)


def _draw(
    method: str,
    prepared: Sequence[_Prepared],
    generator: ImageGenerator,
    scorer: MiniScorer,
    encoder: Any,
    options: EvalOptions,
) -> list[Image.Image]:
    # Every user's rows, each with the user's seed (candidate i of pmg gets seed + i, as the
    # service does), generated in padded batches.
    rows: list[tuple[int, Conditioning, int]] = []
    for index, item in enumerate(prepared):
        conditioning = _conditioning_rows(method, item, encoder, options)
        for candidate in range(conditioning.batch_size):
            single = Conditioning(
                prompt_embeds=conditioning.prompt_embeds[candidate : candidate + 1],
                negative_prompt_embeds=conditioning.negative_prompt_embeds[
                    candidate : candidate + 1
                ],
            )
            rows.append((index, single, (item.user.seed + candidate) % 2**63))
    images: list[Image.Image] = []
    for start in range(0, len(rows), options.batch_size):
        batch = rows[start : start + options.batch_size]
        images += generator.generate(
            _pad_stack([c for _, c, _ in batch]),
            seeds=[seed for _, _, seed in batch],
            num_inference_steps=options.num_inference_steps,
            guidance_scale=options.guidance_scale,
        )
    # One picture per user: the only one, or the candidate z selects.
    chosen: list[Image.Image] = []
    for index, item in enumerate(prepared):
        candidates = [img for (i, _, _), img in zip(rows, images, strict=True) if i == index]
        if len(candidates) == 1:
            chosen.append(candidates[0])
            continue
        has_taste = options.personalization_weight > 0 and bool(item.preference_text)
        selection = score_candidates(
            scorer,
            candidates,
            target_text=item.user.target,
            preference_text=item.preference_text if has_taste else "",
            personalization_weight=options.personalization_weight,
        )
        chosen.append(candidates[selection.chosen_index])
    return chosen


def _pad_stack(rows: Sequence[Conditioning]) -> Conditioning:
    length = max(c.sequence_length for c in rows)

    def padded(tensor: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(tensor, (0, 0, 0, length - tensor.shape[1]))

    return Conditioning(
        prompt_embeds=torch.cat([padded(c.prompt_embeds) for c in rows]),
        negative_prompt_embeds=torch.cat([padded(c.negative_prompt_embeds) for c in rows]),
    )


def _measure(
    scorer: MiniScorer, prepared: Sequence[_Prepared], images: Sequence[Image.Image]
) -> dict[str, float]:
    styles = scorer.classify_styles(list(images))
    embeds = scorer.embed_images(list(images))
    pixels = _ssim_pixels(list(images))
    from pytorch_msssim import ms_ssim, ssim

    sums: dict[str, list[float]] = {m: [] for m in METRICS if m != "combined"}
    for row, item in enumerate(prepared):
        enc = item.encoded
        sums["style_match"].append(float(styles[row] in item.user.expect_styles))
        texts = enc.texts
        similarity = (embeds[row : row + 1] @ texts.T)[0]
        sums["accuracy"].append(float(int(similarity.argmax()) == 0))
        if enc.history is not None and enc.history_pixels is not None:
            sums["history_similarity"].append(float((embeds[row] @ enc.history.T).mean()))
            repeated = pixels[row : row + 1].expand(enc.history_pixels.shape[0], -1, -1, -1)
            sums["ssim"].append(float(ssim(repeated, enc.history_pixels, data_range=1.0).mean()))
            sums["ms_ssim"].append(
                float(ms_ssim(repeated, enc.history_pixels, data_range=1.0).mean())
            )
        if enc.target is not None:
            sums["target_similarity"].append(float(embeds[row] @ enc.target[0]))
    figures = {m: float(np.mean(v)) if v else float("nan") for m, v in sums.items()}
    # One number for "taste shown while the request survives": the mean of the two rates.
    figures["combined"] = (figures["style_match"] + figures["accuracy"]) / 2
    return figures


def _ssim_pixels(images: Sequence[Image.Image]) -> torch.Tensor:
    rows = []
    for image in images:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        flat = flat.resize((SSIM_SIZE, SSIM_SIZE), Image.Resampling.BICUBIC)
        rows.append(np.asarray(flat, dtype=np.float32) / 255.0)
    return torch.from_numpy(np.stack(rows)).permute(0, 3, 1, 2).contiguous()


# -- users ----------------------------------------------------------------------------------


def synthetic_eval_users(
    corpus_dir: Path,
    *,
    count: int,
    split: str = "test",
    user_ids: int = 1000,
    num_distractors: int = 19,
) -> list[EvalUser]:
    """Return held-out synthetic users (``split`` test or val), one target each, with pictures."""
    from pmg_engine.implicit.users import UserSplit, build_users
    from pmg_engine.train.data import load_items

    items = load_items(corpus_dir, ("train", "style-heldout", "val", "test"))
    by_id = {item.id: item for item in items}
    chosen: UserSplit = "val" if split == "val" else "test"
    synthetic = build_users(items, count=user_ids, splits=(chosen,))
    labels = sorted({item.label for item in items if item.concept_split == split})
    users = []
    for user in synthetic[:count]:
        target = by_id[user.targets[0]]
        rng = random.Random(user.user)
        pool = [label for label in labels if label != target.label]
        users.append(
            EvalUser(
                user=user.user,
                history=user.history,
                target=target.label,
                expect_styles=user.styles,
                history_images=tuple(_picture(corpus_dir, by_id[i]) for i in user.history_items),
                target_image=_picture(corpus_dir, target),
                distractors=tuple(rng.sample(pool, min(num_distractors, len(pool)))),
            )
        )
    return users


def file_users(
    path: Path, corpus_dir: Path, *, num_distractors: int = 19, references: int = 8
) -> list[EvalUser]:
    """Read ``--users`` JSONL: ``{"user", "history", "target", "expect_styles"}`` per line.

    Their history has no pictures, so personalization is measured against ``references``
    corpus renderings in the expected styles (train split, a fixed sample per user).
    """
    from pmg_engine.train.data import load_items

    items = load_items(corpus_dir, ("train",))
    styles = {item.style for item in items}
    labels = sorted({item.label for item in items})
    users = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            user, history = str(data["user"]), [str(h) for h in data["history"]]
            target, expect = str(data["target"]), [str(s) for s in data["expect_styles"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path} line {number}: expected a JSON object with user, history, target and "
                f"expect_styles ({exc})"
            ) from exc
        unknown = sorted(set(expect) - styles)
        if unknown or not expect or not history or not target.strip():
            raise ValueError(
                f"{path} line {number}: needs a history, a target and expect_styles among "
                f"{sorted(styles)} (unknown: {unknown})"
            )
        rng = random.Random(user)
        pool = sorted((i for i in items if i.style in expect), key=lambda i: i.id)
        sample = rng.sample(pool, min(references, len(pool)))
        distractors = rng.sample([x for x in labels if x != target], num_distractors)
        users.append(
            EvalUser(
                user=user,
                history=tuple(history),
                target=target,
                expect_styles=tuple(expect),
                history_images=tuple(_picture(corpus_dir, i) for i in sample),
                distractors=tuple(distractors),
            )
        )
    return users


def _picture(corpus_dir: Path, item: Any) -> Image.Image:
    path = corpus_dir / (item.paths.get(64) or next(iter(item.paths.values())))
    with Image.open(path) as image:
        return image.convert("RGBA")
