"""Export the EMA weights of the latest checkpoints as the shipped model pack (fp16, <= 40 MB)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pmg_engine.models.minilm import HIDDEN_SIZE
from pmg_engine.models.scorer import ScorerConfig, ScorerModel, save_scorer
from pmg_engine.train.configs import build_unet, latent_size
from pmg_engine.train.export import export_pipeline, folder_size, write_card
from pmg_engine.train.loop import CHECKPOINT_NAME
from pmg_engine.train.scorer import SCORER_PRESETS

# Ship: the generator and the scorer together.
SIZE_LIMIT_BYTES = 40 * 1024 * 1024


@dataclass(frozen=True)
class Shipped:
    """Where each part went, at which step, and the bytes of the pack."""

    generator: Path | None
    scorer: Path | None
    steps: dict[str, int]
    total_bytes: int


def _checkpoint(part_dir: Path) -> dict[str, Any]:
    path = part_dir / "checkpoints" / CHECKPOINT_NAME
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return state


def export_generator(part_dir: Path, out_dir: Path) -> int:
    """Write the generator checkpoint's EMA UNet and its autoencoder as a pipeline folder."""
    from diffusers import AutoencoderKL

    state = _checkpoint(part_dir)
    task = state["task"]
    vae: Any = AutoencoderKL.from_pretrained(str(part_dir / "vae"))  # type: ignore[no-untyped-call]
    vae.register_to_config(scaling_factor=float(task["scaling_factor"]))
    unet = build_unet(task["preset"], sample_size=latent_size(vae), cross_attention_dim=HIDDEN_SIZE)
    unet.load_state_dict(state["ema"])
    export_pipeline(
        vae=vae,
        unet=unet,
        out_dir=out_dir,
        window=int(task["window"]),
        card={**task, "steps": int(state["step"])},
    )
    return int(state["step"])


def export_scorer(part_dir: Path, out_dir: Path) -> int:
    """Write the scorer checkpoint's EMA weights as ``config.json`` + fp16 safetensors."""
    state = _checkpoint(part_dir)
    ema = state["ema"]
    styles = state["task"].get("styles")
    if styles is None:
        raise ValueError(f"the scorer checkpoint in {part_dir} does not record its styles")
    config = ScorerConfig(widths=SCORER_PRESETS[state["task"]["preset"]], styles=tuple(styles))
    model = ScorerModel(config)
    model.load_state_dict(ema)
    save_scorer(model, out_dir)
    write_card(out_dir, {**state["task"], "steps": int(state["step"])})
    return int(state["step"])


def slim_part(part_dir: Path, out_dir: Path) -> Path:
    """Copy a part's folder with its checkpoint cut to the fp16 EMA weights, step and task.

    What ``export_generator`` / ``export_scorer`` read, at a fifth of the size: small enough
    to carry back from a GPU machine. Optimizer state is dropped, so training cannot resume
    from it; the exported pipeline (written with that machine's tokenizer copy) is left out.
    """
    import shutil

    state = _checkpoint(part_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(part_dir, out_dir, ignore=shutil.ignore_patterns("checkpoints", "pipeline"))
    slim = {
        "step": state["step"],
        "task": state["task"],
        "ema": {
            name: tensor.half() if tensor.is_floating_point() else tensor
            for name, tensor in state["ema"].items()
        },
    }
    target = out_dir / "checkpoints" / CHECKPOINT_NAME
    target.parent.mkdir(parents=True)
    torch.save(slim, target)
    return target


def ship(*, generator_dir: Path | None, scorer_dir: Path | None, out_dir: Path) -> Shipped:
    """Export whichever parts are given into ``out_dir/generator`` and ``out_dir/scorer``."""
    steps: dict[str, int] = {}
    generator = scorer = None
    if generator_dir is not None:
        generator = out_dir / "generator"
        steps["generator"] = export_generator(generator_dir, generator)
    if scorer_dir is not None:
        scorer = out_dir / "scorer"
        steps["scorer"] = export_scorer(scorer_dir, scorer)
    total = sum(folder_size(p) for p in (generator, scorer) if p is not None)
    return Shipped(generator=generator, scorer=scorer, steps=steps, total_bytes=total)
