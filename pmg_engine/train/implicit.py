"""Train the soft-prompt module (PAPER.md §3.2) with the frozen generator's denoising loss.

For a sample (history -> target), the soft tokens ``f(history)`` join the target's own text
tokens as the generator's condition ``[E(target keywords); soft]``, and the loss is the frozen
generator's noise-prediction loss on the target's latents (epsilon or v, whichever the
generator's scheduler predicts). Because the target's words are already in the condition, the
soft tokens can only lower the loss by carrying what the words miss: the user's look. The
paper's optional negative-item term, ``- w_neg * loss(other item, [E(other keywords); soft])``,
pushes them away from item-agnostic content; it is off unless ``negative_weight > 0``.

Everything frozen is computed once: the LLM's cache of each history (see the module docstring
of ``pmg_engine.implicit._soft_prompt``), the target texts' token states and the targets'
latents. A step then runs the N multimodal tokens through the LLM and the UNet.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from pmg_engine.implicit import HistoryLLM, HistoryState, SoftPromptConfig, SoftPromptModule
from pmg_engine.implicit._soft_prompt import load_module, save_module

logger = logging.getLogger(__name__)

# Where the look of a picture is decided. Measured on the shipped generator (64 val targets,
# fixed noise): the true style words lower the loss by 29 % at t = 950 and 5 % at t = 850, but
# raise it at t = 300-700, where the outline is already fixed. Uniform steps drown the taste's
# signal in noise, so training draws t from the last 30 % of the schedule by default.
HIGH_NOISE_FROM = 0.7

# <out>/best: the EMA module with the lowest validation loss so far, and best.json saying when.
# The module fits its 512 training users' phrasings within a few hundred steps; after that the
# val users' loss rises again (measured on the round-2 generator: 0.270 at step 400, 0.290 at
# 1,200), so the export is the best checkpoint, not the last.
BEST_DIR = "best"
BEST_RECORD = "best.json"


@dataclass(frozen=True)
class TrainingTarget:
    """One target: the words a request would give and the picture the user got or liked."""

    text: str
    image: Image.Image


@dataclass(frozen=True)
class TrainingUser:
    """A user's history lines (oldest first) and the targets that follow it."""

    user: str
    history: tuple[str, ...]
    targets: tuple[TrainingTarget, ...]
    styles: tuple[str, ...] = ()  # the looks the user likes, where known (synthetic users)


class ImplicitTask:
    """The ``pmg train implicit`` part for the shared loop (``pmg_engine.train.loop``)."""

    name = "implicit"

    def __init__(
        self,
        *,
        generator: Any,
        llm: HistoryLLM,
        users: Sequence[TrainingUser],
        val_users: Sequence[TrainingUser] = (),
        llm_name: str,
        out_dir: Path,
        num_prefix_tokens: int = 4,
        num_tokens: int = 4,
        negative_weight: float = 0.0,
        max_history_tokens: int = 160,
        timesteps: tuple[int, int] | None = None,
        output_norm: float | str | None = None,
        seed: int = 0,
    ) -> None:
        if not users:
            raise ValueError("training needs at least one user with a history and a target")
        if not 0 <= negative_weight < 1:
            raise ValueError(f"negative_weight must be in [0, 1), got {negative_weight}")
        pipe = generator.pipeline
        self.generator = generator
        self.unet: Any = pipe.unet.float().eval().requires_grad_(False)
        self.vae: Any = pipe.vae.float().eval().requires_grad_(False)
        self.encoder = generator.text_encoder
        self.llm = llm
        self.llm.max_history_tokens = max_history_tokens
        self.negative_weight = negative_weight
        self.out_dir = out_dir
        self.all_styles = sorted({s for u in [*users, *val_users] for s in u.styles})
        # 1. The trainable module, seeded from the LLM's own states of real words.
        config = SoftPromptConfig.for_llm(
            llm.model,
            llm=llm_name,
            text_width=self.encoder.hidden_size,
            text_space=self.encoder.model_id,
            num_prefix_tokens=num_prefix_tokens,
            num_tokens=num_tokens,
            max_history_tokens=max_history_tokens,
            output_norm=token_norm(self.encoder) if output_norm == "auto" else output_norm,
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.module = SoftPromptModule(config)
        llm.init_module(self.module)
        self.model: nn.Module = self.module
        # 2. The noise schedule the generator was trained with, for the forward process.
        from diffusers import DDPMScheduler

        self.scheduler: Any = DDPMScheduler.from_config(pipe.scheduler.config)  # type: ignore[no-untyped-call]
        self.prediction = str(self.scheduler.config.prediction_type)
        count = len(self.scheduler.alphas_cumprod)
        self.timesteps = timesteps or (int(count * HIGH_NOISE_FROM), count)
        if not 0 <= self.timesteps[0] < self.timesteps[1] <= count:
            raise ValueError(f"timesteps must be a range within [0, {count}], got {timesteps}")
        # 3. Frozen inputs, computed once: history caches, text tokens, latents.
        self.train = _Prepared.build(self, users)
        self.val = _Prepared.build(self, val_users) if val_users else None
        logger.info(
            "implicit: %d training users (%d targets), %d val users; module %d parameters; "
            "%s prediction",
            len(users),
            len(self.train.pairs),
            len(val_users),
            sum(p.numel() for p in self.module.parameters()),
            self.prediction,
        )

    def describe(self) -> dict[str, Any]:
        """Return the module's configuration and the data's size, stored in checkpoints."""
        return {
            **self.module.config.to_json(),
            "users": len(self.train.states),
            "pairs": len(self.train.pairs),
            "negative_weight": self.negative_weight,
            "timesteps": list(self.timesteps),
            "generator": _generator_name(self.generator.model_id),
        }

    def loss(
        self, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """Return the denoising loss of one batch of (history, target) pairs."""
        rows = torch.randint(len(self.train.pairs), (batch_size,), generator=generator)
        return self._loss(self.train, rows.tolist(), generator, device, self.module)

    def _loss(
        self,
        data: _Prepared,
        rows: Sequence[int],
        generator: torch.Generator,
        device: torch.device,
        module: SoftPromptModule,
        *,
        soft_scale: float = 1.0,
    ) -> torch.Tensor:
        users = [data.pairs[r][0] for r in rows]
        targets = [data.pairs[r][1] for r in rows]
        # 1. Soft tokens from each history (the only part with gradients).
        soft = self.llm.soft_tokens(module, [data.states[u] for u in users]).to(device)
        soft = soft * soft_scale
        # 2. The target's latents, noised at a random step.
        loss = self._denoise(data, targets, soft, generator, device)
        if self.negative_weight > 0 and module.training:
            others = torch.randint(len(data.texts), (len(rows),), generator=generator).tolist()
            negative = self._denoise(data, others, soft, generator, device)
            loss = loss - self.negative_weight * negative
        return loss

    def _denoise(
        self,
        data: _Prepared,
        targets: Sequence[int],
        soft: torch.Tensor,
        generator: torch.Generator,
        device: torch.device,
    ) -> torch.Tensor:
        index = torch.tensor(targets)
        mean, std = data.mean[index], data.std[index]
        x0 = (mean + std * torch.randn(mean.shape, generator=generator)) * data.scaling
        noise = torch.randn(x0.shape, generator=generator)
        low, high = self.timesteps
        steps = torch.randint(low, high, (len(targets),), generator=generator)
        noisy = self.scheduler.add_noise(x0, noise, steps)
        if self.prediction == "v_prediction":
            wanted = self.scheduler.get_velocity(x0, noise, steps)
        elif self.prediction == "epsilon":
            wanted = noise
        else:
            raise ValueError(f"unsupported prediction type {self.prediction!r}")
        # [E(target keywords); soft], the condition the engine builds at weight 1.
        cond = torch.cat([data.tokens[index].to(device), soft], dim=1)
        pred = self.unet(noisy.to(device), steps.to(device), encoder_hidden_states=cond).sample
        loss: torch.Tensor = (pred.float() - wanted.to(device)).pow(2).mean()
        return loss

    @torch.no_grad()
    def validation(
        self, module: nn.Module, *, batches: int = 8, batch_size: int = 16
    ) -> dict[str, float]:
        """Return the val users' loss with the soft tokens and with them zeroed (fixed noise)."""
        if self.val is None or not isinstance(module, SoftPromptModule):
            return {}
        figures = {}
        device = torch.device(next(self.unet.parameters()).device)
        count = min(len(self.val.pairs), batches * batch_size)
        for name, scale in (("val_loss", 1.0), ("val_loss_without_soft", 0.0)):
            generator = torch.Generator().manual_seed(1234)
            total = 0.0
            for start in range(0, count, batch_size):
                rows = list(range(start, min(start + batch_size, count)))
                total += float(
                    self._loss(self.val, rows, generator, device, module, soft_scale=scale)
                ) * len(rows)
            figures[name] = total / count
        return figures

    def on_checkpoint(self, step: int, ema_model: nn.Module) -> dict[str, float]:
        """Return the validation losses of the EMA module; keep it if it is the best so far."""
        figures = self.validation(ema_model)
        if isinstance(ema_model, SoftPromptModule):
            keep_best(self.out_dir / BEST_DIR, step, figures, ema_model)
        return figures

    def finish(self, step: int, ema_model: nn.Module) -> None:
        """Export the best EMA module by validation loss (the last without val users)."""
        if not isinstance(ema_model, SoftPromptModule):
            raise TypeError("the implicit task trains a SoftPromptModule")
        module = ema_model
        chosen: dict[str, Any] = {"selected_step": step}
        best = read_best(self.out_dir / BEST_DIR)
        if best is not None and best["step"] <= step:
            device = next(ema_model.parameters()).device
            module = load_module(self.out_dir / BEST_DIR).to(device).eval()
            chosen = {
                "selected_step": int(best["step"]),
                "selected_by": "lowest val_loss",
                **{f"selected_{k}": v for k, v in best.items() if k != "step"},
            }
            logger.info("implicit: exporting step %d of %d (lowest val loss)", best["step"], step)
        out = self.out_dir / "module"
        save_module(module, out)
        figures = self.fit_probe(module, out)
        (out / "training.json").write_text(
            json.dumps({**self.describe(), "steps": step, **chosen, **figures}, indent=2) + "\n",
            encoding="utf-8",
        )

    @torch.no_grad()
    def fit_probe(self, module: SoftPromptModule, out: Path) -> dict[str, float]:
        """Fit the style probe on the training users' tokens; report its val accuracy."""
        from pmg_engine.implicit import fit_style_probe
        from pmg_engine.implicit._probe import calibrate_probe, probe_accuracy, probe_nll

        if not all(self.train.styles) or not self.all_styles:
            return {}
        train_tokens = self._tokens(module, self.train)
        probe = fit_style_probe(train_tokens, self.train.styles, all_styles=self.all_styles)
        figures = {"probe_train_accuracy": probe_accuracy(probe, train_tokens, self.train.styles)}
        if self.val is not None and all(self.val.styles):
            val_tokens = self._tokens(module, self.val)
            figures["probe_val_accuracy"] = probe_accuracy(probe, val_tokens, self.val.styles)
            figures["probe_val_nll_uncalibrated"] = probe_nll(probe, val_tokens, self.val.styles)
            probe = calibrate_probe(probe, val_tokens, self.val.styles)
            figures["probe_val_nll"] = probe_nll(probe, val_tokens, self.val.styles)
            figures["probe_temperature"] = probe.temperature
        probe.save(out, figures=figures)
        logger.info("implicit: style probe %s", figures)
        return figures

    def _tokens(self, module: SoftPromptModule, data: _Prepared) -> list[torch.Tensor]:
        tokens: list[torch.Tensor] = []
        for start in range(0, len(data.states), 32):
            batch = data.states[start : start + 32]
            tokens.extend(self.llm.soft_tokens(module, batch).float().cpu())
        return tokens


@dataclass(eq=False)
class _Prepared:
    """Frozen inputs of a set of users: caches, target tokens and latents, (user, target) pairs."""

    states: list[HistoryState]
    styles: list[tuple[str, ...]]
    texts: list[str]
    tokens: torch.Tensor  # [targets, L, D]
    mean: torch.Tensor  # [targets, C, h, w]
    std: torch.Tensor
    scaling: float
    pairs: list[tuple[int, int]]

    @classmethod
    def build(cls, task: ImplicitTask, users: Sequence[TrainingUser]) -> _Prepared:
        from tqdm.auto import tqdm

        states: list[HistoryState] = []
        texts: list[str] = []
        images: list[Image.Image] = []
        pairs: list[tuple[int, int]] = []
        for user in tqdm(users, desc="history caches", unit="user", leave=False):
            states.append(task.llm.history_state(user.history).half())
            for target in user.targets:
                pairs.append((len(states) - 1, len(texts)))
                texts.append(target.text)
                images.append(target.image)
        tokens = _encode_texts(task.encoder, texts)
        mean, std = _encode_images(task.vae, images, task.generator.native_size)
        scaling = float(task.vae.config.scaling_factor)
        styles = [user.styles for user in users]
        return cls(states, styles, texts, tokens, mean, std, scaling, pairs)


def _generator_name(model_id: str) -> str:
    """Name the shipped generator as such, not by this machine's absolute path."""
    from pmg_engine.runtime import BUILTIN_GENERATOR

    if Path(model_id).resolve() == BUILTIN_GENERATOR.resolve():
        return "builtin (pmg_engine/assets/generator)"
    return model_id


def read_best(folder: Path) -> dict[str, Any] | None:
    """Return the record of the module kept in ``folder`` by ``keep_best``, if there is one."""
    record = folder / BEST_RECORD
    if not record.is_file():
        return None
    data: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
    return data


def keep_best(folder: Path, step: int, figures: dict[str, float], module: SoftPromptModule) -> bool:
    """Save ``module`` into ``folder`` when its ``val_loss`` is the lowest so far; say whether.

    A record from a step at or after ``step`` belongs to another run (a run's checkpoints only
    go forward, a restart from scratch goes back), so it is replaced.
    """
    if "val_loss" not in figures:
        return False
    best = read_best(folder)
    if best is not None and best["step"] < step and best["val_loss"] <= figures["val_loss"]:
        return False
    save_module(module, folder)
    (folder / BEST_RECORD).write_text(
        json.dumps({"step": step, **figures}, indent=2) + "\n", encoding="utf-8"
    )
    return True


def _encode_texts(encoder: Any, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    rows = []
    unique = sorted(set(texts))
    for start in range(0, len(unique), batch_size):
        encoded = encoder.encode(unique[start : start + batch_size]).tokens.float().cpu()
        rows.extend(encoded)
    # One chunk per text keeps every row the same length (targets are a few words).
    length = min(row.shape[0] for row in rows)
    by_text = {text: row[:length] for text, row in zip(unique, rows, strict=True)}
    return torch.stack([by_text[t] for t in texts])


@torch.no_grad()
def _encode_images(
    vae: Any, images: Sequence[Image.Image], size: tuple[int, int], batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    channels = int(vae.config.in_channels)
    pixels = np.stack([target_pixels(image, size, channels) for image in images])
    means, stds = [], []
    device = next(vae.parameters()).device
    for start in range(0, len(pixels), batch_size):
        batch = torch.from_numpy(pixels[start : start + batch_size]).to(device)
        posterior = vae.encode(batch).latent_dist
        means.append(posterior.mean.float().cpu())
        stds.append(posterior.std.float().cpu())
    return torch.cat(means), torch.cat(stds)


def target_pixels(image: Image.Image, size: tuple[int, int], channels: int) -> np.ndarray:
    """Return ``[C, H, W]`` float32 in [-1, 1] as the generator's autoencoder reads it."""
    rgba = image.convert("RGBA")
    if rgba.size != size:
        rgba = rgba.resize(size, Image.Resampling.LANCZOS)
    if channels == 4:
        array = np.asarray(rgba, dtype=np.uint8).copy()
        # Transparent pixels carry no colour (the own autoencoder was trained on black there).
        array[array[..., 3] == 0, :3] = 0
    else:
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        array = np.asarray(flat, dtype=np.uint8)
    return (array.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def token_norm(encoder: Any) -> float:
    """Return the median norm of the encoder's token states for a few plain requests."""
    texts = ["a cat face", "a red apple", "a rocket in the sky", "a happy dog with a ball"]
    tokens = encoder.encode(texts).tokens.float()
    return round(float(tokens.norm(dim=-1).median()), 2)


def synthetic_training_users(corpus_dir: Path, users: Sequence[Any]) -> list[TrainingUser]:
    """Turn ``SyntheticUser``s into training users with their target renderings (64 px)."""
    from pmg_engine.train.data import load_items

    splits = ("train", "style-heldout", "val", "test")
    items = {item.id: item for item in load_items(corpus_dir, splits)}
    out = []
    for user in users:
        targets = []
        for number, item_id in enumerate(user.targets):
            item = items[item_id]
            # What people type: the short label, or the caption with its tags (never style).
            text = item.label if number % 2 == 0 else item.caption
            path = corpus_dir / (item.paths.get(64) or next(iter(item.paths.values())))
            with Image.open(path) as image:
                targets.append(TrainingTarget(text=text, image=image.convert("RGBA")))
        out.append(
            TrainingUser(
                user=user.user,
                history=tuple(user.history),
                targets=tuple(targets),
                styles=tuple(user.styles),
            )
        )
    return out
